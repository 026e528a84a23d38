"""DNS over TCP (RFC 7766): length-prefixed messages answered in order, with back-pressure."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import cast

from ..query.edns import Client
from ..query.responder import DIVERT, Responder
from ..transfer.service import Outgoing, TransferService, is_transfer
from .counters import SERVE
from .divert import Diverted

log = logging.getLogger("dnsbackend")

TCP_WRITE_BATCH = 16384  # bytes of answers gathered before a write on a TCP connection
TRANSFER_SLICE = 0.002  # seconds a transfer streams before the event loop looks at queries
TRANSFER_SHARE = 0.2  # of the loop's time transfers take, together, while queries come in


class TransferPacer:
    """Zone transfers take turns in slices of TRANSFER_SLICE, one connection after another,
    and while queries are coming in they get TRANSFER_SHARE of the event loop's time
    together: a secondary pulling a big zone (or several) cannot starve the queries, and
    without queries a transfer runs flat out."""

    def __init__(self, share: float = TRANSFER_SHARE, slice_s: float = TRANSFER_SLICE) -> None:
        self.share = share
        self.slice = slice_s
        self.waiting: deque[Callable[[], None]] = deque()
        self.timer: asyncio.Handle | None = None
        self.running = False
        self.activity: Callable[[], int] = lambda: 0  # TCPProtocol sets the responder's
        self.seen = 0

    def wait(self, resume: Callable[[], None]) -> None:
        """Call `resume` (one slice of a transfer) in its turn."""
        self.waiting.append(resume)
        if self.timer is None and not self.running:
            self.timer = asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        self.timer = None
        if not self.waiting:
            return
        resume = self.waiting.popleft()
        start = time.perf_counter()
        self.running = True
        try:
            resume()  # one slice; it waits again if there is more to send
        finally:
            self.running = False
        spent = time.perf_counter() - start
        activity = self.activity()
        busy, self.seen = activity != self.seen, activity
        if self.waiting:
            loop = asyncio.get_running_loop()
            if busy:  # queries came in during the slice: let them have the loop
                self.timer = loop.call_later(spent * (1 / self.share - 1), self._run)
            else:
                self.timer = loop.call_soon(self._run)


class TCPLimits:
    """How many TCP connections are served at once, how long a quiet one is kept, and how
    their transfers share the event loop."""

    def __init__(self, max_connections: int, idle_timeout: float) -> None:
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.open = 0
        self.pacer = TransferPacer()


class TCPProtocol(asyncio.Protocol):
    """RFC 7766: length-prefixed messages, answered in order as they arrive, idle timeout.

    A client that sends queries but does not read the answers is not read from either
    (pause_writing), so its answers never pile up in memory; if it still reads nothing for
    the idle timeout, the connection is dropped without waiting to flush.
    """

    def __init__(self, responder: Responder, limits: TCPLimits,
                 transfers: TransferService | None = None,
                 diverted: Diverted | None = None) -> None:
        self.responder = responder
        self.limits = limits
        self.transfers = transfers  # None: AXFR and IXFR go to the responder (REFUSED)
        self.diverted = Diverted(responder, transfers) if diverted is None else diverted
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.idle: asyncio.TimerHandle | None = None
        self.blocked = False  # our answers wait in the write buffer: stop answering
        self.sending: Outgoing | None = None  # a transfer being streamed
        self.sending_since = 0.0
        # The transfer's next message, made before it waited for its turn or the client: so
        # that a transfer whose last message is written is done (and logged) then, not at a
        # turn that never comes when the client has read it all and gone.
        self.ahead: bytes | None = None
        limits.pacer.activity = lambda: responder.activity

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = self.transport = cast(asyncio.Transport, transport)
        if self.limits.open >= self.limits.max_connections:
            transport.close()
            return
        self.limits.open += 1
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._drop_transfer()
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
            if self.sending is not None:
                self.limits.pacer.wait(self._paced)
            else:
                self._answer_buffered()
            self._arm()

    def _drop_transfer(self) -> None:
        if self.sending is not None:
            close = getattr(self.sending.messages, "close", None)
            if close is not None:
                close()  # lets go of the version it pinned
            self.sending = None
            self.ahead = None

    def _paced(self) -> None:
        """The transfer's turn (TransferPacer): one more slice, then the queries after it."""
        transport = self.transport
        if self.sending is None or self.blocked or transport is None or transport.is_closing():
            return  # gone, or resume_writing will ask for the next turn
        if self._send_transfer():
            self._answer_buffered()

    def _send_transfer(self) -> bool:
        """Send one slice of the transfer under way, until the client falls behind or the
        slice is over (then wait for the next turn); True once it is all sent (or none is
        under way)."""
        outgoing = self.sending
        if outgoing is None:
            return True
        transport = self.transport
        assert transport is not None
        pacer = self.limits.pacer
        end = time.perf_counter() + pacer.slice
        message, self.ahead = self.ahead or next(outgoing.messages, None), None
        while message is not None:
            transport.write(struct.pack("!H", len(message)) + message)  # may pause us
            message = next(outgoing.messages, None)
            if message is not None and self.blocked:
                self.ahead = message
                self._arm()  # a slow secondary still counts as busy, not idle
                return False
            if message is not None and time.perf_counter() >= end:
                self.ahead = message
                pacer.wait(self._paced)
                return False
        self.sending = None
        seconds = asyncio.get_running_loop().time() - self.sending_since
        log.info("%s", outgoing.describe(seconds))
        kind = outgoing.kind.split(" ", 1)[0]  # "refused (why)" counts as refused
        SERVE.transfers[kind] = SERVE.transfers.get(kind, 0) + 1
        return True

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
        if self.sending is not None:
            return  # the transfer goes first; resume_writing carries on with it
        out: list[bytes] = []
        pending = 0
        while not self.blocked:
            message = self._take()
            if message is None:
                break
            if not message:
                # Not a DNS message: no way to resynchronize. Answers so far still go out.
                transport.write(b"".join(out))
                transport.close()
                return
            if self.transfers is not None and is_transfer(message):
                transport.write(b"".join(out))  # the answers before it go first
                out.clear()
                pending = 0
                if not self._start_transfer(message):
                    return
                continue
            framed = self._answer(message, transport)
            if framed is not None:
                out.append(framed)
                pending += len(framed)
                if pending >= TCP_WRITE_BATCH:
                    transport.write(b"".join(out))  # may call pause_writing
                    out.clear()
                    pending = 0
        if out:
            transport.write(b"".join(out))

    def _respond(self, message: bytes) -> bytes | None:
        response = self.responder.respond(message, True)
        if response is None or len(response) >= 12:
            return response
        assert self.transport is not None
        peer = _peer(self.transport)
        ip = ipaddress.ip_address(peer).packed if peer else bytes(4)
        if response == DIVERT:  # a signed query (see query.responder)
            return self.diverted.answer(message, ip, True)
        # NEEDS_CLIENT: the answer depends on who asked.
        return self.responder.respond_from(message, True, Client(ip, time.time()))

    def _answer(self, message: bytes, transport: asyncio.Transport) -> bytes | None:
        """The answer to one query, length first; None when there is none."""
        response = self._respond(message)
        if response is None:
            return None
        if SERVE.query_log is not None:
            SERVE.query_log.add(transport.get_extra_info("peername"), response, True)
        return struct.pack("!H", len(response)) + response

    def _take(self) -> bytes | None:
        """The next complete message of the buffer; None when there is none yet, b"" when
        the length in front cannot be a DNS message's."""
        buf = self.buffer
        if len(buf) < 2:
            return None
        size = (buf[0] << 8) | buf[1]
        if size < 12:
            return b""
        if len(buf) < 2 + size:
            return None
        message = bytes(buf[2 : 2 + size])
        del buf[: 2 + size]
        return message

    def _start_transfer(self, message: bytes) -> bool:
        """Start answering a transfer request; True once it is all sent."""
        assert self.transfers is not None and self.transport is not None
        self.sending = self.transfers.start(message, _peer(self.transport))
        self.sending_since = asyncio.get_running_loop().time()
        return self._send_transfer()

def _peer(transport: asyncio.Transport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if peer else ""
