"""What one edit costs: edit-to-visible, the logged load time, bytes written, store growth.

Run from the repository root:

    .venv/bin/python -m bench.edits [--sizes 10,10000,1000000] [--edits 10] [--tree DIR]
                                    [--shapes one,append,scattered] [--label NAME]
                                    [--json OUT] [--chart PNG]

For each size, a zone of that many records (bench/live.py's LiveZone: below 14 records an
SOA, an NS, its address and `hN A 10.0.x.y` hosts; from 14 on testkit.zones.generate's
realistic mix; the last line always `probe A 172.x.y.z`) is written, our server started
on it alone (a store of its own) and waited for until it serves it. Then `--edits` edits,
each made as `sed -i` makes one: the whole file written to a temporary file, renamed over
the zone file. Three shapes of edit (`--shapes`, bench/live_zone.py), each on a server of
its own: `one`, the SOA serial raised by one and the probe's address changed (two owners
change: the apex and `probe`); `append`, a line appended and nothing else (`probe A` with
a new address: the serial policy serves the next serial); `scattered`, as `one` plus 100
host addresses changed at places spread over the zone. One more edit before them warms up
(the watcher, the writer that remembers the zone's nodes and text) and is not counted. For
each edit:

- edit-to-visible: from the rename to the first answer showing the new address, polled
  over UDP every 2 ms (bench/live_server.py's Watch: a question built with dnspython,
  sent on a raw socket);
- the load time the server logs (`zone X loaded: serial N, R records, 1.234s (version V)`):
  the writer's parse and build of the file;
- bytes written: the sum over the server's child processes (its writers) of the growth of
  `wchar` in /proc/PID/io, from before the rename until after the load was logged.

And per size, the store's size on disk (allocated blocks of zones/data.mdb and
catalog/data.mdb) before the first counted edit and after the last.

`--chart PNG` also draws edit-to-visible p50 and p99 by zone size, a line per edit shape
(bench/charts.py), with the issue's goal of 500 ms.

`--tree DIR` runs the server from another checkout (e.g. `git worktree add /tmp/before
5364468`): `PYTHON -m dnsbackend serve` with PYTHONPATH=DIR, from the work directory, so
that DIR's package is imported (checked before starting); compiled modules are used if DIR
has them, else it runs as pure Python (the report says which).

With two or more cores and taskset installed, the serving process runs on core 0, its
writer processes and this process (the prober) on core 1, as in bench/live.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dnsbackend.update.jobs import WARM_RECORDS
from testkit import programs

from .charts import Line, line_chart
from .edits_server import EditServer, Tree, store_bytes
from .live import scratch
from .live_measure import percentile
from .live_report import fmt
from .live_server import LOAD_CORE, Watch, pin, wait_served
from .live_zone import GEN_ZONE_MINIMUM, SCATTERED, SHAPES, LiveZone

ROOT = Path(__file__).resolve().parent.parent
PROBE_INTERVAL = 0.002  # seconds between probes: leaves the cores to the server
WARMED = "for their next edits"  # logged once the writers have read the big zones at start
LOADED = (r"zone {} loaded: serial (\d+), (\d+) records, ([0-9.]+)s \(version (\d+)\)"
          r"(?:, ([^\n]*))?")  # and how the file was read (`12 lines re-read`)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.edits",
                                description="What one edit costs (see the module docstring).")
    p.add_argument("--sizes", default="10,10000,1000000", help="zone sizes (records)")
    p.add_argument("--edits", type=int, default=10, help="counted edits per zone size")
    p.add_argument("--shapes", default=",".join(SHAPES),
                   help="edit shapes, each on a server of its own: one, append, scattered")
    p.add_argument("--tree", help="run the server from this checkout (default: this one)")
    p.add_argument("--python", default=sys.executable,
                   help="the interpreter that runs --tree's server (default: this one)")
    p.add_argument("--label", help="what to call the tree in the report")
    p.add_argument("--json", help="also write the figures as JSON to this file")
    p.add_argument("--chart", metavar="PNG", help="also draw edit-to-visible by zone size "
                   "into this file (e.g. docs/big-zones-edits.png)")
    p.add_argument("--timeout", type=float, default=900,
                   help="seconds to wait for a zone to be served or an edit to be visible")
    p.add_argument("--work", default="/tmp/dnsbackend-bench-edits", help="scratch directory")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    return p


@dataclass
class Edit:
    """One edit's figures."""

    visible_ms: float  # rename to the first answer showing it
    load_s: float  # the load time the server logged
    written: int  # bytes the writer processes wrote
    serial: int
    version: int
    read: str  # how the server says it read the file: `12 lines re-read`, `file read in full`


@dataclass
class SizeRun:
    """One zone size: its counted edits and the store around them."""

    records: int
    shape: str  # what each edit changes (bench/live_zone.py SHAPES)
    look: str  # what the zone's records are
    served_s: float  # start of the server to the zone served
    edits: list[Edit] = field(default_factory=list)
    store_before: int = 0
    store_after: int = 0
    missed: int = 0  # edits not visible within the timeout (the run of the size stops)
    glitches: int = 0  # answers showing neither the old nor the new address
    restart_s: float | None = None  # the server stopped, started again: until served
    after_restart: Edit | None = None  # the first edit after that restart


def describe(zone: LiveZone) -> str:
    if zone.records < GEN_ZONE_MINIMUM:
        return "SOA, NS, `ns1 A`, `hN A 10.0.x.y`, `probe A`"
    return "testkit.zones mix (A/AAAA, CNAME, MX, TXT, SRV, NS+glue+DS, wildcards), `probe A`"


def loaded_lines(server: EditServer, origin: str) -> list[tuple[str, ...]]:
    """(serial, records, seconds, version, how read) of each load of `origin` logged so far."""
    return re.findall(LOADED.format(re.escape(origin)), server.output())


def wait_loaded(server: EditServer, origin: str, count: int, timeout: float) -> tuple[str, ...]:
    """The first load of `origin` logged after the `count` already logged."""
    deadline = time.perf_counter() + timeout
    while True:
        lines = loaded_lines(server, origin)
        if len(lines) > count:
            return lines[count]
        if time.perf_counter() > deadline:
            raise RuntimeError(f"no load of {origin} logged after {timeout}s")
        server.check_alive()
        time.sleep(0.005)


def one_edit(server: EditServer, zone: LiveZone, watch: Watch, timeout: float) -> Edit | None:
    """Make one edit and measure it; None if it did not become visible in time."""
    server.pin_writers()
    loads = len(loaded_lines(server, zone.origin))
    before = server.writers_wchar()
    edit = zone.serial + 1
    zone.write(edit, "replace")
    renamed = time.perf_counter()
    seen = watch.until(LiveZone.address(edit), LiveZone.address(edit - 1), timeout,
                       server.check_alive)
    if seen is None:
        return None
    serial, _, seconds, version, read = wait_loaded(server, zone.origin, loads, timeout)
    return Edit((seen - renamed) * 1000, float(seconds), server.written_since(before),
                int(serial), int(version), read or "?")


def bench_size(records: int, shape: str, work: Path, edits: int, timeout: float,
               pinned: bool, tree: Tree | None) -> SizeRun:
    zones_dir, data_dir = scratch(work / f"n{records}-{shape}")
    zone = LiveZone(zones_dir, f"z{records}.edits.test", records)
    zone.shape, zone.first = shape, 1
    zone.write(1, "replace")
    started = time.perf_counter()
    server = EditServer(zones_dir, data_dir, pinned, tree)
    try:
        wait_served(server.port, [zone], timeout, server.check_alive)
        run = SizeRun(zone.records, shape, describe(zone), time.perf_counter() - started)
        print(f"{zone.records:,} records, {shape} edits: served after {run.served_s:.1f}s",
              flush=True)
        watch = Watch(server.port, f"probe.{zone.origin}", PROBE_INTERVAL)
        for n in range(edits + 1):  # the first one warms up
            if n == 1:
                run.store_before = store_bytes(data_dir)
            result = one_edit(server, zone, watch, timeout)
            if result is None:
                run.missed += 1
                print(f"  edit {n}: not visible after {timeout}s", flush=True)
                break
            print(f"  edit {n}{' (warm-up)' if n == 0 else ''}: visible after "
                  f"{result.visible_ms:.1f} ms, load {result.load_s:.3f}s logged "
                  f"({result.read}), {result.written:,} bytes written", flush=True)
            if n:
                run.edits.append(result)
            time.sleep(0.05)  # keep edits apart
        run.store_after = store_bytes(data_dir)
        run.glitches = watch.glitches
        watch.prober.close()
        server.check_alive()
    finally:
        server.stop()
    if not run.missed:
        restart(run, zone, zones_dir, data_dir, pinned, tree, timeout)
    return run


def restart(run: SizeRun, zone: LiveZone, zones_dir: Path, data_dir: Path, pinned: bool,
            tree: Tree | None, timeout: float) -> None:
    """Start the server again on the same files and store: the seconds until it serves the
    zone, then (once it has started: its start-up sync said the zone is served from the
    store, and its writers have read a large zone's file for the next edits) the first
    edit after the restart."""
    started = time.perf_counter()
    server = EditServer(zones_dir, data_dir, pinned, tree)
    try:
        wait_served(server.port, [zone], timeout, server.check_alive)
        run.restart_s = time.perf_counter() - started
        deadline = time.perf_counter() + min(timeout, 120)
        waits = [f"zone {zone.origin} serving serial"] + (
            [WARMED] if zone.records >= WARM_RECORDS else [])
        while any(w not in server.output() for w in waits) and time.perf_counter() < deadline:
            server.check_alive()
            time.sleep(0.02)
        watch = Watch(server.port, f"probe.{zone.origin}", PROBE_INTERVAL)
        run.after_restart = done = one_edit(server, zone, watch, timeout)
        watch.prober.close()
    finally:
        server.stop()
    print(f"  restart: served after {run.restart_s:.2f}s; first edit visible after "
          f"{'-' if done is None else f'{done.visible_ms:.1f} ms ({done.read})'}", flush=True)


def size(n: float) -> str:
    """Bytes, in the unit that suits them."""
    for unit in ("B", "KiB", "MiB"):
        if abs(n) < 1024:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.2f} GiB"


def table(runs: list[SizeRun]) -> list[str]:
    lines = ["| records | edit | look | edits | visible p50 ms | visible p99 ms | load s (logged, "
             "median) | written per edit, median | written, max | store before | store "
             "growth | missed | glitches | restart s | first edit after it, ms |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        visible = [e.visible_ms for e in r.edits]
        written = [float(e.written) for e in r.edits]
        after = r.after_restart
        lines.append(
            f"| {r.records:,} | {r.shape} | {r.look} | {len(r.edits)} "
            f"| {fmt(percentile(visible, 50))} "
            f"| {fmt(percentile(visible, 99))} "
            f"| {fmt(percentile([e.load_s for e in r.edits], 50), 3)} "
            f"| {size(percentile(written, 50)) if written else '-'} "
            f"| {size(max(written)) if written else '-'} | {size(r.store_before)} "
            f"| {size(r.store_after - r.store_before)} | {r.missed} | {r.glitches} "
            f"| {'-' if r.restart_s is None else f'{r.restart_s:.2f}'} "
            f"| {'-' if after is None else f'{after.visible_ms:,.1f} ({after.read})'} |")
    return lines


def chart(path: str, runs: list[SizeRun], name: str) -> None:
    """Edit-to-visible p50 (solid) and p99 (dashed) by zone size, a line per shape."""
    series = []
    for n, shape in enumerate(dict.fromkeys(r.shape for r in runs)):
        mine = [r for r in runs if r.shape == shape and r.edits]
        for q, dashed in ((50, False), (99, True)):
            series.append(Line(f"{shape}, p{q}", [(r.records, percentile(
                [e.visible_ms for e in r.edits], q)) for r in mine], dashed, series=n))
        series.append(Line(f"{shape}, first edit after a restart", [
            (r.records, r.after_restart.visible_ms) for r in mine if r.after_restart],
            dotted=True, series=n))
    line_chart(path, f"Edit to visible by zone size ({name.split(' (')[0]})", "records in the zone",
          "ms from the rename to the first answer showing it", series, (500, "goal: 500 ms"))


def tree_of(args: argparse.Namespace) -> tuple[Tree | None, str]:
    """The tree to run (None: this one) and how the report names it."""
    tree = Tree(Path(args.tree).resolve(), args.python) if args.tree else None
    where = tree.path if tree else ROOT
    commit = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    compiled = tree.compiled() if tree else Tree(ROOT, sys.executable).compiled()
    label = args.label or ("this tree" if tree is None else where.name)
    return tree, (f"{label} ({where}, git {commit}"
                  f"{'' if tree else ' plus uncommitted changes, if any'}, "
                  f"{'compiled modules' if compiled else 'pure Python'})")


def main() -> int:
    args = parser().parse_args()
    tree, name = tree_of(args)
    pinned = (not args.no_pin and (os.cpu_count() or 1) >= 2
              and programs.find("taskset") is not None)
    if pinned:
        pin(0, LOAD_CORE)  # the prober, with the writers
    load_at_start = os.getloadavg()
    runs = [bench_size(int(n), shape, Path(args.work), args.edits, args.timeout, pinned, tree)
            for n in args.sizes.split(",") for shape in args.shapes.split(",")]
    placement = ("serving process on core 0; writers and prober on core 1" if pinned
                 else "not pinned")
    print()
    print(f"# bench/edits.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {name}; "
          f"{os.cpu_count()} cores, {placement}; load average at start "
          f"{load_at_start[0]:.1f}, at end {os.getloadavg()[0]:.1f}")
    print()
    for line in table(runs):
        print(line)
    print()
    print("Each edit: temp file renamed over the zone file. one: SOA serial + 1, the last "
          "line (`probe A`) changed; append: a `probe A` line appended (serial unchanged: "
          f"the next one served); scattered: as one, and {SCATTERED} host addresses changed "
          "all over the zone. A warm-up edit before them is not counted.")
    if args.chart:
        chart(args.chart, runs, name)
        print(f"chart written to {args.chart}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"tree": name, "pinned": pinned, "sizes": [asdict(r) for r in runs]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
