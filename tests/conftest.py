"""Shared test helpers: run the real server process and query it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def free_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP at the moment of asking."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return int(port)
    raise RuntimeError("no free port")


def stop_process(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """SIGTERM, then SIGKILL if it has not gone within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class ServerProcess:
    """`dnsbackend serve` in a child process on a kernel-chosen port of 127.0.0.1."""

    def __init__(self, zones: Path, data: Path, extra: list[str] | None = None,
                 config: Path | None = None) -> None:
        self.zones = zones
        self.data = data
        self.log_path = data.parent / f"server-{os.getpid()}-{id(self)}.log"
        args = [sys.executable, "-m", "dnsbackend", "serve", "--zones", str(zones),
                "--data", str(data), "--listen", "127.0.0.1", "--port", "0"]
        if config is not None:
            args += ["--config", str(config)]
        args += extra or []
        self.log = open(self.log_path, "w+")  # noqa: SIM115 - closed in stop()
        # Its own session, so that a test can kill it together with its writer processes.
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=str(zones.parent), start_new_session=True)
        self.port = self._wait_for_port()

    def _wait_for_port(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text()
            m = re.search(r"listening on 127\.0\.0\.1 port (\d+)", text)
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {text}")
            time.sleep(0.02)
        raise RuntimeError(f"server did not start: {self.log_path.read_text()}")

    def output(self) -> str:
        return self.log_path.read_text()

    def query(self, name: str, rdtype: str = "A", tcp: bool = False, edns: bool = False,
              rd: bool = False, timeout: float = 2.0) -> dns.message.Message:
        q = dns.message.make_query(name, rdtype, use_edns=0 if edns else False)
        if not rd:
            q.flags &= ~dns.flags.RD
        if tcp:
            return dns.query.tcp(q, "127.0.0.1", port=self.port, timeout=timeout)
        return dns.query.udp(q, "127.0.0.1", port=self.port, timeout=timeout)

    def wait_until(self, name: str, rdtype: str, predicate: object,
                   timeout: float = 30.0) -> dns.message.Message:
        """Query until `predicate(response)` holds; fail with the last response otherwise."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.query(name, rdtype, timeout=1.0)
                if predicate(last):  # type: ignore[operator]
                    return last
            except dns.exception.Timeout:
                pass
            time.sleep(0.02)
        raise AssertionError(f"condition not met for {name} {rdtype}; last: {last}\n"
                             f"server log:\n{self.output()}")

    def wait_served(self, origin: str, timeout: float = 60.0) -> None:
        self.wait_until(origin, "SOA", lambda r: r.rcode() == dns.rcode.NOERROR and r.answer,
                        timeout)

    def kill_all(self) -> None:
        """SIGKILL the server and its writer processes at once, as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[object]:
    started: list[ServerProcess] = []

    def start(zones: Path | None = None, extra: list[str] | None = None,
              config: Path | None = None) -> ServerProcess:
        zones = zones or tmp_path / "zones"
        zones.mkdir(exist_ok=True)
        srv = ServerProcess(zones, tmp_path / "db", extra, config)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
