"""Starting the protocols on bound sockets: batched UDP where the platform allows, TCP."""

from __future__ import annotations

import asyncio
import socket

from ..query.responder import Responder
from ..transfer.service import TransferService
from . import udpbatch
from .divert import Diverted
from .tcp import TCPLimits, TCPProtocol
from .udp import UDPProtocol
from .udpbatch import BatchedUDP

Handle = asyncio.BaseTransport | asyncio.AbstractServer | BatchedUDP


async def serve_sockets(socks: list[socket.socket], responder: Responder,
                        limits: TCPLimits, batched: bool = True,
                        transfers: TransferService | None = None) -> list[Handle]:
    """Start protocols on already bound sockets (UDP batched where the platform allows);
    zone transfers over TCP (and IXFR over UDP) when `transfers` is given."""
    loop = asyncio.get_running_loop()
    handles: list[Handle] = []
    diverted = Diverted(responder, transfers)

    def over_udp(query: bytes, ip: bytes) -> bytes | None:
        return diverted.answer(query, ip, False)

    for sock in socks:
        if sock.type == socket.SOCK_DGRAM and batched and udpbatch.available():
            endpoint = BatchedUDP(sock, responder.batch, diverted=over_udp)
            endpoint.start(loop)
            handles.append(endpoint)
        elif sock.type == socket.SOCK_DGRAM:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: UDPProtocol(responder, diverted), sock=sock)
            handles.append(transport)
        else:
            def factory() -> asyncio.Protocol:
                return TCPProtocol(responder, limits, transfers, diverted)

            server = await loop.create_server(factory, sock=sock)
            handles.append(server)
    return handles
