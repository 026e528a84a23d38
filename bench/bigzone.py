"""--big: load time and memory of each server with large zones (100,000 and 1,000,000
records of one A record a line, and 1,000,000 of a realistic mix), one zone at a time."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from testkit import dnsperf
from testkit.peers import Zone, wait_ready
from testkit.procfs import status_kib, total_pss_mib, udp_socket_owners
from testkit.procs import process_tree

from .gen_zone import write_zone
from .measure import cpu_plan, throughput_load
from .options import Options
from .querymix import Question, write_binary
from .servers import SERVERS, Contender
from .tools import ensure_tools, log

ORIGIN = "big.test"
SMALL = 100_000  # the smaller zone of one A record a line, beside --big's size
SHAPE_TEXT = {"a": "one A record a line", "mixed": "realistic mix, $ORIGIN sections"}


def shapes(records: int) -> list[tuple[str, int]]:
    """The zones to load: (shape, records)."""
    out = [("a", SMALL)] if records > SMALL else []
    return out + [("a", records), ("mixed", records)]


def big(opts: Options) -> int:
    """Load each large zone into each server; report load time and memory."""
    ensure_tools()
    tmp = Path(tempfile.mkdtemp(prefix="dnsbench-big-"))
    probe = [Question("apex", ORIGIN, t, edns=False) for t in ("SOA", "NS")] + [
        Question("nxdomain", f"n{i}x.{ORIGIN}", "A", edns=i % 2 == 0) for i in range(5000)]
    mixfile = tmp / "probe.bin"
    write_binary(mixfile, probe)
    lines = ["Each zone loaded alone into each server with one worker, from an empty data "
             "directory; memory after the load and "
             f"{opts.warmup + 4:g} s of queries. **load s**: from the server's start until "
             "the zone's SOA is answered. **serving RSS**: the process serving the port. "
             "**other peak RSS**: the highest peak (VmHWM) of the server's other processes "
             "(dnsbackend: its writer, which parses and writes the zone). Zones made by "
             "bench/gen_zone.py.", "",
             "| zone | records | MiB | server | load s | serving RSS MiB | "
             "other peak RSS MiB | PSS of all MiB |",
             "|---|---:|---:|---|---:|---:|---:|---:|"]
    for shape, records in shapes(opts.big):
        zpath = tmp / f"{ORIGIN}.zone"
        log(f"generating {records:,} records ({SHAPE_TEXT[shape]})")
        write_zone(shape, str(zpath), ORIGIN, records)
        size = zpath.stat().st_size / (1 << 20)
        zones = [Zone(ORIGIN, zpath, 0)]
        for server in (SERVERS[s]() for s in opts.servers):
            row = big_row(server, zones, mixfile, opts, tmp / f"{shape}{records}")
            lines.append(f"| {SHAPE_TEXT[shape]} | {records:,} | {size:.1f} | {row}")
            log(lines[-1])
    print("\n".join(lines))
    if not opts.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def big_row(server: Contender, zones: list[Zone], mixfile: Path, opts: Options,
            tmp: Path) -> str:
    """One server: start it on the zone, time the load, query it, read its memory."""
    server_cpus, gen_cpu, _ = cpu_plan(1)
    log(f"{server.name}: loading")
    tmp.mkdir(parents=True, exist_ok=True)
    run = server.start(tmp / server.name, zones, workers=1, cpus=server_cpus)
    try:
        try:
            took = wait_ready(run, zones, opts.timeout)
        except RuntimeError as exc:
            return f"{server.name} | failed: {str(exc).splitlines()[0]} | | | |"
        dnsperf.run(throughput_load(run.port, mixfile, "udp", opts.warmup + 4, opts, gen_cpu),
                    tmp / "dnsperf.out")
        tree = process_tree(run.proc.pid)
        owners = udp_socket_owners(tree, run.port) or [run.proc.pid]
        rss = max(status_kib(p, "VmRSS") for p in owners) / 1024
        others = [status_kib(p, "VmHWM") for p in tree if p not in owners]
        other = f"{max(others) / 1024:.0f}" if others else "-"
        return (f"{server.name} | {took:.1f} | {rss:.0f} | {other} | "
                f"{total_pss_mib(tree):.0f} |")
    finally:
        run.stop()
