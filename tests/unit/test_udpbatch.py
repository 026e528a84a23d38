"""The batched UDP endpoint: many clients at once, each answer to its own sender and query."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from dnsbackend.query.responder import Responder
from dnsbackend.serve import udpbatch
from dnsbackend.serve.endpoints import serve_sockets
from dnsbackend.serve.sockets import open_sockets
from dnsbackend.serve.tcp import TCPLimits
from dnsbackend.store.format import RateLimits, ServedSettings
from dnsbackend.store.snapshot import Reader

from .test_answer import FAT_ADDRESSES, ZONES, build_snapshot

pytestmark = pytest.mark.skipif(not udpbatch.available(), reason="needs recvmmsg (Linux)")

CLIENTS = 16
QUERIES_PER_CLIENT = 200  # sent before any answer is read: the server sees full batches


class Server:
    """The real network layer on a loop in a thread, over a store with the unit-test zones."""

    def __init__(self, root: Path, batched: bool, addrs: tuple[str, ...] = ("127.0.0.1",),
                 rrl: RateLimits | None = None) -> None:
        self.store, _ = build_snapshot(root, ZONES)
        self.loop = asyncio.new_event_loop()
        self.socks = open_sockets(list(addrs), 0, reuse_port=False)
        self.port = self.socks[0].getsockname()[1]
        limits = TCPLimits(10, 5.0)
        responder = Responder(Reader(self.store))
        if rrl is not None:  # the settings as the policy job would store them
            responder.reader.snapshot().served = ServedSettings(rrl=rrl)
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.handles = self.loop.run_until_complete(
                serve_sockets(self.socks, responder, limits, batched=batched))
            started.set()
            self.loop.run_forever()
            for handle in self.handles:
                handle.close()
            self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        started.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.store.close()


@pytest.fixture(params=[True, False], ids=["batched", "one-by-one"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path, request.param)
    yield srv
    srv.stop()


def _names(client: int) -> list[str]:
    hosts = ["www", "mail", "ns1", "nope", "x.wild", "sip"]
    return [f"{hosts[(client + i) % len(hosts)]}.example.com" for i in range(QUERIES_PER_CLIENT)]


def test_many_clients_each_get_their_own_answers(server: Server) -> None:
    socks = []
    sent: list[dict[int, dns.message.Message]] = []
    for _ in range(CLIENTS):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.settimeout(5)
        socks.append(s)
        sent.append({})
    # Send everything first so that the server reads full batches from many senders.
    for c, s in enumerate(socks):
        for i, name in enumerate(_names(c)):
            q = dns.message.make_query(name, "A", use_edns=(i % 2) - 1)
            q.id = (c * QUERIES_PER_CLIENT + i) & 0xFFFF
            sent[c][q.id] = q
            s.sendto(q.to_wire(), ("127.0.0.1", server.port))
    for c, s in enumerate(socks):
        for _ in range(QUERIES_PER_CLIENT):
            wire, _ = s.recvfrom(65535)
            r = dns.message.from_wire(wire)
            asked = sent[c].pop(r.id)  # an answer meant for another client would fail here
            assert r.question == asked.question
            assert (r.edns >= 0) == (asked.edns >= 0)
            expected = dns.rcode.NXDOMAIN if asked.question[0].name.labels[0] == b"nope" \
                else dns.rcode.NOERROR
            assert r.rcode() == expected
            assert r.answer or r.rcode() == dns.rcode.NXDOMAIN
        assert not sent[c]
        s.close()


def test_junk_is_dropped_and_the_endpoint_keeps_answering(server: Server) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    target = ("127.0.0.1", server.port)
    junk = [b"", b"\x00", b"\x12\x34" + b"\xff" * 10, b"\x00" * 12 + b"\xc0",
            b"\x12\x34\x81\x00" + b"\x00" * 8,  # a response: never answered
            b"x" * 8000]  # longer than a receive slot
    for j in junk:
        s.sendto(j, target)
    q = dns.message.make_query("www.example.com", "A")
    s.sendto(q.to_wire(), target)
    answers = []
    while True:
        wire, _ = s.recvfrom(65535)
        if wire[:2] == q.to_wire()[:2] and len(wire) > 12:
            break
        answers.append(wire)
    r = dns.message.from_wire(wire)
    assert r.rcode() == dns.rcode.NOERROR and r.answer
    # Junk gets at most a bare header saying what was wrong with it.
    for a in answers:
        assert len(a) == 12
        assert struct.unpack("!H", a[2:4])[0] & 0xF in (dns.rcode.FORMERR, dns.rcode.NOTIMP)


def test_answers_up_to_the_payload_size_go_out_whole(server: Server) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    q = dns.message.make_query("fat.example.com", "A", use_edns=0, payload=4096)
    s.sendto(q.to_wire(), ("127.0.0.1", server.port))
    wire = s.recvfrom(65535)[0]
    r = dns.message.from_wire(wire)
    # The 40 addresses take some 700 bytes: over 512, within the store's payload size (1232
    # by default), which bounds the client's 4096. So the whole RRset, and no TC.
    assert 512 < len(wire) <= 1232
    assert r.rcode() == dns.rcode.NOERROR
    assert not r.flags & dns.flags.TC
    assert [(rrset.name.to_text(), rrset.rdtype, len(rrset)) for rrset in r.answer] == [
        ("fat.example.com.", dns.rdatatype.A, FAT_ADDRESSES)]
    assert r.edns == 0 and r.payload == 1232


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "one-by-one"])
def test_rate_limiting_knows_each_client_over_ipv4_and_ipv6(tmp_path: Path,
                                                              batched: bool) -> None:
    """One answer a second, every limited one truncated (slip 1): the exempt client (::1,
    over IPv6) gets them all whole, the other (over IPv4) one, then only truncated ones."""
    if not socket.has_ipv6:
        pytest.skip("needs IPv6")
    srv = Server(tmp_path, batched, ("127.0.0.1", "::1"),
                 RateLimits(1, slip=1, exempt=("::1",)))
    try:
        got = {}
        for family, host in ((socket.AF_INET6, "::1"), (socket.AF_INET, "127.0.0.1")):
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.settimeout(5)
                query = dns.message.make_query("www.example.com", "A")
                for _ in range(4):  # all sent first: the server reads them as one batch
                    s.sendto(query.to_wire(), (host, srv.port))
                got[host] = [bool(dns.message.from_wire(s.recv(65535)).flags & dns.flags.TC)
                             for _ in range(4)]
        assert got == {"::1": [False] * 4, "127.0.0.1": [False, True, True, True]}
    finally:
        srv.stop()
