"""Free loopback ports, for the peer servers that cannot be started on port 0."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP at the moment of asking."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return int(port)
    raise RuntimeError("no free port")
