"""DNS over TCP (RFC 7766): length-prefixed messages answered in order, with back-pressure."""

from __future__ import annotations

import asyncio
import struct
from typing import cast

from ..query.responder import Responder

TCP_WRITE_BATCH = 16384  # bytes of answers gathered before a write on a TCP connection


class TCPLimits:
    """How many TCP connections are served at once, and how long a quiet one is kept."""

    def __init__(self, max_connections: int, idle_timeout: float) -> None:
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.open = 0


class TCPProtocol(asyncio.Protocol):
    """RFC 7766: length-prefixed messages, answered in order as they arrive, idle timeout.

    A client that sends queries but does not read the answers is not read from either
    (pause_writing), so its answers never pile up in memory; if it still reads nothing for
    the idle timeout, the connection is dropped without waiting to flush.
    """

    def __init__(self, responder: Responder, limits: TCPLimits) -> None:
        self.responder = responder
        self.limits = limits
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.idle: asyncio.TimerHandle | None = None
        self.blocked = False  # our answers wait in the write buffer: stop answering

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = self.transport = cast(asyncio.Transport, transport)
        if self.limits.open >= self.limits.max_connections:
            transport.close()
            return
        self.limits.open += 1
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
            self.limits.open -= 1

    def _arm(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        loop = asyncio.get_running_loop()
        self.idle = loop.call_later(self.limits.idle_timeout, self._timeout)

    def _timeout(self) -> None:
        if self.transport is not None:
            if self.blocked:
                self.transport.abort()  # close() would wait for a client that never reads
            else:
                self.transport.close()

    def pause_writing(self) -> None:
        self.blocked = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.blocked = False
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()
            self._answer_buffered()
            self._arm()

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self.buffer += data
        self._answer_buffered()
        self._arm()

    def _answer_buffered(self) -> None:
        """Answer the complete messages in the buffer until the client falls behind."""
        transport = self.transport
        assert transport is not None
        buf = self.buffer
        out: list[bytes] = []
        pending = 0
        while len(buf) >= 2 and not self.blocked:
            size = (buf[0] << 8) | buf[1]
            if size < 12:
                # Not a DNS message: no way to resynchronize. Answers so far still go out.
                transport.write(b"".join(out))
                transport.close()
                return
            if len(buf) < 2 + size:
                break
            message = bytes(buf[2 : 2 + size])
            del buf[: 2 + size]
            response = self.responder.respond(message, True)
            if response is not None:
                out.append(struct.pack("!H", len(response)) + response)
                pending += len(response)
                if pending >= TCP_WRITE_BATCH:
                    transport.write(b"".join(out))  # may call pause_writing
                    out.clear()
                    pending = 0
        if out:
            transport.write(b"".join(out))
