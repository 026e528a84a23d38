"""NSD, Knot and BIND on a given port of 127.0.0.1, configured in a directory of their own.

    peer = Nsd()
    running = peer.start(workdir, [Zone("example.com", path, serial)], port=port)
    running.wait_ready(zones, timeout=30)
    ...
    running.stop()

Each peer writes its configuration file into `workdir` (and every file it writes itself),
starts in the foreground in a session of its own (so that stop() also ends what it
forked), its output in `workdir/server.log`, optionally pinned with `taskset -c CPUS`.
None of them can report a port they picked, so the port is passed in (a free one by
default). A secondary zone (`Zone.primary`) transfers from there, takes NOTIFY from there and
gives AXFR to 127.0.0.1 (unsigned, for the tests to read what it serves); with `Zone.key` its
transfers and NOTIFY are signed with that key. `start(..., extra=TEXT)` appends TEXT to the
configuration file (`conf_name`), as an operator's own lines would be.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import dns.exception
import dns.message
import dns.query
import dns.rcode

from . import programs
from .ports import free_port


@dataclass(frozen=True)
class Zone:
    """A zone to serve: its origin (without the final dot), its file, and the serial its
    SOA must show before the zone counts as served (0: any)."""

    origin: str
    path: Path
    serial: int = 0
    primary: str = ""  # "address@port" to transfer the zone from (a secondary zone), or ""
    # The TSIG key (name, algorithm, base64 secret) a secondary zone's transfers and NOTIFY
    # are signed with; None: unsigned (NSD's NOKEY).
    key: tuple[str, str, str] | None = None


class Serving(Protocol):
    """A started DNS server as wait_ready() sees it."""

    @property
    def name(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def proc(self) -> subprocess.Popen[bytes]: ...

    def log_tail(self, lines: int = 20) -> str: ...


def wait_ready(server: Serving, zones: list[Zone], timeout: float) -> float:
    """Query SOA of every zone until each answers with its serial (any serial when it is
    0); return the seconds taken. RuntimeError, with the server's log, if it exits or
    `timeout` passes first."""
    start = time.monotonic()
    pending = list(zones)
    while pending:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{server.log_tail()}")
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{server.name} did not load {pending[0].origin} in "
                               f"{timeout:.0f}s:\n{server.log_tail()}")
        if _serves(server.port, pending[0]):
            pending.pop(0)
            continue
        time.sleep(0.1)
    return time.monotonic() - start


def _serves(port: int, zone: Zone) -> bool:
    """Whether the zone's SOA is answered, with its serial unless that is 0."""
    q = dns.message.make_query(zone.origin, "SOA")
    try:
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
    except (dns.exception.DNSException, OSError):
        return False
    return bool(r.rcode() == dns.rcode.NOERROR and r.answer
                and zone.serial in (0, r.answer[0][0].serial))


@dataclass
class PeerProcess:
    """A started peer: its process, its port, where its files are."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    log_path: Path

    def wait_ready(self, zones: list[Zone], timeout: float = 60.0) -> float:
        """Seconds until every zone answers its SOA (see the module's wait_ready)."""
        return wait_ready(self, zones, timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; then whatever is left of its session (children)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: see Peer.start

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of what it printed."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Peer:
    """How to configure and start one kind of DNS server with N workers on a port."""

    name = ""
    program = ""  # the daemon's executable
    version_flag = "-v"
    conf_name = ""  # the configuration file configure() writes into the workdir

    def version(self) -> str:
        """The daemon's version line."""
        return programs.first_line([programs.require(self.program), self.version_flag])

    def missing(self) -> str | None:
        """Why this peer cannot be run here (for a test to fail with), or None."""
        try:
            self.version()
        except Exception as exc:  # noqa: BLE001 - any reason at all is the answer
            return f"{self.name} is needed here (its Debian package): {exc}"
        return None

    def configure(self, workdir: Path, port: int, zones: list[Zone], workers: int) -> list[str]:
        """Write the configuration into `workdir`; return the command that starts it."""
        raise NotImplementedError

    def check(self, workdir: Path) -> None:
        """Check the written configuration with the daemon's own checker, if it has one."""

    def start(self, workdir: Path, zones: list[Zone], *, port: int | None = None,
              workers: int = 1, cpus: str | None = None, check: bool = False,
              extra: str = "") -> PeerProcess:
        """Configure and start it; `cpus` pins it with taskset, `check` checks the
        configuration first (RuntimeError with the checker's words if it is wrong), `extra`
        is appended to the configuration file."""
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port() if port is None else port
        cmd = self.configure(workdir, port, zones, workers)
        if extra:
            with open(workdir / self.conf_name, "a") as conf:
                conf.write(extra)
        if check:
            self.check(workdir)
        log_path = workdir / "server.log"
        with open(log_path, "wb") as out:  # the child keeps its own copy
            proc = subprocess.Popen(programs.pinned(cpus, cmd), stdout=out,
                                    stderr=subprocess.STDOUT, cwd=workdir,
                                    start_new_session=True)
        return PeerProcess(self.name, proc, port, workdir, log_path)


class Nsd(Peer):
    """NSD in the foreground (`nsd -d`), `server-count` workers, rate limiting off;
    `server_options`: more lines of its `server:` clause (`identity: "ns1"`)."""

    name = "NSD"
    program = "nsd"
    conf_name = "nsd.conf"

    def __init__(self, server_options: str = "") -> None:
        self.server_options = "".join(f"  {line.strip()}\n"
                                      for line in server_options.splitlines() if line.strip())

    def configure(self, workdir: Path, port: int, zones: list[Zone], workers: int) -> list[str]:
        w = workdir
        keys = {z.key for z in zones if z.key is not None}
        key_blocks = "".join(f'key:\n  name: {name}\n  algorithm: {algorithm}\n'
                             f'  secret: "{secret}"\n' for name, algorithm, secret in sorted(keys))
        zone_blocks = "".join(
            f"zone:\n  name: {z.origin}\n  zonefile: {z.path}\n"
            + (f"  request-xfr: {z.primary} {_key_name(z)}\n"
               f"  allow-notify: 127.0.0.1 {_key_name(z)}\n"
               f"  provide-xfr: 127.0.0.1 {_key_name(z)}\n"
               + ("  provide-xfr: 127.0.0.1 NOKEY\n" if z.key else "") if z.primary else "")
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
{self.server_options}remote-control:
  control-enable: no
{key_blocks}{zone_blocks}"""
        (w / "nsd.conf").write_text(conf)
        return [programs.require("nsd"), "-d", "-c", str(w / "nsd.conf")]

    def check(self, workdir: Path) -> None:
        checker = programs.require("nsd-checkconf")
        done = subprocess.run([checker, str(workdir / "nsd.conf")], capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise RuntimeError(f"nsd-checkconf: {done.stdout}{done.stderr}")


def _key_name(zone: Zone) -> str:
    return "NOKEY" if zone.key is None else zone.key[0]


class Knot(Peer):
    """knotd in the foreground, `udp-workers` and `tcp-workers` N, journal off."""

    name = "Knot"
    program = "knotd"
    version_flag = "-V"
    conf_name = "knot.conf"

    def configure(self, workdir: Path, port: int, zones: list[Zone], workers: int) -> list[str]:
        w = workdir
        (w / "run").mkdir(exist_ok=True)
        zone_items = "".join(
            f"  - domain: {z.origin}\n    file: \"{z.path}\"\n"
            + (f"    master: primary{i}\n    acl: [notify{i}, provide]\n" if z.primary else "")
            for i, z in enumerate(zones))
        secondary = "".join(
            f"  - id: primary{i}\n    address: {z.primary}\n" + _knot_key(z)
            for i, z in enumerate(zones) if z.primary)
        acls = "".join(
            f"  - id: notify{i}\n    address: {z.primary.split('@')[0]}\n" + _knot_key(z)
            + "    action: notify\n"
            for i, z in enumerate(zones) if z.primary)
        if secondary:  # secondary zones: where from, NOTIFY from there, AXFR to the tests
            acls += "  - id: provide\n    address: 127.0.0.1\n    action: transfer\n"
            secondary = f"{_knot_keys(zones)}remote:\n{secondary}acl:\n{acls}"
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
{secondary}{"zone:" if zones else ""}
{zone_items}"""
        (w / "knot.conf").write_text(conf)
        return [programs.require("knotd"), "-c", str(w / "knot.conf")]

    def check(self, workdir: Path) -> None:
        done = subprocess.run([programs.require("knotc"), "-c", str(workdir / "knot.conf"),
                               "conf-check"], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"knotc conf-check: {done.stdout}{done.stderr}")


def _knot_key(zone: Zone) -> str:
    return "" if zone.key is None else f"    key: {zone.key[0]}\n"


def _knot_keys(zones: list[Zone]) -> str:
    """knot.conf's `key:` section: every key a zone names, or nothing."""
    keys = sorted({z.key for z in zones if z.key is not None})
    items = "".join(f"  - id: {name}\n    algorithm: {algorithm}\n    secret: {secret}\n"
                    for name, algorithm, secret in keys)
    return f"key:\n{items}" if items else ""


class Bind(Peer):
    """named in the foreground (`-g`), `-n N` worker threads, no recursion, no NOTIFY;
    `options`: more statements of its `options` block (`minimal-responses no-auth;`)."""

    name = "BIND"
    program = "named"
    conf_name = "named.conf"

    def __init__(self, options: str = "") -> None:
        self.options = "".join(f"    {line.strip()}\n"
                               for line in options.splitlines() if line.strip())

    def configure(self, workdir: Path, port: int, zones: list[Zone], workers: int) -> list[str]:
        w = workdir
        zone_blocks = "".join(_bind_zone(z) for z in zones)
        key_blocks = "".join(f'key "{name}" {{ algorithm {algorithm}; secret "{secret}"; }};\n'
                             for name, algorithm, secret in
                             sorted({z.key for z in zones if z.key is not None}))
        conf = f"""options {{
    directory "{w}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    pid-file "{w}/named.pid";
    session-keyfile "{w}/session.key";
    recursion no;
    notify no;
    allow-transfer {{ none; }};
{self.options}}};
controls {{ }};
{key_blocks}{zone_blocks}"""
        (w / "named.conf").write_text(conf)
        # -n N: N worker (network) threads, so that one worker means one core's worth.
        return [programs.require("named"), "-g", "-n", str(workers), "-u", "root", "-c",
                str(w / "named.conf")]

    def check(self, workdir: Path) -> None:
        done = subprocess.run([programs.require("named-checkconf"),
                               str(workdir / "named.conf")], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"named-checkconf: {done.stdout}{done.stderr}")


def _bind_zone(zone: Zone) -> str:
    """A named.conf zone block: primary from its file, or secondary of `zone.primary`
    (transfers and NOTIFY signed with its key if it has one; AXFR given to the tests on
    loopback, unsigned)."""
    if not zone.primary:
        return f'zone "{zone.origin}" {{ type primary; file "{zone.path}"; }};\n'
    address, _, port = zone.primary.partition("@")
    key = "" if zone.key is None else f' key "{zone.key[0]}"'
    notifier = address if zone.key is None else f'key "{zone.key[0]}"'
    return (f'zone "{zone.origin}" {{ type secondary; file "{zone.path}"; '
            f"primaries port {port or 53} {{ {address}{key}; }}; "
            f"allow-notify {{ {notifier}; }}; allow-transfer {{ 127.0.0.1; }}; }};\n")


PEERS: dict[str, type[Peer]] = {"nsd": Nsd, "knot": Knot, "bind": Bind}
