"""systemd's readiness protocol (sd_notify(3)): one datagram to $NOTIFY_SOCKET per state change.

Under `Type=notify` systemd waits for READY=1 before it counts the service as started, and
reads RELOADING=1 / STOPPING=1 as what the service is doing. Outside systemd (no
NOTIFY_SOCKET) every call does nothing.
"""

from __future__ import annotations

import os
import socket
import time


def notify(*fields: str) -> bool:
    """Send `fields` ("READY=1", "STATUS=...") to systemd; False when not under it or the
    socket is gone (systemd then has stopped listening: nothing to do about it)."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    target = "\0" + address[1:] if address[0] == "@" else address  # @: the abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(fields).encode(), target)
    except OSError:
        return False
    return True


def reloading() -> bool:
    """RELOADING=1 with the time systemd wants with it (Type=notify-reload)."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=re-reading the settings "
                  "and zone files")
