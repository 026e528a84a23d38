"""bench/live.py's four measurements: edit to answer, reload, edits, the rejected design."""

from __future__ import annotations

import math
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from testkit import programs
from testkit.dnsperf import Dnsperf, Load, Window
from testkit.procfs import sched_seconds

from .live_server import LOAD_CORE, SERVE_CORE, LiveServer, Share, Watch
from .live_zone import LiveZone

ROOT = Path(__file__).resolve().parent.parent


def live_load(port: int, queries: Path, seconds: float, pinned: bool, rate: int | None = None,
              verbose: bool = False) -> Load:
    """`dnsperf -c 4 -l SECONDS -S 1 [-Q RATE] [-v]` on the load core: the -S 1 lines split
    the per-query lines (-v) into the seconds they fell in."""
    return Load(port, queries, seconds, clients=4, rate=rate, every_second=True,
                verbose=verbose, cpus=str(LOAD_CORE) if pinned else None)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p99 of fewer than 100 values is the largest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


@dataclass
class Latency:
    """Per-query latencies of dnsperf's queries answered inside one time window."""

    answered: int
    lost: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, window: Window) -> Latency:
        ms = [s * 1000 for s in window.latencies]
        return cls(len(ms), window.lost, percentile(ms, 50), percentile(ms, 99),
                   max(ms, default=math.nan))


# -- 1. visibility --------------------------------------------------------------------------

@dataclass
class Visibility:
    records: int
    edits: int = 0
    delays_ms: list[float] = field(default_factory=list)
    by_mode_ms: dict[str, list[float]] = field(default_factory=dict)
    write_ms: list[float] = field(default_factory=list)
    missed: int = 0  # edits never seen within the timeout
    glitches: int = 0


def bench_visibility(server: LiveServer, zone: LiveZone, edits: int, budget: float,
                     timeout: float) -> Visibility:
    result = Visibility(zone.records)
    watch = Watch(server.port, f"probe.{zone.origin}")
    started = time.perf_counter()
    last_delay = 0.0
    for n in range(edits):
        if n and time.perf_counter() - started + last_delay > budget:
            break
        edit = zone.serial + 1
        how = "replace" if n % 2 == 0 else "inplace"
        before = time.perf_counter()
        zone.write(edit, how)
        written = time.perf_counter()
        seen = watch.until(LiveZone.address(edit), LiveZone.address(edit - 1), timeout,
                           server.check_alive)
        result.edits += 1
        result.write_ms.append((written - before) * 1000)
        if seen is None:
            result.missed += 1
            print(f"  {zone.records} records: edit {edit} ({how}) not seen after {timeout}s",
                  flush=True)
            break
        last_delay = seen - written
        result.delays_ms.append(last_delay * 1000)
        result.by_mode_ms.setdefault(how, []).append(last_delay * 1000)
        if zone.records >= 100_000:
            print(f"  {zone.records} records: edit {n + 1} ({how}) seen after "
                  f"{last_delay:.2f}s", flush=True)
        time.sleep(0.02)  # keep edits apart: each one is a separate change
    result.glitches = watch.glitches
    watch.prober.close()
    return result


# -- 2. queries during a reload ------------------------------------------------------------

@dataclass
class ReloadRun:
    records: int
    rate: int | None  # dnsperf's -Q, or None for as fast as it goes
    reload_seconds: float  # from the write to the first answer showing the new content
    quiet: Latency
    during: Latency
    quiet_qps: float | None
    during_qps: float | None
    quiet_server: Share
    during_server: Share
    dnsperf_qps: float
    dnsperf_sent: int
    dnsperf_lost: int
    glitches: int


def bench_reload(server: LiveServer, zone: LiveZone, qfile: Path, quiet_seconds: float,
                 pinned: bool, timeout: float, rate: int | None, out: Path) -> ReloadRun:
    """dnsperf all along: a window without a reload, then one reload of `zone`."""
    server.check_alive()
    perf = Dnsperf(live_load(server.port, qfile, timeout + quiet_seconds + 10, pinned, rate,
                             verbose=rate is not None), out)
    watch = Watch(server.port, f"probe.{zone.origin}", interval=0.01)
    time.sleep(1.0)  # dnsperf is up
    cpu0, quiet_start = sched_seconds(server.proc.pid), time.time()
    time.sleep(quiet_seconds)
    cpu1, quiet_end = sched_seconds(server.proc.pid), time.time()
    edit = zone.serial + 1
    zone.write(edit, "replace")
    written, reload_start = time.perf_counter(), time.time()
    seen = watch.until(LiveZone.address(edit), LiveZone.address(edit - 1), timeout,
                       server.check_alive)
    cpu2, reload_end = sched_seconds(server.proc.pid), time.time()
    result = perf.stop().checked()
    watch.prober.close()
    if seen is None:
        raise RuntimeError(f"reload of {zone.origin} not seen after {timeout}s")
    quiet, during = result.window(quiet_start, quiet_end), result.window(reload_start, reload_end)
    return ReloadRun(
        zone.records, rate, seen - written,
        Latency.of(quiet), Latency.of(during), quiet.qps, during.qps,
        Share.between(cpu0, cpu1, quiet_end - quiet_start),
        Share.between(cpu1, cpu2, reload_end - reload_start), result.qps, result.sent,
        result.lost, watch.glitches)


# -- 3. throughput with a zone rewritten every 100 ms ----------------------------------------

@dataclass
class EditRun:
    edited: bool
    qps: float
    lost: int
    avg_latency_ms: float
    server: Share
    loads: int  # versions the server loaded during the run
    writes: int


def bench_edits(server: LiveServer, zone: LiveZone, qfile: Path, seconds: float, edited: bool,
                pinned: bool, out: Path, interval: float = 0.1) -> EditRun:
    loads_before = server.loads(zone.origin)
    stop = threading.Event()
    writes = 0

    def rewrite() -> None:
        nonlocal writes
        next_at = time.perf_counter()
        while not stop.is_set():
            zone.write(zone.serial + 1, "replace")
            writes += 1
            next_at += interval
            stop.wait(max(next_at - time.perf_counter(), 0))

    editor = threading.Thread(target=rewrite)
    server.check_alive()
    cpu0, start = sched_seconds(server.proc.pid), time.perf_counter()
    perf = Dnsperf(live_load(server.port, qfile, seconds, pinned), out)
    if edited:
        editor.start()
    result = perf.result().checked()
    cpu1, end = sched_seconds(server.proc.pid), time.perf_counter()
    stop.set()
    if edited:
        editor.join()
    time.sleep(0.5)  # the last edit's load
    return EditRun(edited, result.qps, result.lost, result.mean_ms,
                   Share.between(cpu0, cpu1, end - start), server.loads(zone.origin) - loads_before,
                   writes)


# -- 4. the rejected design: the parse in a thread of the serving process ---------------------

@dataclass
class RejectedRun:
    records: int
    rate: int
    quiet: Latency
    parsing: Latency
    quiet_qps: float | None
    parsing_qps: float | None
    window_seconds: float
    parse_done: str  # the responder's "parsed N records in S s", if it finished in time


def bench_rejected(data: Path, zone: LiveZone, qfile: Path, quiet_seconds: float,
                   parse_seconds: float, pinned: bool, rate: int, out: Path) -> RejectedRun:
    """The rejected design (bench/live_rejected.py) under a fixed rate: before, then while
    it parses the zone in a thread of its serving process."""
    args = programs.pinned(str(SERVE_CORE) if pinned else None, [
        sys.executable, "-m", "bench.live_rejected", str(data), str(zone.path), zone.origin])
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        port = int(proc.stdout.readline().split()[1])  # its line "port N"
        perf = Dnsperf(live_load(port, qfile, quiet_seconds + parse_seconds + 10, pinned, rate,
                                 verbose=True), out)
        time.sleep(1.0)
        quiet_start = time.time()
        time.sleep(quiet_seconds)
        quiet_end = time.time()
        proc.stdin.write("parse\n")
        proc.stdin.flush()
        proc.stdout.readline()  # "parsing"
        parse_start = time.time()
        done = ""
        if select.select([proc.stdout], [], [], parse_seconds)[0]:
            done = proc.stdout.readline().strip()  # "parsed N records in S s"
        parse_end = time.time()
        result = perf.stop().checked()
    finally:
        proc.kill()
        proc.wait()
    quiet, parsing = result.window(quiet_start, quiet_end), result.window(parse_start, parse_end)
    return RejectedRun(zone.records, rate, Latency.of(quiet), Latency.of(parsing), quiet.qps,
                       parsing.qps, parse_end - parse_start, done)
