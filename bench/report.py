"""The report of a throughput run: markdown tables as in docs/PERFORMANCE.md, and --write."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

from testkit.procfs import cpu_model

from .options import Options
from .querymix import Mix
from .results import Findings, Row
from .servers import SERVERS

PEERS = ("NSD", "Knot", "BIND")
METRICS_ON = "dnsbackend+metrics"  # bench.servers.DnsBackendMetrics


def median_rows(rows: list[Row]) -> list[Row]:
    """One row per (server, mix, mode, workers): the round with the median queries/s."""
    groups: dict[tuple[str, str, str, int], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.server, r.mix, r.mode, r.workers), []).append(r)
    out = []
    for group in groups.values():
        ok = sorted((r for r in group if r.ok), key=lambda r: r.qps)
        if not ok:
            out.append(group[0])
            continue
        best = ok[(len(ok) - 1) // 2]
        if len(group) > 1:
            best.note = "q/s of rounds: " + ", ".join(
                f"{r.qps:,.0f}" if r.ok else "failed" for r in group)
        out.append(best)
    return out


def fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def ratio_cell(all_rows: list[Row], mix: str, mode: str, workers: int, peer: str,
               per_cpu: bool = False) -> str:
    """dnsbackend's q/s (or queries per CPU second) over the peer's, each round on its own;
    the median of the rounds."""
    def qps(server: str, round_no: int) -> float:
        for r in all_rows:
            if (r.server, r.mix, r.mode, r.workers, r.round) == (server, mix, mode, workers,
                                                                   round_no):
                if not r.ok:
                    return 0.0
                return r.per_cpu_s if per_cpu else r.qps
        return 0.0

    rounds = sorted({r.round for r in all_rows})
    ratios = [qps("dnsbackend", k) / qps(peer, k) for k in rounds
              if qps(peer, k) and qps("dnsbackend", k)]
    if not ratios:
        return "-"
    median = sorted(ratios)[(len(ratios) - 1) // 2]
    if len(rounds) == 1:
        return f"{median:.2f}"
    return f"{median:.2f} ({', '.join(f'{x:.2f}' for x in ratios)})"


def _heading(versions: dict[str, str], opts: Options, mixes: dict[str, Mix]) -> list[str]:
    """When and where, the versions, how dnsperf was run."""
    out = [f"Measured {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')} on "
           f"{platform.node() or 'this machine'}: {os.cpu_count()} cores ({cpu_model()}), "
           f"Linux {platform.release()}.", ""]
    out += [f"- {name}: {v}" for name, v in versions.items()]
    out += ["", f"dnsperf -B -c {opts.clients} -T 1 -q {opts.outstanding}, {opts.seconds:g} s "
            f"per run after a {opts.warmup:g} s warm-up; mixes: "
            + ", ".join(f"{m.name} ({m.count} queries)" for m in mixes.values()), ""]
    return out


def _table(rows: list[Row], all_rows: list[Row], opts: Options) -> list[str]:
    """The main table, then every round's q/s where there were several."""
    out = ["| server | mix | mode | workers | q/s | lost | mean ms | p99 ms | q per CPU s "
           "| memory MiB | load | CPU s beside | s after ready |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.perf is None or r.perf.error:
            out.append(f"| {r.server} | {r.mix} | {r.mode} | {r.workers} | "
                       f"{r.note or 'failed'} | | | | | | | | |")
            continue
        p = r.perf
        out.append(f"| {r.server} | {r.mix} | {r.mode} | {r.workers} | {p.qps:,.0f} | "
                   f"{p.lost} | {fmt(p.mean_ms)} | {fmt(r.p99_ms)} | {r.per_cpu_s:,.0f} | "
                   f"{r.pss_mib:.1f} | {r.load:.1f} | {r.background_cpu_s:.2f} | "
                   f"{r.after_ready_s:.1f} |")
    spread = [r for r in rows if r.note.startswith("q/s of rounds")]
    if spread:
        out += ["", f"Median of {opts.rounds} rounds; every round's q/s (and CPU s beside "
                "serving):", ""]
        out += [f"- {r.server} {r.mix} {r.mode} {r.workers}w: {r.note[15:]}"
                f" ({_beside_by_round(all_rows, r)})" for r in spread]
    out += ["", "CPU s beside: CPU seconds, during the timed run, of the server's processes "
            "that do not hold its UDP socket (our writers, fork server and their children; "
            "the peers' helper processes), which run on the serving cores: work of the "
            "server's start (our writers' warm read) shows here. s after ready: from the "
            "server answering every zone to the start of the timed run (each round starts "
            "the server afresh)."]
    return out


def _beside_by_round(all_rows: list[Row], median: Row) -> str:
    """The CPU seconds beside serving of each round of a median row's group."""
    return ", ".join(f"{r.background_cpu_s:.2f}" for r in all_rows
                     if (r.server, r.mix, r.mode, r.workers) ==
                     (median.server, median.mix, median.mode, median.workers))


def _ratios(all_rows: list[Row], rows: list[Row], opts: Options) -> list[str]:
    """dnsbackend against each peer: by queries/s, then by queries per CPU second."""
    out = ["", "Ratio of dnsbackend's queries/s to each peer's, measured in the same round"
           + (" (median of the rounds, then each round's)" if opts.rounds > 1 else "") + ":",
           "", "| mix | mode | workers | " + " | ".join(f"/ {s}" for s in PEERS)
           + " |", "|---|---|---:|---:|---:|---:|"]
    ours = sorted({(r.mix, r.mode, r.workers) for r in rows if r.server == "dnsbackend"},
                  key=lambda k: (k[2], k[0], k[1]))
    for mix, mode, workers in ours:
        cells = [ratio_cell(all_rows, mix, mode, workers, peer) for peer in PEERS]
        out.append(f"| {mix} | {mode} | {workers} | " + " | ".join(cells) + " |")
    out += ["", "The same ratio for answered queries per second of server CPU time (user + "
            "system, all the server's processes and threads), which other load on the "
            "machine disturbs much less than queries/s:", "",
            "| mix | mode | workers | " + " | ".join(f"/ {s}" for s in PEERS) + " |",
            "|---|---|---:|---:|---:|---:|"]
    for mix, mode, workers in ours:
        cells = [ratio_cell(all_rows, mix, mode, workers, peer, True) for peer in PEERS]
        out.append(f"| {mix} | {mode} | {workers} | " + " | ".join(cells) + " |")
    return out + _metrics_cost(all_rows, ours)


def _metrics_cost(all_rows: list[Row], ours: list[tuple[str, str, int]]) -> list[str]:
    """With `--servers dnsbackend,dnsbackend+metrics`: queries/s with the metrics on, as a
    ratio to off, in the same round."""
    if not any(r.server == METRICS_ON for r in all_rows):
        return []
    out = ["", "Queries/s with the metrics and rate limiting on (dnsbackend+metrics: a limit "
           "of 1,000,000 responses/s, never reached) over both off (dnsbackend), in the same "
           "round:", "", "| mix | mode | workers | on / off |", "|---|---|---:|---:|"]
    for mix, mode, workers in ours:
        off_over_on = ratio_cell(all_rows, mix, mode, workers, METRICS_ON)
        cell = off_over_on if off_over_on == "-" else \
            f"{1 / float(off_over_on.split(' ')[0]):.3f}"
        out.append(f"| {mix} | {mode} | {workers} | {cell} |")
    return out


def _findings(found: Findings, opts: Options, mixes: dict[str, Mix]) -> list[str]:
    """Load average note, load times, the answer comparison, the notes."""
    out = ["", "load: the 1-minute load average of the machine right after the timed run "
           "(2 means both cores busy; this machine is shared, so other work competes)."]
    out += ["", "Seconds from start until every zone answered its SOA: "
            + ", ".join(f"{k} {v:.1f}" for k, v in found.load_times.items()) + "."]
    checked = sum(len(m.check) for m in mixes.values())
    ref = next(iter(opts.servers))
    mismatches = found.mismatches
    out += ["", f"Answers compared before timing ({checked} questions, each server against "
            f"{SERVERS[ref]().name}; rcode, AA, answer section, NS or SOA in authority): "
            + ("all agree." if not mismatches else
               "; ".join(f"{s} differs on {len(v)}" for s, v in mismatches.items()) + ".")]
    for s, items in mismatches.items():
        for item in items[:5]:
            out.append(f"    - {s}: {item}")
    for note in dict.fromkeys(found.notes):
        out.append(f"\n{note}")
    return out


def render(all_rows: list[Row], versions: dict[str, str], found: Findings, opts: Options,
           mixes: dict[str, Mix]) -> str:
    """The whole report, in markdown."""
    rows = median_rows(all_rows)
    return "\n".join(_heading(versions, opts, mixes) + _table(rows, all_rows, opts)
                     + _ratios(all_rows, rows, opts) + _findings(found, opts, mixes))


def write_doc(path: Path, report: str) -> None:
    """Replace the measured block in the doc (between the markers) with this report."""
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    text = path.read_text() if path.exists() else f"{begin}\n{end}\n"
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{report}\n{end}{tail}")
