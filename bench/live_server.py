"""bench/live.py's server under test, its placement on cores, and the UDP probes that watch it."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dns.message

from testkit.procs import process_tree

from .live_zone import LiveZone
from .servers import OurServer

SERVE_CORE = 0
LOAD_CORE = 1
POLL_INTERVAL = 0.001  # seconds between polls of the visibility prober


def pin(pid: int, core: int | None) -> None:
    """Move a process (0: this one) to one core; a process already gone is left alone."""
    if core is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {core})


@dataclass
class Share:
    """How the serving process spent a window, as shares of its length."""

    cpu: float  # running (all threads)
    waiting: float  # main thread runnable, waiting for its core

    @classmethod
    def between(cls, before: tuple[float, float], after: tuple[float, float],
                seconds: float) -> Share:
        return cls((after[0] - before[0]) / seconds, (after[1] - before[1]) / seconds)

    def us_per_query(self, qps: float | None) -> float | None:
        """CPU microseconds the serving process spent per answered query."""
        return self.cpu / qps * 1e6 if qps else None


class LiveServer(OurServer):
    """Our server on the serve core (when pinned); its writers moved to the load core."""

    def __init__(self, zones: Path, data: Path, pinned: bool) -> None:
        super().__init__(zones, data, cpus=str(SERVE_CORE) if pinned else None)
        self.pinned = pinned
        self.pinned_children: set[int] = set()
        self.pin_writers()

    def pin_writers(self) -> None:
        """Move writer processes to the load core, new ones too (pools start them lazily)."""
        if not self.pinned:
            return
        for child in process_tree(self.proc.pid)[1:]:
            if child not in self.pinned_children:
                pin(child, LOAD_CORE)
                self.pinned_children.add(child)

    def loads(self, origin: str) -> int:
        """How many times the log says `origin` was loaded."""
        return self.output().count(f"zone {origin} loaded:")

    def check_alive(self) -> None:
        """Raise if the server died; called about once a second, so it re-pins too."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"server died: {self.output()[-2000:]}")
        self.pin_writers()


def make_query(name: str, rdtype: str = "A") -> bytes:
    """A question without EDNS, flags all clear, as wire."""
    query = dns.message.make_query(name, rdtype, use_edns=False)
    query.flags = 0
    return bytes(query.to_wire())


class Prober:
    """One UDP socket asking prebuilt questions one at a time."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setblocking(False)

    def ask(self, query: bytes, timeout: float = 1.0) -> tuple[bytes | None, float]:
        """(response or None on timeout, seconds from send to receipt)."""
        sock = self.sock
        with contextlib.suppress(BlockingIOError):
            while True:
                sock.recv(4096)  # late answers to earlier questions
        started = time.perf_counter()
        sock.send(query)
        while True:
            left = timeout - (time.perf_counter() - started)
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                return None, time.perf_counter() - started
            response = sock.recv(4096)
            if response[:2] == query[:2]:
                return response, time.perf_counter() - started

    def close(self) -> None:
        self.sock.close()


class Watch:
    """Polls a name (every millisecond by default) until an answer shows a wanted value."""

    def __init__(self, port: int, name: str, interval: float = POLL_INTERVAL) -> None:
        self.prober = Prober(port)
        self.query = make_query(name)
        self.interval = interval
        self.glitches = 0  # answers that were neither the old nor the new content

    def until(self, new: bytes, old: bytes | None, timeout: float,
              alive: Callable[[], None]) -> float | None:
        """Poll until an answer holds `new`; return time.perf_counter() of that answer."""
        deadline = time.perf_counter() + timeout
        next_check = time.perf_counter() + 1.0
        while True:
            sent = time.perf_counter()
            response, _ = self.prober.ask(self.query)
            now = time.perf_counter()
            if response is not None:
                if new in response:
                    return now
                if old is not None and old not in response:
                    self.glitches += 1
            if now > deadline:
                return None
            if now > next_check:
                alive()
                next_check = now + 1.0
            pause = self.interval - (time.perf_counter() - sent)
            if pause > 0:
                time.sleep(pause)


def wait_served(port: int, zones: list[LiveZone], timeout: float,
                alive: Callable[[], None]) -> None:
    """Until each zone's probe answers with the zone's current address."""
    for zone in zones:
        watch = Watch(port, f"probe.{zone.origin}", interval=0.05)
        if watch.until(LiveZone.address(zone.serial), None, timeout, alive) is None:
            raise RuntimeError(f"{zone.origin} not served after {timeout}s")
        watch.prober.close()


def wait_watching(server: LiveServer, zone: LiveZone, attempts: int = 10) -> int:
    """Edit `zone` until an edit shows up, so that measurements start with a working watcher.

    Before commit f0578ff the watcher started only after the start-up load, and a file
    written in between was not read again until it changed once more; this benchmark hit
    that gap. Returns how many edits it took (1 since the fix).
    """
    watch = Watch(server.port, f"probe.{zone.origin}")
    try:
        for attempt in range(1, attempts + 1):
            edit = zone.serial + 1
            zone.write(edit, "replace")
            if watch.until(LiveZone.address(edit), None, 2.0, server.check_alive) is not None:
                return attempt
        raise RuntimeError(f"no edit of {zone.origin} showed up in {attempts} tries")
    finally:
        watch.prober.close()
