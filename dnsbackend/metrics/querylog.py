"""The query log (setting `query_log`): one line per query answered, written off the query path.

The network layer appends each answered query to a bounded buffer (serve/querylog.py).
Ten times a second the event loop takes the buffer, formats its lines (what a response
says is read once per distinct response, as for the metrics) and hands them as one chunk
to a writer thread through a bounded queue. A full buffer or a full queue (a slow disk)
drops lines and counts them; answers never wait for the log. Each chunk is one write(2) to
a file opened O_APPEND, so the lines of several workers never interleave; a file renamed
away (logrotate) is reopened under its name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime

import dns.exception
import dns.name

from ..serve.querylog import QueryLogBuffer
from ..store.snapshot import Reader, Snapshot
from .tally import Tally

FLUSH_SECONDS = 0.1
CHUNKS_QUEUED = 50  # chunks waiting for the writer thread before lines are dropped
NAMES_KEPT = 100_000  # question names decoded and remembered
_AF_INET6 = socket.AF_INET6.value


def client_text(client: object) -> str:
    """`address#port` of a client as the socket layer gave it: a struct sockaddr's bytes
    (batched UDP, Linux layout) or asyncio's (address, port, ...) tuple."""
    if isinstance(client, tuple):
        return f"{client[0]}#{client[1]}"
    if isinstance(client, bytes) and len(client) >= 8:
        family = int.from_bytes(client[:2], sys.byteorder)
        port = int.from_bytes(client[2:4], "big")
        if family == _AF_INET6 and len(client) >= 24:
            return f"{socket.inet_ntop(socket.AF_INET6, client[8:24])}#{port}"
        return f"{socket.inet_ntop(socket.AF_INET, client[4:8])}#{port}"
    return "?"


class QueryLog:
    """Formats the buffer's queries into lines and writes them (a thread does the writing)."""

    def __init__(self, path: str, worker: int, buffer: QueryLogBuffer, reader: Reader) -> None:
        self.path = path
        self.worker = str(worker)
        self.buffer = buffer
        self.reader = reader
        self.tally = Tally()
        self.names: dict[bytes, str] = {}
        self.chunks: queue.Queue[bytes | None] = queue.Queue(CHUNKS_QUEUED)
        self.dropped = 0  # lines dropped because the writer fell behind
        self.second = -1
        self.second_text = ""
        self.fd = self._open()  # here, so that a path that cannot be opened fails the start
        self.thread = threading.Thread(target=self._write, name="query-log", daemon=True)
        self.thread.start()

    def counted_drops(self) -> Callable[[], int]:
        """The lines dropped so far, for the metrics: of the buffer and of the writer."""
        return lambda: self.buffer.dropped + self.dropped

    def _open(self) -> int:
        if self.path == "-":
            return sys.stdout.fileno()
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(FLUSH_SECONDS)
                self.flush()
        finally:
            self.flush()
            self.chunks.put(None)  # waits for room: the writer thread is draining
            self.thread.join(5)

    def flush(self) -> None:
        entries = self.buffer.take()
        if not entries:
            return
        snapshot = self.reader.snapshot()
        lines = [self.line(when, client, response, tcp, snapshot)
                 for when, client, response, tcp in entries]
        try:
            self.chunks.put_nowait("".join(lines).encode())
        except queue.Full:
            self.dropped += len(lines)

    def line(self, when: float, client: object, response: bytes, tcp: bool,
             snapshot: Snapshot) -> str:
        """time client name type rcode size zone worker (transport after the client)."""
        labels = self.tally.response_labels(response, snapshot)
        return (f"{self._time(when)} {client_text(client)} {'tcp' if tcp else 'udp'} "
                f"{self._name(response)} {labels.qtype or '-'} {labels.rcode} "
                f"{len(response)} {labels.zone} {self.worker}\n")

    def _time(self, when: float) -> str:
        second = int(when)
        if second != self.second:
            self.second = second
            self.second_text = datetime.fromtimestamp(second).astimezone().isoformat()
        # 2026-12-01T19:25:03+00:00 -> 2026-12-01T19:25:03.123+00:00
        at = 19
        return f"{self.second_text[:at]}.{int((when - second) * 1000):03d}{self.second_text[at:]}"

    def _name(self, response: bytes) -> str:
        if len(response) < 12 or not (response[4] or response[5]):
            return "-"  # no question (a FORMERR for a header alone)
        end = 12
        while end < len(response) and response[end] and end < 12 + 256:
            end += response[end] + 1
        question = response[12:end + 1]
        name = self.names.get(question)
        if name is None:
            try:
                name = dns.name.from_wire(question, 0)[0].to_text() if question else "-"
            except (dns.exception.DNSException, IndexError):
                name = "-"
            if len(self.names) >= NAMES_KEPT:
                self.names.clear()
            self.names[question] = name
        return name

    def _write(self) -> None:
        """The writer thread: one write(2) per chunk; reopens a file renamed away."""
        checked = time.monotonic()
        while True:
            chunk = self.chunks.get()
            if chunk is None:
                break
            if self.path != "-" and time.monotonic() - checked >= 1.0:
                checked = time.monotonic()
                self._reopen_if_moved()
            view = memoryview(chunk)
            with contextlib.suppress(OSError):  # a full disk: the lines are lost
                while view:
                    view = view[os.write(self.fd, view):]
        if self.path != "-":
            os.close(self.fd)

    def _reopen_if_moved(self) -> None:
        try:
            same = os.path.samestat(os.stat(self.path), os.fstat(self.fd))
        except OSError:
            same = False
        if not same:
            with contextlib.suppress(OSError):
                fd = self._open()
                os.close(self.fd)
                self.fd = fd
