"""Batched UDP on Linux: up to BATCH queries per recvmmsg(2) and their answers per sendmmsg(2).

One datagram per system call (what asyncio's datagram transports do) spends more time in
the kernel's entry, the loop's callback and the address tuple than in answering a query
from the memo; NSD and Knot read and write a batch per call, and so does this endpoint.
It is the same thin layer as UDPProtocol: bytes in, the responder's answer, bytes out;
the queries of one batch are answered from one snapshot of the store. The buffers,
message headers and their pointers are laid out once; per batch only lengths are
written. Where recvmmsg is not available, the server uses UDPProtocol.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import socket
import struct
import time
from collections.abc import Callable
from typing import Any, Final

from mypy_extensions import i64

from ..query.responder import DIVERT, OneSnapshot
from ..query.rrl import DROP, PASS, SLIP, V6_PREFIX, RateLimiter
from .counters import SERVE

log = logging.getLogger("dnsbackend")

BATCH: Final = 64  # datagrams per system call
RECV_SLOT: Final = 4096  # bytes kept of a query; longer ones arrive truncated and are dropped
SEND_SLOT: Final = 4096  # the largest EDNS payload size the settings allow
NAME_SLOT: Final = 128  # sizeof(struct sockaddr_storage)
MSG_DONTWAIT: Final = 0x40
MSG_TRUNC: Final = 0x20
_FAMILY6: Final = struct.pack("=H", socket.AF_INET6)  # sa_family of sockaddr_in6, as stored
_V4_MAPPED: Final = b"\x00" * 10 + b"\xff\xff"  # ::ffff:0:0/96


# struct mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; } and struct iovec, laid
# out by struct's native alignment (the C compiler's): msghdr is name, namelen, iov,
# iovlen, control, controllen, flags.
_MSGHDR = "PIPNPNi"


def _offset(fields: str, index: int) -> int:
    return struct.calcsize("@" + fields[: index + 1]) - struct.calcsize("@" + fields[index])


def _aligned(size: int) -> int:
    align = struct.calcsize("@P")
    return (size + align - 1) // align * align


_NAME_OFF: Final = _offset(_MSGHDR, 0)
_NAMELEN_OFF: Final = _offset(_MSGHDR, 1)
_IOV_OFF: Final = _offset(_MSGHDR, 2)
_FLAGS_OFF: Final = _offset(_MSGHDR, 6)
_LEN_OFF: Final = _aligned(struct.calcsize("@" + _MSGHDR))  # msg_len, after the whole msghdr
_HDR: Final = _aligned(_LEN_OFF + struct.calcsize("@I"))
_IOV: Final = struct.calcsize("@PN")
_IOV_LEN_OFF: Final = struct.calcsize("@P")
_NAME: Final = struct.Struct("@PI")  # msg_name, msg_namelen (adjacent in struct msghdr)
# What recvmmsg wrote into one header: msg_namelen, msg_flags, msg_len, in one unpack.
_RECEIVED: Final = struct.Struct(
    f"=I{_FLAGS_OFF - _NAMELEN_OFF - 4}xi{_LEN_OFF - _FLAGS_OFF - 4}xI")
_SIZE: Final = struct.Struct("@N")  # size_t


def client_ip(names: bytes, at: int) -> bytes:
    """The address (4 or 16 bytes) of the sockaddr_in or sockaddr_in6 at `at` in `names`."""
    if names[at] == _FAMILY6[0] and names[at + 1] == _FAMILY6[1]:
        return names[at + 8:at + 24]
    return names[at + 4:at + 8]


def client_prefix(names: bytes, at: i64) -> i64:
    """query.rrl's prefix_key(prefix(client_ip(names, at))), read in place: no bytes made."""
    if names[at] == _FAMILY6[0] and names[at + 1] == _FAMILY6[1]:
        a = at + 8
        if names[a] == 0 and names[a:a + 12] == _V4_MAPPED:
            a += 12
        else:
            key: i64 = V6_PREFIX
            for k in range(a, a + 7):
                key |= i64(names[k]) << (8 * (a + 6 - k))
            return key
    else:
        a = at + 4
    return (i64(names[a]) << 16) | (i64(names[a + 1]) << 8) | i64(names[a + 2])


def _libc_calls() -> tuple[Callable[..., int], Callable[..., int]] | None:
    if not hasattr(socket, "SO_REUSEPORT"):  # not Linux-like: keep to the portable path
        return None
    try:
        # this process's own symbols, libc's among them (find_library ran ldconfig)
        libc = ctypes.CDLL(None, use_errno=True)
        recvmmsg = libc.recvmmsg
        sendmmsg = libc.sendmmsg
    except (OSError, AttributeError):
        return None
    recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                         ctypes.c_void_p]
    recvmmsg.restype = ctypes.c_int
    sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    sendmmsg.restype = ctypes.c_int
    return recvmmsg, sendmmsg


_CALLS = _libc_calls()


def available() -> bool:
    """Whether this platform has recvmmsg and sendmmsg (Linux)."""
    # _NAME packs msg_name and msg_namelen together: they must be adjacent, as on Linux.
    return _CALLS is not None and _NAME_OFF + struct.calcsize("@P") == _NAMELEN_OFF


def _address(buf: bytearray) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


def _count_verdict(limiter: RateLimiter) -> None:
    """Count the limiter's last verdict (a response dropped or slipped) for the metrics."""
    if limiter.last == DROP:
        SERVE.rate_limited_dropped += 1
    elif limiter.last == SLIP:
        SERVE.rate_limited_slipped += 1
    limiter.last = PASS


class BatchedUDP:
    """Reads a batch of queries when the socket is readable, answers them, sends the batch."""

    def __init__(self, sock: socket.socket, batch_responder: Callable[[], OneSnapshot],
                 batch: int = BATCH,
                 diverted: Callable[[bytes, bytes], bytes | None] | None = None) -> None:
        """`batch_responder()` gives what answers the queries of one batch;
        `diverted(query, client address)` answers what it gives back as DIVERT (dropped
        without it)."""
        assert _CALLS is not None
        self._recvmmsg, self._sendmmsg = _CALLS
        self.sock = sock
        self.fd = sock.fileno()
        self.batch_responder = batch_responder
        self.diverted = diverted
        self.batch = batch
        self.loop: asyncio.AbstractEventLoop | None = None
        self.errors = 0
        # Fixed buffers; their addresses go into the headers once.
        self.rbuf = bytearray(batch * RECV_SLOT)
        self.sbuf = bytearray(batch * SEND_SLOT)
        self.names = bytearray(batch * NAME_SLOT)
        self.riov = bytearray(batch * _IOV)
        self.siov = bytearray(batch * _IOV)
        self.rhdr = bytearray(batch * _HDR)
        self.shdr = bytearray(batch * _HDR)
        rbuf, sbuf, names = _address(self.rbuf), _address(self.sbuf), _address(self.names)
        riov, siov = _address(self.riov), _address(self.siov)
        self.rhdr_addr, self.shdr_addr = _address(self.rhdr), _address(self.shdr)
        self.names_addr = names
        for i in range(batch):
            struct.pack_into("@PN", self.riov, i * _IOV, rbuf + i * RECV_SLOT, RECV_SLOT)
            struct.pack_into("@PN", self.siov, i * _IOV, sbuf + i * SEND_SLOT, 0)
            for hdr, iov in ((self.rhdr, riov), (self.shdr, siov)):
                base = i * _HDR
                _NAME.pack_into(hdr, base + _NAME_OFF, names + i * NAME_SLOT, NAME_SLOT)
                struct.pack_into("@PN", hdr, base + _IOV_OFF, iov + i * _IOV, 1)
        self.rhdr_fresh = bytes(self.rhdr)  # namelen is in-out: reset before each recvmmsg
        self.rview = memoryview(self.rbuf)
        self.names_view = memoryview(self.names)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        loop.add_reader(self.fd, self._readable)

    def close(self) -> None:
        if self.loop is not None:
            loop: Any = self.loop  # uvloop's remove_reader returns None, typeshed says bool
            loop.remove_reader(self.fd)
            self.loop = None
        self.sock.close()

    def _readable(self) -> None:
        """One batch per wake-up, so TCP and timers get their turn under a flood."""
        rhdr = self.rhdr
        rhdr[:] = self.rhdr_fresh
        n = self._recvmmsg(self.fd, self.rhdr_addr, self.batch, MSG_DONTWAIT, None)
        if n <= 0:
            self._failed("recvmmsg", n < 0)
            return
        answering = self.batch_responder()
        respond = answering.respond
        limiter = answering.rate_limiter()
        facts = answering.facts
        now = time.time()
        second: i64 = int(now)
        rview = self.rview
        sbuf, shdr, siov = self.sbuf, self.shdr, self.siov
        names = self.names_addr
        out = 0
        received = _RECEIVED.unpack_from
        query_log = SERVE.query_log
        # The senders' addresses (sockaddrs), which rate limiting reads.
        senders = b"" if limiter is None else bytes(self.names_view[:n * NAME_SLOT])
        for i in range(n):
            namelen, msg_flags, size = received(rhdr, i * _HDR + _NAMELEN_OFF)
            if msg_flags & MSG_TRUNC:
                SERVE.too_long += 1
                continue  # longer than any query we answer
            start = i * RECV_SLOT
            query = bytes(rview[start:start + size])
            response = respond(query)
            if limiter is not None:
                if facts is not None and facts.account >= 0 and response is not None and \
                        len(response) >= 12:
                    # Nearly all: an ordinary answer whose account query.facts kept, the
                    # sender's prefix read in place; the address made only if limited.
                    verdict = limiter.spend(client_prefix(senders, i * NAME_SLOT),
                                            facts.account, second)
                    if verdict != PASS:
                        response = self._limited(response, senders, i * NAME_SLOT, verdict,
                                                 limiter)
                else:
                    response = self._from_client(query, i, answering, response, now, limiter)
            elif response is not None and len(response) < 12:
                response = self._from_client(query, i, answering, response, now, None)
            # (Longer than SEND_SLOT cannot happen: answers are cut to the payload size.)
            if response is None or len(response) > SEND_SLOT:
                continue
            length = len(response)
            if query_log is not None:
                name = i * NAME_SLOT
                query_log.add(bytes(self.names_view[name:name + namelen]), response, False)
            at = out * SEND_SLOT
            sbuf[at:at + length] = response
            _SIZE.pack_into(siov, out * _IOV + _IOV_LEN_OFF, length)
            _NAME.pack_into(shdr, out * _HDR + _NAME_OFF, names + i * NAME_SLOT, namelen)
            out += 1
        self._send(out)

    def _send(self, out: int) -> None:
        """Send the first `out` answers laid out in the send buffers."""
        sent = 0
        while sent < out:
            done = self._sendmmsg(self.fd, self.shdr_addr + sent * _HDR, out - sent, 0)
            if done < 0:
                self._failed("sendmmsg", True)  # like a lost datagram: the client asks again
                return
            sent += done

    def _from_client(self, query: bytes, i: int, answering: OneSnapshot,
                     response: bytes | None, now: float,
                     limiter: RateLimiter | None) -> bytes | None:
        """The answer to the batch's `i`-th query, which respond() could not answer without
        its sender's address: NEEDS_CLIENT (cookies), or DIVERT (serve.divert; dropped
        without it); and, while rate limiting is on, an answer whose account query.facts
        did not keep."""
        ip = client_ip(bytes(self.names_view[i * NAME_SLOT:(i + 1) * NAME_SLOT]), 0)
        if response == DIVERT:
            return None if self.diverted is None else self.diverted(query, ip)
        response = answering.finish(query, response, ip, now, limiter)
        if limiter is not None:
            _count_verdict(limiter)
        return response

    def _limited(self, response: bytes, senders: bytes, at: int, verdict: i64,
                 limiter: RateLimiter) -> bytes | None:
        """What goes out of an answer RateLimiter.spend() did not pass (counted)."""
        response_out = limiter.limited(response, client_ip(senders, at), verdict)
        _count_verdict(limiter)
        return response_out

    def _failed(self, call: str, failed: bool) -> None:
        """Log (the first ten times) that `call` failed, if it did and not for want of data."""
        if not failed:
            return
        code = ctypes.get_errno()
        if code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
            return
        self.errors += 1
        if self.errors <= 10:
            log.warning("UDP %s failed: %s", call, errno.errorcode.get(code, code))
