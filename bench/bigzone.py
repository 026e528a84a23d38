"""--big: load time, restart time and memory of each server with large zones (100,000 and
1,000,000 records of one A record a line, and 1,000,000 of a realistic mix), one zone at a
time; `--chart FILE` also draws the load and restart times (bench/charts.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from testkit import dnsperf
from testkit.peers import Zone, wait_ready
from testkit.procfs import status_kib, total_pss_mib, udp_socket_owners
from testkit.procs import process_tree

from .charts import Bars, grouped_bars
from .gen_zone import write_zone
from .measure import cpu_plan, throughput_load
from .options import Options
from .querymix import Question, write_binary
from .servers import SERVERS, Contender
from .tools import ensure_tools, log

ORIGIN = "big.test"
SMALL = 100_000  # the smaller zone of one A record a line, beside --big's size
SHAPE_TEXT = {"a": "one A record a line", "mixed": "realistic mix, $ORIGIN sections"}
SHAPE_SHORT = {"a": "A", "mixed": "mixed"}


def shapes(records: int) -> list[tuple[str, int]]:
    """The zones to load: (shape, records)."""
    out = [("a", SMALL)] if records > SMALL else []
    return out + [("a", records), ("mixed", records)]


@dataclass
class BigRow:
    """One server on one zone."""

    server: str
    load_s: float | None = None  # None: it failed (`error` says why)
    restart_s: float | None = None
    serving_mib: float = 0.0
    other_peak_mib: float | None = None  # None: no other processes
    pss_mib: float = 0.0
    error: str = ""

    def cells(self) -> str:
        if self.load_s is None:
            return f"{self.server} | failed: {self.error} | | | | |"
        restart = "failed" if self.restart_s is None else f"{self.restart_s:.2f}"
        other = "-" if self.other_peak_mib is None else f"{self.other_peak_mib:.0f}"
        return (f"{self.server} | {self.load_s:.1f} | {restart} | {self.serving_mib:.0f} | "
                f"{other} | {self.pss_mib:.0f} |")


def big(opts: Options) -> int:
    """Load each large zone into each server; report load time, restart time and memory."""
    ensure_tools()
    tmp = Path(tempfile.mkdtemp(prefix="dnsbench-big-"))
    probe = [Question("apex", ORIGIN, t, edns=False) for t in ("SOA", "NS")] + [
        Question("nxdomain", f"n{i}x.{ORIGIN}", "A", edns=i % 2 == 0) for i in range(5000)]
    mixfile = tmp / "probe.bin"
    write_binary(mixfile, probe)
    cores = min(opts.load_cores, os.cpu_count() or 1)
    lines = ["Each zone loaded alone into each server with one worker, from an empty data "
             f"directory, every server on {cores} core{'s' if cores > 1 else ''}; "
             "memory after the load and "
             f"{opts.warmup + 4:g} s of queries. **load s**: from the server's start until "
             "the zone's SOA is answered. **restart s**: the server stopped and started "
             "again on the same files and data directory (dnsbackend: serving from its "
             "store; the peers read their zone files again), until the SOA is answered. "
             "**serving RSS**: the process serving the port. "
             "**other peak RSS**: the highest peak (VmHWM) of the server's other processes "
             "(dnsbackend: its writer, which parses and writes the zone). Zones made by "
             "bench/gen_zone.py.", "",
             "| zone | records | MiB | server | load s | restart s | serving RSS MiB | "
             "other peak RSS MiB | PSS of all MiB |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    results: list[tuple[str, list[BigRow]]] = []
    for shape, records in shapes(opts.big):
        zpath = tmp / f"{ORIGIN}.zone"
        log(f"generating {records:,} records ({SHAPE_TEXT[shape]})")
        write_zone(shape, str(zpath), ORIGIN, records)
        size = zpath.stat().st_size / (1 << 20)
        zones = [Zone(ORIGIN, zpath, 0)]
        rows = []
        for server in (SERVERS[s]() for s in opts.servers):
            row = big_row(server, zones, mixfile, opts, tmp / f"{shape}{records}")
            rows.append(row)
            lines.append(f"| {SHAPE_TEXT[shape]} | {records:,} | {size:.1f} | {row.cells()}")
            log(lines[-1])
        results.append((f"{records:,} {SHAPE_SHORT[shape]}", rows))
    print("\n".join(lines))
    if opts.chart:
        chart(opts.chart, results, cores)
        log(f"chart written to {opts.chart}")
    if not opts.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def chart(path: str, results: list[tuple[str, list[BigRow]]], cores: int) -> None:
    """Load and restart seconds of each server, grouped by zone."""
    groups = [zone for zone, _ in results]
    servers = [row.server for row in results[0][1]]

    def series(pick: str) -> list[Bars]:
        return [Bars(name, [getattr(rows[i], pick) for _, rows in results])
                for i, name in enumerate(servers)]

    grouped_bars(path, "Big zones: seconds until the zone is served (one worker each, "
                 f"{cores} core{'s' if cores > 1 else ''})",
                 groups, [("first load, s (empty data directory)", series("load_s")),
                          ("restart, s (same files and data)", series("restart_s"))])


def big_row(server: Contender, zones: list[Zone], mixfile: Path, opts: Options,
            tmp: Path) -> BigRow:
    """One server: start it on the zone, time the load, query it, read its memory; then
    stop it and time a restart on the same directory."""
    server_cpus, gen_cpu, _ = cpu_plan(1)
    if opts.load_cores > 1:  # the probe after the load then shares a core with the server
        server_cpus = f"0-{min(opts.load_cores, os.cpu_count() or 1) - 1}"
    log(f"{server.name}: loading on cpus {server_cpus}")
    tmp.mkdir(parents=True, exist_ok=True)
    row = BigRow(server.name)
    started = time.monotonic()  # (ours returns from start() once it listens)
    run = server.start(tmp / server.name, zones, workers=1, cpus=server_cpus)
    try:
        try:
            wait_ready(run, zones, opts.timeout)
            row.load_s = time.monotonic() - started
        except RuntimeError as exc:
            row.error = str(exc).splitlines()[0]
            return row
        dnsperf.run(throughput_load(run.port, mixfile, "udp", opts.warmup + 4, opts, gen_cpu),
                    tmp / "dnsperf.out")
        tree = process_tree(run.proc.pid)
        owners = udp_socket_owners(tree, run.port) or [run.proc.pid]
        row.serving_mib = max(status_kib(p, "VmRSS") for p in owners) / 1024
        others = [status_kib(p, "VmHWM") for p in tree if p not in owners]
        row.other_peak_mib = max(others) / 1024 if others else None
        row.pss_mib = total_pss_mib(tree)
    finally:
        run.stop()
    log(f"{server.name}: restarting")
    started = time.monotonic()
    run = server.start(tmp / server.name, zones, workers=1, cpus=server_cpus)
    try:
        wait_ready(run, zones, opts.timeout)
        row.restart_s = time.monotonic() - started
    except RuntimeError as exc:
        log(f"{server.name}: restart failed: {str(exc).splitlines()[0]}")
    finally:
        run.stop()
    return row
