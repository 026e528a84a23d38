"""Our server, `dnsbackend serve`, in a child process on a port of 127.0.0.1 the kernel picks.

The server is started with `--port 0 --port-file FILE` and writes the port it serves on to
FILE once its sockets answer; nothing is read from its log but for error messages.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode

from .procs import stop_process

Predicate = Callable[[dns.message.Message], object]


class ServerProcess:
    """`dnsbackend serve` in a child process on a kernel-chosen port of 127.0.0.1."""

    def __init__(self, zones: Path, data: Path, extra: list[str] | None = None,
                 config: Path | None = None) -> None:
        self.zones = zones
        self.data = data
        stem = data.parent / f"server-{os.getpid()}-{id(self)}"
        self.log_path = stem.with_suffix(".log")
        self.port_path = stem.with_suffix(".port")
        with contextlib.suppress(FileNotFoundError):
            self.port_path.unlink()  # left by an earlier server of the same name
        args = [sys.executable, "-m", "dnsbackend", "serve", "--zones", str(zones),
                "--data", str(data), "--listen", "127.0.0.1", "--port", "0",
                "--port-file", str(self.port_path.resolve())]
        if config is not None:
            args += ["--config", str(config)]
        args += extra or []
        self.log = open(self.log_path, "w+")  # noqa: SIM115 - closed in stop()
        # Its own session, so that a test can kill it together with its writer processes.
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=str(zones.parent), start_new_session=True)
        self.port = self._wait_for_port()

    def _wait_for_port(self, timeout: float = 20.0) -> int:
        """The port the server wrote to its port file (written whole, by a rename)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError):
                return int(self.port_path.read_text())
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()}")
            time.sleep(0.02)
        raise RuntimeError(f"server did not start: {self.output()}")

    def output(self) -> str:
        """Everything the server has logged so far."""
        return self.log_path.read_text()

    def wait_logged(self, text: str, timeout: float = 30.0) -> str:
        """Wait until the server has logged `text`; return the log. A log line follows the
        event it reports, sometimes after the event is visible to queries."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.output()
            if text in out:
                return out
            if time.monotonic() > deadline:
                raise AssertionError(f"not logged within {timeout} s: {text}\n{out}")
            time.sleep(0.02)

    def query(self, name: str, rdtype: str = "A", tcp: bool = False, edns: bool = False,
              rd: bool = False, timeout: float = 2.0) -> dns.message.Message:
        """One query, without EDNS and RD unless asked, over UDP unless asked."""
        q = dns.message.make_query(name, rdtype, use_edns=0 if edns else False)
        if not rd:
            q.flags &= ~dns.flags.RD
        if tcp:
            return dns.query.tcp(q, "127.0.0.1", port=self.port, timeout=timeout)
        return dns.query.udp(q, "127.0.0.1", port=self.port, timeout=timeout)

    def wait_until(self, name: str, rdtype: str, predicate: Predicate,
                   timeout: float = 30.0) -> dns.message.Message:
        """Query until `predicate(response)` holds; fail with the last response otherwise."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.query(name, rdtype, timeout=1.0)
                if predicate(last):
                    return last
            except dns.exception.Timeout:
                pass
            time.sleep(0.02)
        raise AssertionError(f"condition not met for {name} {rdtype}; last: {last}\n"
                             f"server log:\n{self.output()}")

    def wait_served(self, origin: str, timeout: float = 60.0) -> None:
        """Wait until the zone's SOA is answered."""
        self.wait_until(origin, "SOA", lambda r: r.rcode() == dns.rcode.NOERROR and r.answer,
                        timeout)

    def kill_all(self) -> None:
        """SIGKILL the server and its writer processes at once, as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        """SIGTERM (then SIGKILL), and close the log."""
        stop_process(self.proc)
        self.log.close()


class StartServer(Protocol):
    """The `server_factory` fixture: start a server on `zones` (default `tmp_path/zones`),
    stopped when the test ends."""

    def __call__(self, zones: Path | None = None, extra: list[str] | None = None,
                 config: Path | None = None) -> ServerProcess: ...


def serve_one_zone(start: StartServer, root: Path, origin: str, text: str,
                   settings: str | None = None) -> tuple[ServerProcess, Path]:
    """Write `text` as the zone file of `origin` in `root/zones` (and `settings`, if any, as
    `root/dnsbackend.toml`), start a server on it and wait until the zone is served."""
    zones = root / "zones"
    zones.mkdir(exist_ok=True)
    path = zones / f"{origin}zone"
    path.write_text(text)
    config = None
    if settings is not None:
        config = root / "dnsbackend.toml"
        config.write_text(settings)
    srv = start(zones, config=config)
    srv.wait_served(origin)
    return srv, path
