"""Charts the benchmarks draw of their own figures (PNG, matplotlib): load time by zone next
to the peers (bench/bigzone.py), edit-to-visible latency by zone size (bench/edits.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Bars:
    """One bar of each group: a server's seconds for each zone (None: no figure)."""

    label: str
    values: list[float | None]


@dataclass
class Line:
    """A line of points (x, y); `dashed` or `dotted` for other statistics of a series."""

    label: str
    points: list[tuple[float, float]]
    dashed: bool = False
    dotted: bool = False
    series: int = 0  # lines of one series share a colour

    @property
    def style(self) -> str:
        return ":" if self.dotted else "--" if self.dashed else "-"


def _pyplot() -> Any:
    """matplotlib's pyplot, drawing to files only (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def grouped_bars(path: str | Path, title: str, groups: list[str],
                 panels: list[tuple[str, list[Bars]]]) -> None:
    """Panels side by side, each a bar per series in each group (the zones), with its
    value written above it."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.4), squeeze=False)
    for ax, (ylabel, series) in zip(axes[0], panels, strict=True):
        width = 0.8 / max(len(series), 1)
        for i, bars in enumerate(series):
            xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
            shown = [(x, v) for x, v in zip(xs, bars.values, strict=True) if v is not None]
            drawn = ax.bar([x for x, _ in shown], [v for _, v in shown], width,
                           label=bars.label)
            ax.bar_label(drawn, labels=[f"{v:.1f}" for _, v in shown], fontsize=7)
        ax.set_xticks(range(len(groups)), groups)
        _label(ax, "", ylabel, "y")
    fig.suptitle(title)
    _save(plt, fig, path)


def line_chart(path: str | Path, title: str, xlabel: str, ylabel: str, series: list[Line],
          goal: tuple[float, str] | None = None) -> None:
    """Lines on log-log axes (zone sizes span decades), with a horizontal goal line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    for line in series:
        if line.points:
            ax.plot([x for x, _ in line.points], [y for _, y in line.points], marker="o",
                    linestyle=line.style, color=f"C{line.series % 10}", label=line.label)
    if goal is not None:
        ax.axhline(goal[0], color="grey", linestyle=":", label=goal[1])
    ax.set_xscale("log")
    ax.set_yscale("log")
    _label(ax, xlabel, ylabel, "both")
    ax.set_title(title)
    _save(plt, fig, path)


def _label(ax: Any, xlabel: str, ylabel: str, grid: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(axis=grid, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def _save(plt: Any, fig: Any, path: str | Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
