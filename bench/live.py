"""Live-update benchmarks: edit-to-answer delay, queries during a big reload, qps under edits.

Run from the repository root (about 20 minutes with the 1,000,000-record zone):

    .venv/bin/python -m bench.live [--sizes 10,10000,1000000] [--edits 100] [--budget 600]

It starts the real server (`dnsbackend serve`) on a kernel-chosen port of 127.0.0.1 (which
it reports with --port-file) and measures, in one run:

1. visibility: the time from a zone file's write (complete: after os.replace, or after the
   in-place rewrite is closed) to the first answer that shows the new content, polled
   with a raw UDP socket and a prebuilt question every millisecond; edits alternate
   between the two ways of writing. The changed record is the file's last line, so an
   answer only counts once the whole file was read; an answer showing neither the old nor
   the new value (a half-written file served) is counted as a glitch.
2. reload: dnsperf against the biggest zone all along, first for a window without a
   reload, then while that zone reloads (from the write until a prober, polling every
   10 ms, sees the new content). Once at a fixed rate (-Q) with `-v`, whose per-query
   latencies are split into seconds by the `-S 1` lines printed in the same stream, so
   p50/p99 are taken over exactly those windows; once unlimited, for queries per second.
   `srv cpu` is the share of the window the serving process's threads spent on a CPU,
   `srv wait` the share its main (serving) thread was runnable but waiting for its core
   (other work on the same core); `us/q` is the process's CPU time per answered query,
   which waiting does not inflate.
3. edits: dnsperf (unlimited) against a small zone rewritten every 100 ms, as a ratio to
   the same run without edits (runs alternate: quiet, edited, quiet, edited); also the
   same ratio from the serving process's CPU time per query (its capacity), which does
   not depend on how much CPU the load generator and the writers left it.
4. the rejected design, for contrast: an asyncio responder (uvloop, answers with
   dnsbackend.query.engine.answer from the same store) that parses the biggest zone with
   `build_zone` in a thread of its own process, so the parse holds the GIL; measured
   like 2 (fixed rate, -v latencies) before and during the parse.

With two or more cores the serving process runs on core 0; its writer processes, dnsperf
and the probers run on core 1 (a parse must run somewhere: the point of the design is
that it is not in the serving process).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .live_measure import (
    EditRun,
    ReloadRun,
    Visibility,
    bench_edits,
    bench_rejected,
    bench_reload,
    bench_visibility,
)
from .live_report import report
from .live_server import LOAD_CORE, LiveServer, pin, wait_served, wait_watching
from .live_zone import LiveZone, query_file


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.live",
                                description="Live-update benchmarks (see the module docstring).")
    p.add_argument("--sizes", default="10,10000,1000000",
                   help="zone sizes (records) for the visibility benchmark")
    p.add_argument("--edits", type=int, default=100, help="edits per zone size")
    p.add_argument("--budget", type=float, default=600,
                   help="seconds at most spent on the edits of one zone size")
    p.add_argument("--timeout", type=float, default=900,
                   help="seconds to wait for one edit to show up before calling it missed")
    p.add_argument("--load-seconds", type=float, default=20,
                   help="length of each dnsperf run of the edit benchmark, and of the "
                   "windows without a reload")
    p.add_argument("--rate", type=int, default=10_000,
                   help="dnsperf -Q for the latency measurements")
    p.add_argument("--contrast-seconds", type=float, default=120,
                   help="how long at most to measure the rejected design while it parses")
    p.add_argument("--work", default="/tmp/dnsbackend-bench-live", help="scratch directory")
    p.add_argument("--json", help="also write the figures as JSON to this file")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    return p


@dataclass(frozen=True)
class Plan:
    """How long and how hard parts 1 to 3 measure (from the options)."""

    edits: int  # per zone size
    budget: float  # seconds at most for the edits of one zone size
    timeout: float  # seconds for one edit to show up
    load_seconds: float  # each dnsperf run of part 3, each window without a reload
    rate: int  # dnsperf -Q of the latency runs


def scratch(work: Path) -> tuple[Path, Path]:
    """The zones and store directories under `work`, emptied."""
    zones_dir, data_dir = work / "zones", work / "db"
    for d in (zones_dir, data_dir):
        d.mkdir(parents=True, exist_ok=True)
    for old in [*zones_dir.iterdir(), *data_dir.glob("*/*")]:
        old.unlink()
    return zones_dir, data_dir


def with_server(plan: Plan, zones: list[LiveZone], small: LiveZone,
                queries: tuple[Path, Path], work: Path, pinned: bool) -> tuple[
                    list[Visibility], list[ReloadRun], list[EditRun]]:
    """Parts 1 to 3, against our server started on the zones; `queries`: dnsperf's input
    for the biggest zone and for the small one."""
    biggest = max(zones, key=lambda z: z.records)
    big_queries, small_queries = queries
    started = time.perf_counter()
    server = LiveServer(work / "zones", work / "db", pinned)
    vis: list[Visibility] = []
    reloads: list[ReloadRun] = []
    edit_runs: list[EditRun] = []
    try:
        wait_served(server.port, [*zones, small], plan.timeout, server.check_alive)
        print(f"server up on port {server.port}, all zones served after "
              f"{time.perf_counter() - started:.1f}s", flush=True)
        tries = wait_watching(server, small)
        print(f"zone watcher running (edits it took to see one: {tries})", flush=True)
        for zone in zones:
            print(f"1. visibility, {zone.records:,} records", flush=True)
            vis.append(bench_visibility(server, zone, plan.edits, plan.budget, plan.timeout))
        for rate in (plan.rate, None):
            print(f"2. queries during a reload of {biggest.records:,} records "
                  f"(dnsperf {f'-Q {rate}' if rate else 'unlimited'})", flush=True)
            reloads.append(bench_reload(server, biggest, big_queries, plan.load_seconds,
                                        pinned, plan.timeout, rate, work / "dnsperf.out"))
        print("3. qps with a zone rewritten every 100 ms", flush=True)
        for edited in (False, True, False, True):
            edit_runs.append(bench_edits(server, small, small_queries, plan.load_seconds,
                                         edited, pinned, work / "dnsperf.out"))
        server.check_alive()
    finally:
        server.stop()
    return vis, reloads, edit_runs


def main() -> int:
    args = parser().parse_args()
    pinned = not args.no_pin and (os.cpu_count() or 1) >= 2
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(args.work)
    zones_dir, data_dir = scratch(work)
    if pinned:
        pin(0, LOAD_CORE)  # this process probes: it belongs with the load generator
    load_at_start = os.getloadavg()

    print(f"generating zones of {sizes} records", flush=True)
    zones = [LiveZone(zones_dir, f"z{n}.live.test", n) for n in sizes]
    small = LiveZone(zones_dir, "edited.live.test", 10)
    for zone in [*zones, small]:
        zone.write(1, "replace")
    biggest = max(zones, key=lambda z: z.records)
    big_queries = query_file(work / "big.queries", biggest.names(10_000))
    small_queries = query_file(work / "small.queries", small.names(10))
    plan = Plan(args.edits, args.budget, args.timeout, args.load_seconds, args.rate)
    vis, reloads, edit_runs = with_server(plan, zones, small, (big_queries, small_queries),
                                          work, pinned)
    print("4. the rejected design (parse in a thread of the serving process)", flush=True)
    rejected = bench_rejected(data_dir, biggest, big_queries, args.load_seconds,
                              args.contrast_seconds, pinned, args.rate, work / "dnsperf.out")

    placement = ("serving process on core 0; writers, dnsperf and probers on core 1"
                 if pinned else "not pinned")
    print()
    print(f"# bench/live.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores, {placement}; load average at start "
          f"{load_at_start[0]:.1f}, at end {os.getloadavg()[0]:.1f}")
    for line in report(vis, reloads, edit_runs, rejected):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "visibility": [asdict(v) for v in vis],
            "reloads": [asdict(r) for r in reloads],
            "edits": [asdict(e) for e in edit_runs],
            "rejected": asdict(rejected)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
