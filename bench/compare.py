"""Side-by-side throughput benchmark: dnsbackend against NSD, Knot and BIND under dnsperf."""

from __future__ import annotations

import argparse
import array
import contextlib
import datetime
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import free_port, process_tree  # noqa: E402
from querymix import (  # noqa: E402
    EDNS_PAYLOAD,
    BenchZone,
    Question,
    example_mix,
    spread_mix,
    write_bench_zone,
    write_binary,
    write_text,
)

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"dnsperf": "dnsperf", "nsd": "nsd", "knotd": "knot", "named": "bind9",
            "taskset": "util-linux"}
BENCH_ORIGIN = "bench.test"
EXAMPLE_ZONE = ROOT / "zones" / "example.com.zone"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# What the machine needs


def ensure_tools() -> None:
    """Install dnsperf, NSD, Knot and BIND from Debian when any is missing."""
    missing = sorted({pkg for tool, pkg in PACKAGES.items()
                      if shutil.which(tool) is None
                      and not Path("/usr/sbin", tool).exists()})
    if not missing:
        return
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        sys.exit(f"compare.py: missing {' '.join(missing)}; run: sudo {' '.join(cmd)}")
    log(f"installing {' '.join(missing)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(cmd, check=True, env=env)


def tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    if Path("/usr/sbin", name).exists():
        return str(Path("/usr/sbin", name))
    sys.exit(f"compare.py: {name} not found")


def first_line(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True)
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "?"


# ---------------------------------------------------------------------------------------
# Processes: trees, memory, sockets


def status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages split among the processes that share them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time used so far by these processes (all their threads)."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def udp_socket_owners(pids: list[int], port: int) -> list[int]:
    """The processes among `pids` holding a UDP socket bound to 127.0.0.1:port."""
    inodes = set()
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local = parts[1]
            if local == f"0100007F:{port:04X}":
                inodes.add(parts[9])
    owners = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                owners.append(pid)
                break
    return owners


# ---------------------------------------------------------------------------------------
# The servers


@dataclass
class ZoneFile:
    origin: str  # without the final dot
    path: Path
    serial: int


@dataclass
class Running:
    """A started server: its process, its port, how it was pinned."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    log_path: Path
    serving_pids: list[int] = field(default_factory=list)
    threads: int = 0

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; then whatever is left of its process group (children)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: see Server.start

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Server:
    """How to configure and start one DNS server with N workers on a port."""

    name = ""
    binary = ""

    def version(self) -> str:
        raise NotImplementedError

    def command(self, workdir: Path, port: int, zones: list[ZoneFile],
                workers: int) -> list[str]:
        raise NotImplementedError

    def cwd(self, workdir: Path) -> Path:
        return workdir

    def start(self, workdir: Path, zones: list[ZoneFile], workers: int, cpus: str) -> Running:
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        cmd = self.command(workdir, port, zones, workers)
        log_path = workdir / "server.log"
        out = open(log_path, "wb")  # noqa: SIM115 - the child keeps it; closed with the run
        proc = subprocess.Popen([tool("taskset"), "-c", cpus, *cmd], stdout=out,
                                stderr=subprocess.STDOUT, cwd=self.cwd(workdir),
                                start_new_session=True)
        out.close()
        return Running(self.name, proc, port, workdir, log_path)


class DnsBackend(Server):
    name = "dnsbackend"

    def version(self) -> str:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        v = first_line([sys.executable, "-m", "dnsbackend", "--version"])
        py = platform.python_implementation() + " " + platform.python_version()
        return f"{v} (git {commit or '?'}, {py})"

    def command(self, workdir: Path, port: int, zones: list[ZoneFile],
                workers: int) -> list[str]:
        zdir = workdir / "zones"
        zdir.mkdir(exist_ok=True)
        for z in zones:  # copies: a zone file must lie in the zones directory itself
            copy = zdir / f"{z.origin}.zone"
            if not copy.exists():
                shutil.copyfile(z.path, copy)
        cmd = [sys.executable, "-m", "dnsbackend", "serve", "--zones", str(zdir),
               "--data", str(workdir / "db"), "--listen", "127.0.0.1", "--port", str(port)]
        if workers != 1:
            cmd += ["--workers", str(workers)]
        return cmd


class Nsd(Server):
    name = "NSD"

    def version(self) -> str:
        return first_line([tool("nsd"), "-v"])

    def command(self, workdir: Path, port: int, zones: list[ZoneFile],
                workers: int) -> list[str]:
        w = workdir
        zone_blocks = "".join(f"zone:\n  name: {z.origin}\n  zonefile: {z.path}\n"
                              for z in zones)
        conf = f"""server:
  ip-address: 127.0.0.1@{port}
  server-count: {workers}
  username: ""
  chroot: ""
  zonesdir: "{w}"
  pidfile: "{w}/nsd.pid"
  zonelistfile: "{w}/zone.list"
  xfrdfile: "{w}/xfrd.state"
  xfrdir: "{w}"
  database: ""
  logfile: "{w}/nsd.log"
  verbosity: 1
  # Debian's NSD limits identical answers to 200/s per /24 (RRL); a benchmark from one
  # address would see most queries dropped.
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
{zone_blocks}"""
        (w / "nsd.conf").write_text(conf)
        return [tool("nsd"), "-d", "-c", str(w / "nsd.conf")]


class Knot(Server):
    name = "Knot"

    def version(self) -> str:
        return first_line([tool("knotd"), "-V"])

    def command(self, workdir: Path, port: int, zones: list[ZoneFile],
                workers: int) -> list[str]:
        w = workdir
        (w / "run").mkdir(exist_ok=True)
        zone_items = "".join(f"  - domain: {z.origin}\n    file: \"{z.path}\"\n" for z in zones)
        conf = f"""server:
    rundir: "{w}/run"
    listen: 127.0.0.1@{port}
    udp-workers: {workers}
    tcp-workers: {workers}
    background-workers: 1
database:
    storage: "{w}/run"
log:
  - target: stderr
    any: notice
template:
  - id: default
    storage: "{w}/run"
    journal-content: none
    zonefile-sync: -1
    zonefile-load: whole
zone:
{zone_items}"""
        (w / "knot.conf").write_text(conf)
        return [tool("knotd"), "-c", str(w / "knot.conf")]


class Bind(Server):
    name = "BIND"

    def version(self) -> str:
        return first_line([tool("named"), "-v"])

    def command(self, workdir: Path, port: int, zones: list[ZoneFile],
                workers: int) -> list[str]:
        w = workdir
        zone_blocks = "".join(f'zone "{z.origin}" {{ type primary; file "{z.path}"; }};\n'
                              for z in zones)
        conf = f"""options {{
    directory "{w}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    pid-file "{w}/named.pid";
    session-keyfile "{w}/session.key";
    recursion no;
    notify no;
    allow-transfer {{ none; }};
}};
controls {{ }};
{zone_blocks}"""
        (w / "named.conf").write_text(conf)
        # -n N: N worker (network) threads, so that one worker means one core's worth.
        return [tool("named"), "-g", "-n", str(workers), "-u", "root", "-c", str(w / "named.conf")]


SERVERS: dict[str, Callable[[], Server]] = {
    "dnsbackend": DnsBackend, "nsd": Nsd, "knot": Knot, "bind": Bind}


def wait_ready(run: Running, zones: list[ZoneFile], timeout: float) -> float:
    """Query SOA of every zone until each answers with its serial (any serial when it is
    0); return the seconds taken."""
    start = time.monotonic()
    pending = list(zones)
    while pending:
        if run.proc.poll() is not None:
            raise RuntimeError(f"{run.name} exited:\n{run.log_tail()}")
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{run.name} did not load {pending[0].origin} in {timeout:.0f}s:"
                               f"\n{run.log_tail()}")
        z = pending[0]
        q = dns.message.make_query(z.origin, "SOA")
        try:
            r = dns.query.udp(q, "127.0.0.1", port=run.port, timeout=0.5)
            if (r.rcode() == dns.rcode.NOERROR and r.answer
                    and z.serial in (0, r.answer[0][0].serial)):
                pending.pop(0)
                continue
        except (dns.exception.DNSException, OSError):
            pass
        time.sleep(0.1)
    return time.monotonic() - start


# ---------------------------------------------------------------------------------------
# Answers: every server must say the same things before their speeds are compared


def canonical(r: dns.message.Message) -> tuple[object, ...]:
    """What must agree between servers: rcode, AA, the answer, and NS/SOA in authority."""
    def rrsets(section: list[dns.rrset.RRset],
               types: set[dns.rdatatype.RdataType] | None = None) -> list[str]:
        out = []
        for rr in section:
            if types is None or rr.rdtype in types:
                out.append("\n".join(sorted(rr.to_text().lower().splitlines())))
        return sorted(out)

    aa = bool(r.flags & dns.flags.AA)
    auth_types = {dns.rdatatype.SOA} if aa else {dns.rdatatype.NS}
    return (dns.rcode.to_text(r.rcode()), aa, tuple(rrsets(r.answer)),
            tuple(rrsets(r.authority, auth_types)))


def ask(port: int, q: Question) -> tuple[object, ...]:
    m = dns.message.make_query(q.name, q.rtype, use_edns=0 if q.edns else False,
                               payload=EDNS_PAYLOAD, want_dnssec=q.do)
    m.flags &= ~dns.flags.RD
    try:
        return canonical(dns.query.udp(m, "127.0.0.1", port=port, timeout=2.0))
    except dns.exception.Timeout:
        return ("timeout",)


def collect_answers(port: int, questions: list[Question]) -> list[tuple[object, ...]]:
    return [ask(port, q) for q in questions]


# ---------------------------------------------------------------------------------------
# dnsperf


@dataclass
class PerfResult:
    qps: float = 0.0
    sent: int = 0
    lost: int = 0
    mean_ms: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    rcodes: str = ""
    error: str = ""
    cpu_s: float = 0.0  # CPU time the server used during the run

    @property
    def per_cpu_s(self) -> float:
        """Answered queries per second of server CPU time: less sensitive to other load."""
        return (self.sent - self.lost) / self.cpu_s if self.cpu_s else 0.0


def _stat(text: str, label: str) -> float:
    m = re.search(rf"{re.escape(label)}:\s+([0-9.]+)", text)
    return float(m.group(1)) if m else 0.0


def dnsperf(port: int, mixfile: Path, mode: str, seconds: float, clients: int,
            outstanding: int, cpus: str, verbose_to: Path | None = None) -> PerfResult:
    """Run dnsperf once. With verbose_to, every query's latency goes to that file."""
    cmd = [tool("taskset"), "-c", cpus, tool("dnsperf"), "-s", "127.0.0.1", "-p", str(port),
           "-d", str(mixfile), "-B", "-m", mode, "-c", str(clients), "-T", "1",
           "-q", str(outstanding), "-l", str(seconds), "-t", "2"]
    if verbose_to is not None:
        cmd.append("-v")
        with open(verbose_to, "w") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
        text = verbose_to.read_text(errors="replace") if verbose_to.stat().st_size < (1 << 20) \
            else _tail(verbose_to)
    else:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        text = proc.stdout
    res = PerfResult()
    if proc.returncode != 0 or "Queries per second" not in text:
        res.error = (proc.stderr.strip() or text.strip())[-300:]
        return res
    res.qps = _stat(text, "Queries per second")
    res.sent = int(_stat(text, "Queries sent"))
    res.lost = int(_stat(text, "Queries lost"))
    res.mean_ms = _stat(text, "Average Latency (s)") * 1000
    m = re.search(r"Response codes:\s+(.*)", text)
    res.rcodes = m.group(1).strip() if m else ""
    if verbose_to is not None:
        res.p50_ms, res.p99_ms = percentiles(verbose_to)
    return res


def _tail(path: Path, size: int = 4096) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, path.stat().st_size - size))
        return f.read().decode(errors="replace")


def percentiles(verbose: Path) -> tuple[float | None, float | None]:
    """p50 and p99 in ms from dnsperf -v lines ('> NOERROR binary input 0.000123');
    a lost query ('> T ...') counts as slower than any answer."""
    lat = array.array("d")
    lost = 0
    with open(verbose, "rb") as f:
        for line in f:
            if not line.startswith(b"> "):
                continue
            if line.startswith(b"> T "):
                lost += 1
                continue
            try:
                lat.append(float(line.rsplit(None, 1)[1]))
            except (ValueError, IndexError):
                continue
    total = len(lat) + lost
    if not total:
        return None, None
    ordered = sorted(lat)

    def at(p: float) -> float | None:
        k = min(total - 1, int(p * total))
        return ordered[k] * 1000 if k < len(ordered) else None

    return at(0.50), at(0.99)


# ---------------------------------------------------------------------------------------
# The run


@dataclass
class Row:
    server: str
    mix: str
    mode: str
    workers: int
    perf: PerfResult | None
    pss_mib: float = 0.0
    note: str = ""
    round: int = 1
    load: float = 0.0  # the machine's 1-minute load average right after the timed run


@dataclass
class Mix:
    name: str
    binary: Path
    check: list[Question]  # the questions whose answers are compared between servers
    count: int


def make_mixes(tmp: Path, spread_records: int, spread_queries: int) -> tuple[
        list[ZoneFile], dict[str, Mix]]:
    zones = [ZoneFile("example.com", EXAMPLE_ZONE, soa_serial(EXAMPLE_ZONE))]
    mixes: dict[str, Mix] = {}
    ex = example_mix()
    n = write_binary(tmp / "example.bin", ex)
    write_text(tmp / "example.txt", ex)
    mixes["example"] = Mix("example", tmp / "example.bin", ex, n)
    if spread_records > 0:
        zpath = tmp / f"{BENCH_ORIGIN}.zone"
        bz: BenchZone = write_bench_zone(zpath, BENCH_ORIGIN, spread_records)
        zones.append(ZoneFile(BENCH_ORIGIN, zpath, 1))
        sp = spread_mix(bz, spread_queries)
        n = write_binary(tmp / "spread.bin", sp)
        write_text(tmp / "spread.txt", sp)
        mixes["spread"] = Mix("spread", tmp / "spread.bin", sp[:300], n)
        log(f"generated {BENCH_ORIGIN}: {bz.records} records, {bz.hosts} hosts; "
            f"spread mix: {n} queries")
    return zones, mixes


def soa_serial(path: Path) -> int:
    import dns.zone

    z = dns.zone.from_file(str(path), origin=path.name[: -len(".zone")], relativize=False)
    soa = z.find_rdataset("@", "SOA")[0]
    return int(soa.serial)


def cpu_plan(workers: int) -> tuple[str, str, bool]:
    """(server cpus, load generator cpu, whether they share a core)."""
    ncpu = os.cpu_count() or 1
    loadgen = ncpu - 1
    if ncpu == 1:
        return "0", "0", True
    if workers <= ncpu - 1:
        return f"0-{workers - 1}" if workers > 1 else "0", str(loadgen), False
    return f"0-{ncpu - 1}", str(loadgen), True


def memory_of(pids: list[int]) -> float:
    return sum(pss_kib(p) for p in pids) / 1024


@dataclass
class Findings:
    """Everything a run learns besides the rows: answer differences, load times, notes."""

    reference: dict[str, list[tuple[object, ...]]] = field(default_factory=dict)
    mismatches: dict[str, list[str]] = field(default_factory=dict)
    load_times: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def compare_answers(run: Running, mixes: dict[str, Mix], found: Findings) -> None:
    """Ask the check questions; the first server asked is the reference for the others."""
    for mix in mixes.values():
        got = collect_answers(run.port, mix.check)
        ref = found.reference.setdefault(mix.name, got)
        for q, a, b in zip(mix.check, ref, got, strict=True):
            if a != b:
                found.mismatches.setdefault(run.name, []).append(
                    f"{q.name} {q.rtype} ({q.kind}): {b} vs {a}")


def measure(run: Running, workers: int, mixes: dict[str, Mix], args: argparse.Namespace,
            gen_cpu: str, tmp: Path) -> list[Row]:
    """The timed runs against one started server: each mix, each mode."""
    rows = []
    for mix in mixes.values():
        for mode in args.modes:
            dnsperf(run.port, mix.binary, mode, args.warmup, args.clients, args.outstanding,
                    gen_cpu)
            tree = process_tree(run.proc.pid)
            before = cpu_seconds(tree)
            perf = dnsperf(run.port, mix.binary, mode, args.seconds, args.clients,
                           args.outstanding, gen_cpu)
            perf.cpu_s = cpu_seconds(tree) - before
            load = os.getloadavg()[0]
            if not args.no_latency_run and not perf.error:
                verbose = tmp / "verbose.out"
                lat = dnsperf(run.port, mix.binary, mode, args.seconds, args.clients,
                              args.outstanding, gen_cpu, verbose_to=verbose)
                perf.p50_ms, perf.p99_ms = lat.p50_ms, lat.p99_ms
                verbose.unlink(missing_ok=True)
            memory = memory_of(process_tree(run.proc.pid))
            rows.append(Row(run.name, mix.name, mode, workers, perf, memory, perf.error,
                            args.round, load))
            log(f"  {mix.name} {mode}: {perf.qps:,.0f} q/s, lost {perf.lost}, load {load:.1f}"
                + (f", error {perf.error}" if perf.error else ""))
    return rows


def unavailable(server: str, workers: int, mixes: dict[str, Mix], modes: list[str],
                why: str, round_no: int) -> list[Row]:
    return [Row(server, mix, mode, workers, None, note=why, round=round_no)
            for mix in mixes for mode in modes]


def run_server(server: Server, workers: int, zones: list[ZoneFile], mixes: dict[str, Mix],
               args: argparse.Namespace, tmp: Path, found: Findings) -> list[Row]:
    """Start one server with N workers, check it, measure it, stop it."""
    server_cpus, gen_cpu, shared = cpu_plan(workers)
    if shared:
        found.notes.append(f"{workers} workers: the servers run on cores {server_cpus}, "
                           f"which include the load generator's core {gen_cpu}.")
    log(f"{server.name}, {workers} worker(s), cores {server_cpus}")
    run = server.start(tmp / f"{server.name}-{workers}", zones, workers, server_cpus)
    try:
        try:
            took = wait_ready(run, zones, args.timeout)
            found.load_times.setdefault(f"{server.name}/{workers}", took)  # round 1: cold
        except RuntimeError as exc:
            log(str(exc))
            return unavailable(server.name, workers, mixes, args.modes,
                               f"did not start: {str(exc).splitlines()[0]}", args.round)
        owners = udp_socket_owners(process_tree(run.proc.pid), run.port)
        deadline = time.monotonic() + 20  # extra workers may bind after the first answers
        while server.name == "dnsbackend" and len(owners) < workers \
                and time.monotonic() < deadline:
            time.sleep(0.2)
            owners = udp_socket_owners(process_tree(run.proc.pid), run.port)
        if server.name == "dnsbackend" and len(owners) < workers:
            why = (f"not available: {len(owners)} process(es) serve the port "
                   f"with --workers {workers}")
            log(why)
            return unavailable(server.name, workers, mixes, args.modes, why, args.round)
        if workers == args.workers[0] and args.round == 1:
            compare_answers(run, mixes, found)
        rows = measure(run, workers, mixes, args, gen_cpu, tmp)
        if server.name == "BIND":
            threads = status_kib(run.proc.pid, "Threads")
            found.notes.append(f"BIND with -n {workers} runs {threads} threads.")
        if args.profile and server.name == "dnsbackend" and workers == 1:
            for mix in mixes.values():
                profile(run, mix, args.profile, args, gen_cpu, tmp)
            args.profile = 0  # once, not every round
        return rows
    finally:
        run.stop()


def bench(args: argparse.Namespace) -> int:
    ensure_tools()
    tmp = Path(tempfile.mkdtemp(prefix="dnsbench-"))
    zones, mixes = make_mixes(tmp, args.spread_records, args.spread_queries)
    mixes = {k: v for k, v in mixes.items() if k in args.mixes}
    servers = [SERVERS[s]() for s in args.servers]
    versions = {s.name: s.version() for s in servers}
    versions["dnsperf"] = _dnsperf_version()
    rows: list[Row] = []
    found = Findings()
    for round_no in range(1, args.rounds + 1):
        args.round = round_no
        if args.rounds > 1:
            log(f"round {round_no} of {args.rounds}")
        for workers in args.workers:
            for server in servers:
                rows += run_server(server, workers, zones, mixes, args, tmp, found)
    report = render(rows, versions, found, args, mixes)
    print(report)
    if args.write:
        write_doc(Path(args.write), report)
        log(f"table written to {args.write}")
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def median_rows(rows: list[Row]) -> list[Row]:
    """One row per (server, mix, mode, workers): the round with the median queries/s."""
    groups: dict[tuple[str, str, str, int], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.server, r.mix, r.mode, r.workers), []).append(r)
    out = []
    for group in groups.values():
        ok = sorted((r for r in group if r.perf and not r.perf.error),
                    key=lambda r: r.perf.qps if r.perf else 0.0)
        if not ok:
            out.append(group[0])
            continue
        best = ok[(len(ok) - 1) // 2]
        if len(group) > 1:
            best.note = "q/s of rounds: " + ", ".join(
                f"{r.perf.qps:,.0f}" if r.perf and not r.perf.error else "failed" for r in group)
        out.append(best)
    return out


def _dnsperf_version() -> str:
    out = subprocess.run([tool("dnsperf"), "-h"], capture_output=True, text=True)
    m = re.search(r"Version\s+(\S+)", out.stdout + out.stderr)
    return f"dnsperf {m.group(1)}" if m else "dnsperf ?"


# ---------------------------------------------------------------------------------------
# Profile of dnsbackend under load (py-spy)


def profile(run: Running, mix: Mix, seconds: int, args: argparse.Namespace, gen_cpu: str,
            tmp: Path) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        log("py-spy not found: pip install py-spy (into the venv) to profile")
        return
    raw = tmp / f"profile-{mix.name}.txt"
    perf = subprocess.Popen([tool("taskset"), "-c", gen_cpu, tool("dnsperf"), "-s", "127.0.0.1",
                             "-p", str(run.port), "-d", str(mix.binary), "-B", "-c",
                             str(args.clients), "-l", str(seconds + 2)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    # --native: the query path is compiled (mypyc), its functions are C functions.
    subprocess.run([spy, "record", "--native", "-d", str(seconds), "-r", "250", "--format", "raw",
                    "-o", str(raw), "--pid", str(run.proc.pid)],
                   capture_output=True, text=True)
    perf.wait()
    if raw.exists():
        text = summarize_profile(raw)
        out = Path(args.profile_out) / f"profile-{mix.name}.txt" if args.profile_out else None
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
            shutil.copyfile(raw, out.parent / raw.name.replace(".txt", ".raw"))
        print(f"\n### py-spy profile, {mix.name} mix, UDP, 1 worker\n\n{text}")


def summarize_profile(raw: Path, top: int = 15) -> str:
    """Self and total time per function from py-spy's collapsed stacks, serving thread only."""
    self_t: Counter[str] = Counter()
    total_t: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "Runner.run" not in stack:  # other threads: the writer pool's helpers, idle
            continue
        n = int(count)
        samples += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        self_t[frames[-1]] += n
        for f in set(frames):
            total_t[f] += n
    if not samples:
        return "(no samples)"
    lines = [f"{samples} samples of the serving thread.", "",
             "| self % | total % | function |", "|---:|---:|---|"]
    for f, n in self_t.most_common(top):
        lines.append(f"| {100 * n / samples:.1f} | {100 * total_t[f] / samples:.1f} | `{f}` |")
    lines += ["", "Largest total (inclusive) time:", "",
              "| total % | function |", "|---:|---|"]
    for f, n in total_t.most_common(top + 6):
        lines.append(f"| {100 * n / samples:.1f} | `{f}` |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# The report


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
                if r.perf is None or r.perf.error:
                    return 0.0
                return r.perf.per_cpu_s if per_cpu else r.perf.qps
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


def render(all_rows: list[Row], versions: dict[str, str], found: Findings,
           args: argparse.Namespace, mixes: dict[str, Mix]) -> str:
    mismatches, load_times, notes = found.mismatches, found.load_times, found.notes
    rows = median_rows(all_rows)
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    out = [f"Measured {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')} on "
           f"{platform.node() or 'this machine'}: {os.cpu_count()} cores ({cpu}), "
           f"Linux {platform.release()}.", ""]
    out += [f"- {name}: {v}" for name, v in versions.items()]
    out += ["", f"dnsperf -B -c {args.clients} -T 1 -q {args.outstanding}, {args.seconds:g} s "
            f"per run after a {args.warmup:g} s warm-up; mixes: "
            + ", ".join(f"{m.name} ({m.count} queries)" for m in mixes.values()), ""]
    out += ["| server | mix | mode | workers | q/s | lost | mean ms | p99 ms | q per CPU s "
            "| memory MiB | load |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.perf is None or r.perf.error:
            out.append(f"| {r.server} | {r.mix} | {r.mode} | {r.workers} | "
                       f"{r.note or 'failed'} | | | | | | |")
            continue
        p = r.perf
        out.append(f"| {r.server} | {r.mix} | {r.mode} | {r.workers} | {p.qps:,.0f} | "
                   f"{p.lost} | {fmt(p.mean_ms)} | {fmt(p.p99_ms)} | {p.per_cpu_s:,.0f} | "
                   f"{r.pss_mib:.1f} | {r.load:.1f} |")
    spread = [r for r in rows if r.note.startswith("q/s of rounds")]
    if spread:
        out += ["", f"Median of {args.rounds} rounds; every round's q/s:", ""]
        out += [f"- {r.server} {r.mix} {r.mode} {r.workers}w: {r.note[15:]}" for r in spread]
    out += ["", "Ratio of dnsbackend's queries/s to each peer's, measured in the same round"
            + (" (median of the rounds, then each round's)" if args.rounds > 1 else "") + ":",
            "", "| mix | mode | workers | " + " | ".join(f"/ {s}" for s in ("NSD", "Knot", "BIND"))
            + " |", "|---|---|---:|---:|---:|---:|"]
    ours = sorted({(r.mix, r.mode, r.workers) for r in rows if r.server == "dnsbackend"},
                  key=lambda k: (k[2], k[0], k[1]))
    peers = ("NSD", "Knot", "BIND")
    for mix, mode, workers in ours:
        cells = [ratio_cell(all_rows, mix, mode, workers, peer) for peer in peers]
        out.append(f"| {mix} | {mode} | {workers} | " + " | ".join(cells) + " |")
    out += ["", "The same ratio for answered queries per second of server CPU time (user + "
            "system, all the server's processes and threads), which other load on the "
            "machine disturbs much less than queries/s:", "",
            "| mix | mode | workers | " + " | ".join(f"/ {s}" for s in peers) + " |",
            "|---|---|---:|---:|---:|---:|"]
    for mix, mode, workers in ours:
        cells = [ratio_cell(all_rows, mix, mode, workers, peer, True) for peer in peers]
        out.append(f"| {mix} | {mode} | {workers} | " + " | ".join(cells) + " |")
    out += ["", "load: the 1-minute load average of the machine right after the timed run "
            "(2 means both cores busy; this machine is shared, so other work competes)."]
    out += ["", "Seconds from start until every zone answered its SOA: "
            + ", ".join(f"{k} {v:.1f}" for k, v in load_times.items()) + "."]
    checked = sum(len(m.check) for m in mixes.values())
    ref = next(iter(args.servers))
    out += ["", f"Answers compared before timing ({checked} questions, each server against "
            f"{SERVERS[ref]().name}; rcode, AA, answer section, NS or SOA in authority): "
            + ("all agree." if not mismatches else
               "; ".join(f"{s} differs on {len(v)}" for s, v in mismatches.items()) + ".")]
    for s, items in mismatches.items():
        for item in items[:5]:
            out.append(f"    - {s}: {item}")
    for note in dict.fromkeys(notes):
        out.append(f"\n{note}")
    return "\n".join(out)


def write_doc(path: Path, report: str) -> None:
    """Replace the measured block in the doc (between the markers) with this report."""
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    text = path.read_text() if path.exists() else f"{begin}\n{end}\n"
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{report}\n{end}{tail}")


# ---------------------------------------------------------------------------------------
# --big: memory with a large zone


def generate_big(path: Path, origin: str, records: int) -> str:
    """bench/gen_zone.py's realistic zone when it is there, else the spread mix's layout."""
    try:
        from gen_zone import generate
    except ImportError:
        write_bench_zone(path, origin, records)
        return "bench/querymix.py write_bench_zone"
    generate(str(path), origin, records)
    return "bench/gen_zone.py generate"


def big(args: argparse.Namespace) -> int:
    """Load one large zone into each server; report load time and memory after some queries."""
    ensure_tools()
    tmp = Path(tempfile.mkdtemp(prefix="dnsbench-big-"))
    origin = "big.test"
    zpath = tmp / f"{origin}.zone"
    log(f"generating {args.big:,} records")
    made_by = generate_big(zpath, origin, args.big)
    size = zpath.stat().st_size / (1 << 20)
    zones = [ZoneFile(origin, zpath, 0)]
    probe = [Question("apex", origin, t, edns=False) for t in ("SOA", "NS")] + [
        Question("nxdomain", f"n{i}x.{origin}", "A", edns=i % 2 == 0) for i in range(5000)]
    mixfile = tmp / "probe.bin"
    write_binary(mixfile, probe)
    server_cpus, gen_cpu, _ = cpu_plan(1)
    lines = [f"Zone of {args.big:,} records ({size:.0f} MiB file, made by {made_by}), "
             f"one worker each, memory after the load and {args.warmup + 4:g} s of queries.", "",
             "| server | load s | RSS of serving process MiB | PSS of all its processes MiB |",
             "|---|---:|---:|---:|"]
    for server in (SERVERS[s]() for s in args.servers):
        log(f"{server.name}: loading")
        run = server.start(tmp / server.name, zones, 1, server_cpus)
        try:
            try:
                took = wait_ready(run, zones, args.timeout)
            except RuntimeError as exc:
                lines.append(f"| {server.name} | failed: {str(exc).splitlines()[0]} | | |")
                continue
            dnsperf(run.port, mixfile, "udp", args.warmup + 4, args.clients, args.outstanding,
                    gen_cpu)
            tree = process_tree(run.proc.pid)
            owners = udp_socket_owners(tree, run.port) or [run.proc.pid]
            rss = max(status_kib(p, "VmRSS") for p in owners) / 1024
            lines.append(f"| {server.name} | {took:.1f} | {rss:.0f} | {memory_of(tree):.0f} |")
            log(lines[-1])
        finally:
            run.stop()
    report = "\n".join(lines)
    print(report)
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--servers", default="nsd,knot,bind,dnsbackend",
                   type=lambda s: s.split(","), help="in this order; the first is the "
                   "reference for the answer comparison (default nsd,knot,bind,dnsbackend)")
    p.add_argument("--workers", default="1,2", type=lambda s: [int(x) for x in s.split(",")],
                   help="worker counts to run (default 1,2)")
    p.add_argument("--modes", default="udp,tcp", type=lambda s: s.split(","))
    p.add_argument("--mixes", default="example,spread", type=lambda s: s.split(","))
    p.add_argument("--seconds", type=float, default=10.0, help="length of each timed run")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=1,
                   help="repeat everything; report the median round of each (default 1)")
    p.add_argument("--clients", type=int, default=4, help="dnsperf -c")
    p.add_argument("--outstanding", type=int, default=100, help="dnsperf -q")
    p.add_argument("--spread-records", type=int, default=100_000,
                   help="records of the generated zone of the spread mix (0: no spread mix)")
    p.add_argument("--spread-queries", type=int, default=300_000)
    p.add_argument("--no-latency-run", action="store_true",
                   help="skip the second, verbose run that gives p99")
    p.add_argument("--timeout", type=float, help="seconds to wait for the zones to load "
                   "(default 120, with --big 1800)")
    p.add_argument("--profile", type=int, default=0, metavar="SECONDS",
                   help="also profile dnsbackend with py-spy for this long on each mix")
    p.add_argument("--profile-out", metavar="DIR")
    p.add_argument("--write", metavar="FILE", help="put the report into this markdown file")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--big", type=int, nargs="?", const=1_000_000, default=0, metavar="RECORDS",
                   help="instead: memory and load time with a zone of RECORDS (1,000,000)")
    args = p.parse_args(argv)
    if args.timeout is None:
        args.timeout = 1800 if args.big else 120
    for s in args.servers:
        if s not in SERVERS:
            p.error(f"unknown server {s}; choose from {', '.join(SERVERS)}")
    if args.big:
        return big(args)
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
