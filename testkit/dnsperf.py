"""dnsperf: one way to run it (in the foreground or the background) and one parser of its output.

    result = run(Load(port, queries, seconds=10, binary=True, mode="udp"), out)
    perf = Dnsperf(Load(port, queries, seconds=60, rate=10_000, every_second=True,
                        verbose=True), out)
    ...
    result = perf.stop()  # SIGINT: dnsperf stops and prints its statistics

dnsperf's standard output goes to the file `out`, its standard error to `out` + ".err".
The parser reads, from that output:

- the statistics dnsperf prints at the end (queries sent, lost, per second, the mean and
  largest latency, the response codes);
- with `-v` (verbose), one line per query as it completes: `> NOERROR <query> 0.000123`
  (latency in seconds) for an answer, `> T <query>` for a query that timed out;
- with `-S 1` (every_second), a line `<epoch time>: <queries per second>` at the end of
  each second; the per-query lines before it fell in that second.
"""

from __future__ import annotations

import array
import math
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import programs


def available() -> bool:
    """Whether dnsperf is installed."""
    return programs.find("dnsperf") is not None


def version() -> str:
    """`dnsperf 2.10.0`, from its help text."""
    out = subprocess.run([programs.require("dnsperf"), "-h"], capture_output=True, text=True)
    m = re.search(r"Version\s+(\S+)", out.stdout + out.stderr)
    return f"dnsperf {m.group(1)}" if m else "dnsperf ?"


def _number(x: float) -> str:
    """An option's value: whole numbers without a decimal point."""
    return str(int(x)) if x == int(x) else repr(x)


@dataclass(frozen=True)
class Load:
    """One dnsperf run's options (each None or False is left out of the command)."""

    port: int
    queries: Path  # -d: the input file
    seconds: float  # -l: run this long at most
    binary: bool = False  # -B: the input holds wire messages, each behind a 2-byte length
    mode: str | None = None  # -m: udp or tcp
    clients: int = 4  # -c: sockets (TCP connections)
    threads: int | None = None  # -T
    outstanding: int | None = None  # -q: queries in flight at most
    timeout: float | None = None  # -t: seconds before a query counts as lost
    rate: int | None = None  # -Q: queries per second at most
    every_second: bool = False  # -S 1: print the queries per second of each second
    verbose: bool = False  # -v: print every query as it completes
    cpus: str | None = None  # run it under taskset -c CPUS
    server: str = "127.0.0.1"  # -s

    def command(self) -> list[str]:
        """The command line, options in this order: -s -p -d -B -m -c -T -q -l -t -S -Q -v."""
        cmd = [programs.require("dnsperf"), "-s", self.server, "-p", str(self.port),
               "-d", str(self.queries)]
        if self.binary:
            cmd.append("-B")
        if self.mode is not None:
            cmd += ["-m", self.mode]
        cmd += ["-c", str(self.clients)]
        if self.threads is not None:
            cmd += ["-T", str(self.threads)]
        if self.outstanding is not None:
            cmd += ["-q", str(self.outstanding)]
        cmd += ["-l", _number(self.seconds)]
        if self.timeout is not None:
            cmd += ["-t", _number(self.timeout)]
        if self.every_second:
            cmd += ["-S", "1"]
        if self.rate:
            cmd += ["-Q", str(self.rate)]
        if self.verbose:
            cmd.append("-v")
        return programs.pinned(self.cpus, cmd)


@dataclass
class Second:
    """One second of a run with -S 1: the line that ends it, and which of the run's
    per-query lines (-v) fell in it."""

    end: float  # epoch time dnsperf printed at the end of the second
    qps: float
    first: int  # index of its first answered query in PerfResult.latencies
    last: int  # one past its last
    lost: int  # its queries that timed out


@dataclass
class Window:
    """The queries of the whole seconds inside a span of time."""

    latencies: list[float]  # seconds, of the answered queries
    lost: int
    qps: float | None  # mean of the seconds' queries per second; None if no whole second


@dataclass
class PerfResult:
    """What one dnsperf run reported; `error` is set (and the figures are 0) if it failed."""

    qps: float = 0.0
    sent: int = 0
    lost: int = 0
    mean_ms: float = math.nan
    max_ms: float = math.nan
    rcodes: str = ""  # dnsperf's "Response codes:" line
    error: str = ""
    latencies: array.array[float] = field(default_factory=lambda: array.array("d"))
    timed_out: int = 0  # per-query lines (-v) of queries that timed out
    seconds: list[Second] = field(default_factory=list)  # with -S 1

    @property
    def answered(self) -> int:
        return self.sent - self.lost

    def percentiles_ms(self, *ps: float) -> list[float | None]:
        """From the per-query lines (-v): for each p, the latency at rank floor(p * n) of the
        n queries sent, sorted, timed-out ones ranked after every answer; None where that
        rank is a timed-out query, or without -v."""
        total = len(self.latencies) + self.timed_out
        if not total:
            return [None for _ in ps]
        ordered = sorted(self.latencies)
        ranks = [min(total - 1, int(p * total)) for p in ps]
        return [ordered[k] * 1000 if k < len(ordered) else None for k in ranks]

    def window(self, start: float, end: float) -> Window:
        """The whole seconds (-S 1) that lie in [start, end] (epoch times)."""
        inside = [s for s in self.seconds if start + 1 <= s.end <= end]
        return Window([x for s in inside for x in self.latencies[s.first:s.last]],
                      sum(s.lost for s in inside),
                      sum(s.qps for s in inside) / len(inside) if inside else None)

    def checked(self) -> PerfResult:
        """Itself; RuntimeError if the run failed."""
        if self.error:
            raise RuntimeError(f"dnsperf failed: {self.error}")
        return self


_PER_SECOND = re.compile(rb"^(\d{9,}\.\d+): ([\d.]+)$")
_LATENCY = re.compile(r"Average Latency \(s\):\s+([0-9.]+)(?: \(min [0-9.]+, max ([0-9.]+)\))?")


def parse(out: Path, returncode: int) -> PerfResult:
    """Read one run's output (see the module's docstring)."""
    res = PerfResult()
    summary = _read_lines(out, res)
    err = out.with_name(out.name + ".err")
    stderr = err.read_text(errors="replace").strip() if err.exists() else ""
    if returncode != 0 or "Queries per second" not in summary:
        res.error = (stderr or summary.strip())[-300:]
        return res
    res.qps = _stat(summary, "Queries per second")
    res.sent = int(_stat(summary, "Queries sent"))
    res.lost = int(_stat(summary, "Queries lost"))
    m = _LATENCY.search(summary)
    if m:
        res.mean_ms = float(m.group(1)) * 1000
        res.max_ms = float(m.group(2)) * 1000 if m.group(2) else math.nan
    m = re.search(r"Response codes:\s+(.*)", summary)
    res.rcodes = m.group(1).strip() if m else ""
    return res


def _read_lines(out: Path, res: PerfResult) -> str:
    """Put the per-query and per-second lines into `res`; return the other lines."""
    others: list[str] = []
    first = lost = 0
    with open(out, "rb") as f:
        for line in f:
            if line.startswith(b"> "):
                if line.startswith(b"> T "):
                    lost += 1
                    continue
                try:
                    res.latencies.append(float(line.rsplit(None, 1)[1]))
                except (ValueError, IndexError):
                    lost += 1  # not dnsperf's answer line: not an answer
                continue
            m = _PER_SECOND.match(line.rstrip(b"\n"))
            if m:
                res.seconds.append(Second(float(m.group(1)), float(m.group(2)), first,
                                          len(res.latencies), lost))
                res.timed_out += lost
                first, lost = len(res.latencies), 0
                continue
            others.append(line.decode(errors="replace"))
    res.timed_out += lost
    return "".join(others)


def _stat(text: str, label: str) -> float:
    m = re.search(rf"{re.escape(label)}:\s+([0-9.]+)", text)
    return float(m.group(1)) if m else 0.0


class Dnsperf:
    """dnsperf started in the background; stop() or result() waits for it and parses."""

    def __init__(self, load: Load, out: Path) -> None:
        self.load = load
        self.out = out
        with open(out, "wb") as stdout, open(out.with_name(out.name + ".err"), "wb") as stderr:
            self.proc = subprocess.Popen(load.command(), stdout=stdout, stderr=stderr)

    def stop(self) -> PerfResult:
        """Interrupt it (it stops and prints its statistics) and parse its output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.result()

    def result(self) -> PerfResult:
        """Wait until it ends by itself, then parse its output."""
        self.proc.wait()
        return parse(self.out, self.proc.returncode)

    def output(self) -> str:
        """What it printed so far, standard output then standard error."""
        err = self.out.with_name(self.out.name + ".err")
        return self.out.read_text(errors="replace") + (
            err.read_text(errors="replace") if err.exists() else "")


def run(load: Load, out: Path) -> PerfResult:
    """Run dnsperf in the foreground and parse what it printed."""
    return Dnsperf(load, out).result()
