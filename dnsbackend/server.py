"""The network layer: asyncio UDP and TCP protocols that move bytes to the answer engine."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import struct
from collections.abc import Callable
from typing import cast

from . import udpbatch
from .fastpath import Responder
from .udpbatch import BatchedUDP

log = logging.getLogger("dnsbackend")

TCP_WRITE_BATCH = 16384  # bytes of answers gathered before a write on a TCP connection
PICK_PORT_ATTEMPTS = 20  # with --port 0: tries to find a port free for both UDP and TCP


class BindError(Exception):
    """A listening socket could not be opened; the message says why and what to do."""


class UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder) -> None:
        self.respond = responder.respond
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        response = self.respond(data, False)
        if response is not None and self.transport is not None:
            self.transport.sendto(response, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors for earlier replies: nothing to do


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


class TCPLimits:
    def __init__(self, max_connections: int, idle_timeout: float) -> None:
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.open = 0


def _bind_message(addr: str, port: int, proto: str, exc: OSError) -> str:
    why = exc.strerror or str(exc)
    if exc.errno == errno.EACCES:
        hint = ("ports below 1024 need root or the CAP_NET_BIND_SERVICE capability "
                "(setcap 'cap_net_bind_service=+ep' on the python binary), or use --port 5353")
    elif exc.errno == errno.EADDRINUSE:
        hint = "another program is listening there (another DNS server?); stop it or use --port"
    elif exc.errno == errno.EADDRNOTAVAIL:
        hint = "that address is not configured on this machine; check --listen"
    else:
        hint = "check --listen and --port"
    return f"cannot listen on {addr} port {port} ({proto}): {why}; {hint}"


def make_socket(addr: str, port: int, kind: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_DGRAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind((addr, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(1024)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        proto = "UDP" if kind == socket.SOCK_DGRAM else "TCP"
        raise BindError(_bind_message(addr, port, proto, exc)) from None
    return sock


def open_sockets(addrs: list[str], port: int, reuse_port: bool) -> list[socket.socket]:
    """Bind UDP and TCP on every address (all or nothing); raise BindError saying why."""
    socks: list[socket.socket] = []
    try:
        for addr in addrs:
            socks += _bind_pair(addr, port, reuse_port)
            # With port 0 the first address picks the number; the others take the same one.
            port = socks[0].getsockname()[1]
    except BindError:
        for s in socks:
            s.close()
        raise
    return socks


def _bind_pair(addr: str, port: int, reuse_port: bool) -> list[socket.socket]:
    """UDP and TCP on one address and port; with port 0, one the kernel picks that is free
    for both (the UDP port it picks may be taken for TCP, e.g. by an outgoing connection)."""
    tries = 1 if port else PICK_PORT_ATTEMPTS
    while True:
        udp = make_socket(addr, port, socket.SOCK_DGRAM, reuse_port)
        try:
            tcp = make_socket(addr, udp.getsockname()[1], socket.SOCK_STREAM, reuse_port)
        except BindError:
            udp.close()
            tries -= 1
            if tries == 0:
                raise
            continue
        return [udp, tcp]


Handle = asyncio.BaseTransport | asyncio.AbstractServer | BatchedUDP


async def serve_sockets(socks: list[socket.socket], responder: Responder,
                        limits: TCPLimits, batched: bool = True) -> list[Handle]:
    """Start protocols on already bound sockets (UDP batched where the platform allows)."""
    loop = asyncio.get_running_loop()
    handles: list[Handle] = []
    for sock in socks:
        if sock.type == socket.SOCK_DGRAM and batched and udpbatch.available():
            endpoint = BatchedUDP(sock, responder.batch)
            endpoint.start(loop)
            handles.append(endpoint)
        elif sock.type == socket.SOCK_DGRAM:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: UDPProtocol(responder), sock=sock)
            handles.append(transport)
        else:
            factory: Callable[[], asyncio.Protocol] = lambda: TCPProtocol(responder, limits)  # noqa: E731
            server = await loop.create_server(factory, sock=sock)
            handles.append(server)
    return handles
