"""--big: load time and memory of each server with one large zone (1,000,000 records)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from testkit import dnsperf
from testkit.peers import Zone, wait_ready
from testkit.procfs import status_kib, total_pss_mib, udp_socket_owners
from testkit.procs import process_tree
from testkit.zones import generate

from .measure import cpu_plan, throughput_load
from .options import Options
from .querymix import Question, write_binary
from .servers import SERVERS, Contender
from .tools import ensure_tools, log

ORIGIN = "big.test"


def big(opts: Options) -> int:
    """Load one large zone into each server; report load time and memory after some queries."""
    ensure_tools()
    tmp = Path(tempfile.mkdtemp(prefix="dnsbench-big-"))
    zpath = tmp / f"{ORIGIN}.zone"
    log(f"generating {opts.big:,} records")
    generate(str(zpath), ORIGIN, opts.big)
    size = zpath.stat().st_size / (1 << 20)
    zones = [Zone(ORIGIN, zpath, 0)]
    probe = [Question("apex", ORIGIN, t, edns=False) for t in ("SOA", "NS")] + [
        Question("nxdomain", f"n{i}x.{ORIGIN}", "A", edns=i % 2 == 0) for i in range(5000)]
    mixfile = tmp / "probe.bin"
    write_binary(mixfile, probe)
    lines = [f"Zone of {opts.big:,} records ({size:.0f} MiB file, made by testkit/zones.py "
             f"generate), one worker each, memory after the load and {opts.warmup + 4:g} s of "
             "queries.", "",
             "| server | load s | RSS of serving process MiB | PSS of all its processes MiB |",
             "|---|---:|---:|---:|"]
    for server in (SERVERS[s]() for s in opts.servers):
        lines.append(big_row(server, zones, mixfile, opts, tmp))
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
    run = server.start(tmp / server.name, zones, workers=1, cpus=server_cpus)
    try:
        try:
            took = wait_ready(run, zones, opts.timeout)
        except RuntimeError as exc:
            return f"| {server.name} | failed: {str(exc).splitlines()[0]} | | |"
        dnsperf.run(throughput_load(run.port, mixfile, "udp", opts.warmup + 4, opts, gen_cpu),
                    tmp / "dnsperf.out")
        tree = process_tree(run.proc.pid)
        owners = udp_socket_owners(tree, run.port) or [run.proc.pid]
        rss = max(status_kib(p, "VmRSS") for p in owners) / 1024
        return f"| {server.name} | {took:.1f} | {rss:.0f} | {total_pss_mib(tree):.0f} |"
    finally:
        run.stop()
