"""DNS over TCP for the tests, raw: one length-prefixed message read off a socket."""

from __future__ import annotations

import socket
import struct


def read_exactly(sock: socket.socket, size: int) -> bytes:
    """`size` bytes, however the kernel splits them; AssertionError if the peer closes."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data


def read_message(sock: socket.socket) -> bytes:
    """The next DNS message on a TCP connection (RFC 7766: two bytes of length first)."""
    size = struct.unpack("!H", read_exactly(sock, 2))[0]
    return read_exactly(sock, size)
