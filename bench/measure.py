"""The throughput run: each worker count, each server in turn, started, checked, measured."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from testkit import dnsperf
from testkit.dnsperf import Load, PerfResult
from testkit.peers import Zone, wait_ready
from testkit.procfs import cpu_seconds, status_kib, total_pss_mib, udp_socket_owners
from testkit.procs import process_tree

from .answers import compare_answers
from .options import Options
from .pyspy import profile
from .querymix import Mix, make_mixes
from .report import render, write_doc
from .results import Findings, Row
from .servers import SERVERS, Contender, Running
from .tools import ensure_tools, log


def cpu_plan(workers: int) -> tuple[str, str, bool]:
    """(server cpus, load generator cpu, whether they share a core)."""
    ncpu = os.cpu_count() or 1
    loadgen = ncpu - 1
    if ncpu == 1:
        return "0", "0", True
    if workers <= ncpu - 1:
        return f"0-{workers - 1}" if workers > 1 else "0", str(loadgen), False
    return f"0-{ncpu - 1}", str(loadgen), True


def throughput_load(port: int, queries: Path, mode: str, seconds: float, opts: Options,
                    gen_cpu: str, verbose: bool = False) -> Load:
    """`dnsperf -B -m MODE -c C -T 1 -q Q -l SECONDS -t 2` on the load generator's core."""
    return Load(port, queries, seconds, binary=True, mode=mode, clients=opts.clients,
                threads=1, outstanding=opts.outstanding, timeout=2, verbose=verbose,
                cpus=gen_cpu)


@dataclass
class Timed:
    """What the timed runs against one started server found, beside dnsperf's figures."""

    perf: PerfResult  # the throughput run
    cpu_s: float  # the server's CPU seconds during it, all its processes
    background_cpu_s: float  # of those, the processes that do not serve the port
    after_ready_s: float  # how long after the server first answered the run started
    load: float  # the load average after it
    p99_ms: float | None  # of the latency run


def timed_runs(run: Running, mix: Mix, mode: str, opts: Options, gen_cpu: str,
               tmp: Path, ready_at: float) -> Timed:
    """Warm-up, throughput run, latency run. `ready_at`: time.monotonic() when the server
    answered every zone. Its CPU time is read for the whole process tree, and apart for
    the processes beside the serving ones (writers, fork server, their children; NSD's
    and Knot's helpers), which share the serving core: a restarted server's start-up
    work there during the timing shows in that figure."""
    dnsperf.run(throughput_load(run.port, mix.binary, mode, opts.warmup, opts, gen_cpu),
                tmp / "dnsperf.out")
    tree = process_tree(run.proc.pid)
    serving = set(udp_socket_owners(tree, run.port))
    before = cpu_seconds(tree)
    beside = cpu_seconds([p for p in tree if p not in serving], reaped=True)
    started = time.monotonic()
    perf = dnsperf.run(throughput_load(run.port, mix.binary, mode, opts.seconds, opts,
                                       gen_cpu), tmp / "dnsperf.out")
    cpu_s = cpu_seconds(tree) - before
    after = [p for p in process_tree(run.proc.pid) if p not in serving]
    background = cpu_seconds(after, reaped=True) - beside
    load = os.getloadavg()[0]
    p99 = None
    if not opts.no_latency_run and not perf.error:
        verbose = tmp / "verbose.out"
        lat = dnsperf.run(throughput_load(run.port, mix.binary, mode, opts.seconds, opts,
                                          gen_cpu, verbose=True), verbose)
        p99 = lat.percentiles_ms(0.99)[0]
        verbose.unlink(missing_ok=True)
        verbose.with_name(verbose.name + ".err").unlink(missing_ok=True)
    return Timed(perf, cpu_s, max(background, 0.0), started - ready_at, load, p99)


def measure(run: Running, workers: int, mixes: dict[str, Mix], opts: Options, gen_cpu: str,
            tmp: Path, round_no: int, ready_at: float) -> list[Row]:
    """The timed runs against one started server: each mix, each mode."""
    rows = []
    for mix in mixes.values():
        for mode in opts.modes:
            t = timed_runs(run, mix, mode, opts, gen_cpu, tmp, ready_at)
            perf = t.perf
            memory = total_pss_mib(process_tree(run.proc.pid))
            rows.append(Row(run.name, mix.name, mode, workers, perf, memory, perf.error,
                            round_no, t.load, t.cpu_s, t.p99_ms, t.background_cpu_s,
                            t.after_ready_s))
            log(f"  {mix.name} {mode}: {perf.qps:,.0f} q/s, lost {perf.lost}, load {t.load:.1f}"
                f", CPU beside serving {t.background_cpu_s:.2f} s, {t.after_ready_s:.1f} s "
                "after ready" + (f", error {perf.error}" if perf.error else ""))
    return rows


def unavailable(server: str, workers: int, mixes: dict[str, Mix], modes: list[str],
                why: str, round_no: int) -> list[Row]:
    return [Row(server, mix, mode, workers, None, note=why, round=round_no)
            for mix in mixes for mode in modes]


def serving_processes(run: Running, workers: int) -> int:
    """How many of its processes hold the UDP socket; for ours, waiting up to 20 s for
    `workers` of them (extra workers may bind after the first answers)."""
    owners = udp_socket_owners(process_tree(run.proc.pid), run.port)
    deadline = time.monotonic() + 20
    ours = run.name.startswith("dnsbackend")
    while ours and len(owners) < workers and time.monotonic() < deadline:
        time.sleep(0.2)
        owners = udp_socket_owners(process_tree(run.proc.pid), run.port)
    return len(owners)


def run_server(server: Contender, workers: int, zones: list[Zone], mixes: dict[str, Mix],
               opts: Options, tmp: Path, found: Findings, round_no: int) -> list[Row]:
    """Start one server with N workers, check it, measure it, stop it."""
    server_cpus, gen_cpu, shared = cpu_plan(workers)
    if shared:
        found.notes.append(f"{workers} workers: the servers run on cores {server_cpus}, "
                           f"which include the load generator's core {gen_cpu}.")
    log(f"{server.name}, {workers} worker(s), cores {server_cpus}")
    run = server.start(tmp / f"{server.name}-{workers}", zones, workers=workers,
                       cpus=server_cpus)
    try:
        try:
            took = wait_ready(run, zones, opts.timeout)
            ready_at = time.monotonic()
            found.load_times.setdefault(f"{server.name}/{workers}", took)  # round 1: cold
        except RuntimeError as exc:
            log(str(exc))
            return unavailable(server.name, workers, mixes, opts.modes,
                               f"did not start: {str(exc).splitlines()[0]}", round_no)
        serving = serving_processes(run, workers)
        if server.name.startswith("dnsbackend") and serving < workers:
            why = f"not available: {serving} process(es) serve the port with --workers {workers}"
            log(why)
            return unavailable(server.name, workers, mixes, opts.modes, why, round_no)
        if workers == opts.workers[0] and round_no == 1:
            compare_answers(run, mixes, found)
        rows = measure(run, workers, mixes, opts, gen_cpu, tmp, round_no, ready_at)
        if server.name == "BIND":
            threads = status_kib(run.proc.pid, "Threads")
            found.notes.append(f"BIND with -n {workers} runs {threads} threads.")
        if opts.profile and server.name == "dnsbackend" and workers == 1 and not found.profiled:
            for mix in mixes.values():
                profile(run, mix, opts, gen_cpu, tmp)
            found.profiled = True  # once, not every round
        return rows
    finally:
        run.stop()


def bench(opts: Options) -> int:
    """The whole throughput benchmark; prints the report (and writes it with --write)."""
    ensure_tools()
    tmp = Path(tempfile.mkdtemp(prefix="dnsbench-"))
    zones, mixes = make_mixes(tmp, opts.spread_records, opts.spread_queries, opts.signed)
    mixes = {k: v for k, v in mixes.items() if k in opts.mixes}
    servers = [SERVERS[s]() for s in opts.servers]
    versions = {s.name: s.version() for s in servers}
    versions["dnsperf"] = dnsperf.version()
    rows: list[Row] = []
    found = Findings()
    for round_no in range(1, opts.rounds + 1):
        if opts.rounds > 1:
            log(f"round {round_no} of {opts.rounds}")
        for workers in opts.workers:
            for server in servers:
                rows += run_server(server, workers, zones, mixes, opts, tmp, found, round_no)
    report = render(rows, versions, found, opts, mixes)
    print(report)
    if opts.write:
        write_doc(Path(opts.write), report)
        log(f"table written to {opts.write}")
    if not opts.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
