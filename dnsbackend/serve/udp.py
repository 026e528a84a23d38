"""UDP, one datagram per callback: where batched UDP (udpbatch.py) is not available."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import cast

from ..query.responder import DIVERT, Responder
from .counters import SERVE
from .divert import Diverted


class UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder, diverted: Diverted | None = None) -> None:
        self.responder = responder
        self.diverted = Diverted(responder, None) if diverted is None else diverted
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        answering = self.responder.batch()
        limiter = answering.rate_limiter()
        response = answering.respond(data)
        if limiter is not None or (response is not None and len(response) < 12):
            ip = ipaddress.ip_address(addr[0]).packed
            if response == DIVERT:  # signed, or an IXFR (see query.responder)
                response = self.diverted.answer(data, ip, False)
            else:  # NEEDS_CLIENT, or rate limiting on
                response = answering.finish(data, response, ip, time.time(), limiter)
        if response is not None and self.transport is not None:
            self.transport.sendto(response, addr)
            if SERVE.query_log is not None:
                SERVE.query_log.add(addr, response, False)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors for earlier replies: nothing to do
