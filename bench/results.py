"""What a compare.py run finds: rows of figures, and answer differences, load times, notes.

One row per server, mix, mode, worker count and round.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from testkit.dnsperf import PerfResult


@dataclass
class Row:
    server: str
    mix: str
    mode: str
    workers: int
    perf: PerfResult | None  # the throughput run; None when the server was not measured
    pss_mib: float = 0.0
    note: str = ""
    round: int = 1
    load: float = 0.0  # the machine's 1-minute load average right after the timed run
    cpu_s: float = 0.0  # CPU time the server used during the throughput run
    p99_ms: float | None = None  # from the latency run (dnsperf -v)
    # CPU time, during the throughput run, of the server's processes that do not serve the
    # port (writers, fork server, their children; a peer's helpers): work beside serving
    background_cpu_s: float = 0.0
    after_ready_s: float = 0.0  # from the server answering every zone to the run's start

    @property
    def ok(self) -> bool:
        """Whether it was measured."""
        return self.perf is not None and not self.perf.error

    @property
    def qps(self) -> float:
        return self.perf.qps if self.perf is not None and not self.perf.error else 0.0

    @property
    def per_cpu_s(self) -> float:
        """Answered queries per second of server CPU time: less sensitive to other load."""
        if self.perf is None or not self.cpu_s:
            return 0.0
        return (self.perf.sent - self.perf.lost) / self.cpu_s


@dataclass
class Findings:
    """Everything a run learns besides the rows: answer differences, load times, notes."""

    reference: dict[str, list[tuple[object, ...]]] = field(default_factory=dict)
    mismatches: dict[str, list[str]] = field(default_factory=dict)
    load_times: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    profiled: bool = False  # py-spy runs once, in the first round
