"""The servers the benchmarks start: ours from this checkout, and NSD, Knot and BIND.

Ours is testkit.server.ServerProcess (`dnsbackend serve --port 0 --port-file FILE`: it
reports the port it serves on), pinned to CPUs; the peers come from testkit.peers, on a
free port passed to them.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from testkit import programs
from testkit.peers import Bind, Knot, Nsd, Serving, Zone
from testkit.ports import free_port
from testkit.server import ServerProcess

ROOT = Path(__file__).resolve().parent.parent


def cpu_set(cpus: str) -> set[int]:
    """The CPUs of a taskset list such as `0`, `0-1` or `0,2-3`."""
    out: set[int] = set()
    for part in cpus.split(","):
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


@contextlib.contextmanager
def inherited_affinity(cpus: str | None) -> Iterator[None]:
    """Run the block on these CPUs, so that the processes it starts are pinned to them from
    their first instruction, as under `taskset -c CPUS`; then this process's CPUs again."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpu_set(cpus))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


class OurServer:
    """`dnsbackend serve` from this checkout on 127.0.0.1, started pinned to `cpus`."""

    def __init__(self, zones: Path, data: Path, extra: list[str] | None = None,
                 cpus: str | None = None, name: str = "dnsbackend") -> None:
        self.name = name  # the contender's: rows of dnsbackend+metrics are its own
        with inherited_affinity(cpus):
            self.server = ServerProcess(zones, data, extra)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        return self.server.proc

    def output(self) -> str:
        """Everything it has logged."""
        return self.server.output()

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM (then SIGKILL); then whatever is left of its session (writer processes)."""
        self.server.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # ServerProcess starts a session


class Running(Serving, Protocol):
    """A started server, ours or a peer: what wait_ready() sees, and a way to stop it."""

    def stop(self) -> None: ...


class Contender(Protocol):
    """One of the servers compare.py measures: its name, its version, how to start it."""

    @property
    def name(self) -> str: ...

    def version(self) -> str: ...

    def start(self, workdir: Path, zones: list[Zone], *, workers: int = 1,
              cpus: str | None = None) -> Running: ...


class DnsBackend:
    """Our server as a contender: `--workers N`, the zones copied into its own directory."""

    name = "dnsbackend"

    def version(self) -> str:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        v = programs.first_line([sys.executable, "-m", "dnsbackend", "--version"])
        py = platform.python_implementation() + " " + platform.python_version()
        return f"{v} (git {commit or '?'}, {py})"

    def start(self, workdir: Path, zones: list[Zone], *, workers: int = 1,
              cpus: str | None = None) -> OurServer:
        zdir = workdir / "zones"
        zdir.mkdir(parents=True, exist_ok=True)
        for z in zones:  # copies: a zone file must lie in the zones directory itself
            copy = zdir / f"{z.origin}.zone"
            if not copy.exists():
                shutil.copyfile(z.path, copy)
        extra = ["--workers", str(workers)] if workers != 1 else []
        return OurServer(zdir, workdir / "db", extra + self.options(workdir), cpus, self.name)

    def options(self, workdir: Path) -> list[str]:
        """More command-line options for `dnsbackend serve`."""
        return []


class DnsBackendMetrics(DnsBackend):
    """Our server with the Prometheus endpoint on (a free port, never scraped) and response
    rate limiting on with a limit far above the benchmark's rate (so every answer goes out
    and each is accounted), to measure what both cost, as the operations issue asks:
    `--servers dnsbackend,dnsbackend+metrics` runs both in one run."""

    name = "dnsbackend+metrics"

    def options(self, workdir: Path) -> list[str]:
        config = workdir / "metrics.toml"
        config.write_text(f'metrics = "127.0.0.1:{free_port()}"\n'
                          "[rrl]\nresponses_per_second = 1000000\n")
        return ["--config", str(config)]


SERVERS: dict[str, Callable[[], Contender]] = {
    "dnsbackend": DnsBackend, "dnsbackend+metrics": DnsBackendMetrics, "nsd": Nsd,
    "knot": Knot, "bind": Bind}
