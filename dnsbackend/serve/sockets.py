"""Listening sockets: UDP and TCP bound together on every address, bind errors that say why."""

from __future__ import annotations

import errno
import logging
import socket

log = logging.getLogger("dnsbackend")

PICK_PORT_ATTEMPTS = 20  # with --port 0: tries to find a port free for both UDP and TCP


class BindError(Exception):
    """A listening socket could not be opened; the message says why and what to do."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno  # of the failed socket call


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
    proto = "UDP" if kind == socket.SOCK_DGRAM else "TCP"
    try:
        sock = socket.socket(family, kind)
    except OSError as exc:
        raise BindError(_bind_message(addr, port, proto, exc), exc.errno) from None
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
        raise BindError(_bind_message(addr, port, proto, exc), exc.errno) from None
    return sock


# IPv6's wildcard and loopback are skipped (with a warning) on a system without IPv6, so
# that the defaults and `--listen 0.0.0.0 --listen ::` work there; any other address that
# cannot be bound is an error.
_IPV6_IF_AVAILABLE = ("::", "::1")
_NO_IPV6 = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL)


def open_sockets(addrs: list[str], port: int, reuse_port: bool) -> list[socket.socket]:
    """Bind UDP and TCP on every address (all or nothing); raise BindError saying why."""
    socks: list[socket.socket] = []
    try:
        for addr in addrs:
            try:
                socks += _bind_pair(addr, port, reuse_port)
            except BindError as exc:
                if addr not in _IPV6_IF_AVAILABLE or exc.errno not in _NO_IPV6 or \
                        len(addrs) == 1:
                    raise
                log.warning("%s; IPv6 is not available here, so %s is not listened on",
                            exc, addr)
                continue
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
