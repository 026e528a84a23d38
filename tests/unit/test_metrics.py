"""Counting responses for the metrics: what the tally reads from a counted response agrees
with what dnspython reads from it, and every query is counted once, dropped ones too."""

from __future__ import annotations

import random
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsbackend.metrics.querylog import QueryLog, client_text
from dnsbackend.metrics.tally import NO_ZONE, OTHER, Labels, Tally
from dnsbackend.query.facts import Facts
from dnsbackend.query.responder import DIVERT, respond
from dnsbackend.serve.querylog import QueryLogBuffer
from dnsbackend.settings import SettingsError, load_settings
from dnsbackend.store.snapshot import Reader, Snapshot

from .test_answer import EXAMPLE_COM, EXAMPLE_NET, build_snapshot
from .test_fastpath import _variants

SERVED = ("example.com.", "example.net.")


def expected(response: bytes) -> Labels:
    """The labels from the response as dnspython reads it (the from-scratch twin)."""
    try:
        msg = dns.message.from_wire(response)
    except dns.message.ShortHeader:
        raise AssertionError("a counted response is never this short") from None
    except Exception:  # noqa: BLE001 - a header-only FORMERR (no question) reads badly
        msg = None
    if msg is None or not msg.question:
        rcode = response[3] & 0x0F
        return Labels(NO_ZONE, "", dns.rcode.to_text(dns.rcode.Rcode(rcode)),
                      bool(response[2] & 0x02))
    question = msg.question[0]
    rcode = msg.rcode()
    zone = NO_ZONE
    if rcode not in (dns.rcode.FORMERR, dns.rcode.SERVFAIL, dns.rcode.NOTIMP,
                     dns.rcode.REFUSED) and rcode < 16:
        for origin in SERVED:
            if question.name.is_subdomain(dns.name.from_text(origin)):
                zone = origin
    name = dns.rdatatype.RdataType(question.rdtype).name
    return Labels(zone, OTHER if name.startswith("TYPE") else name,
                  dns.rcode.Rcode(rcode).name, bool(msg.flags & dns.flags.TC))


def count_and_check(snap: Snapshot, queries: list[bytes], tcp: bool,
                    facts: Facts | None = None) -> None:
    facts = facts or Facts(True, False)
    want: dict[Labels, int] = {}
    dropped = 0
    for wire in queries:
        response = respond(wire, snap, tcp, None, facts)
        if response == DIVERT:
            continue  # passed on to serve.divert, which counts its answer
        if response is None:
            dropped += 1
        else:
            labels = expected(response)
            want[labels] = want.get(labels, 0) + 1
    folded = Tally().fold(facts, tcp)
    assert folded.by_labels == want
    assert folded.dropped == dropped
    assert folded.malformed == sum(n for labels, n in want.items() if labels.rcode == "FORMERR")


def test_every_response_is_counted_with_its_labels(tmp_path: Path) -> None:
    store, snap = build_snapshot(tmp_path, {"example.com.": EXAMPLE_COM,
                                            "example.net.": EXAMPLE_NET})
    rng = random.Random(7)
    queries = _variants(rng)
    for tcp in (False, True):
        facts = Facts(True, False)
        for _ in range(2):  # the second round is counted from the memo
            count_and_check(snap, [rng.randbytes(2) + q[2:] for q in queries], tcp, facts)
    store.close()


@pytest.fixture(scope="module")
def one_zone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshot]:
    store, snap = build_snapshot(tmp_path_factory.mktemp("zones"), {"example.com.": EXAMPLE_COM})
    yield snap
    store.close()


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=64), st.booleans())
def test_any_bytes_are_counted_as_dnspython_reads_the_answer(one_zone: Snapshot, data: bytes,
                                                             tcp: bool) -> None:
    header = b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"  # a query, 1 question
    count_and_check(one_zone, [data, header + data], tcp)


def test_the_metrics_setting_is_an_address_and_port() -> None:
    assert load_settings(None, {"metrics": "[::1]:9153"}).metrics == "[::1]:9153"
    for wrong in ("localhost:9153", "127.0.0.1", "127.0.0.1:0", "::1:9153", "1.2.3.4:x"):
        try:
            load_settings(None, {"metrics": wrong})
        except SettingsError as exc:
            assert "setting 'metrics'" in str(exc)
        else:
            raise AssertionError(f"{wrong} accepted")


def _sockaddr(family: socket.AddressFamily, address: str, port: int) -> bytes:
    """A struct sockaddr_in or sockaddr_in6 as the kernel writes it (Linux layout)."""
    head = family.value.to_bytes(2, sys.byteorder) + port.to_bytes(2, "big")
    if family == socket.AF_INET:
        return head + socket.inet_pton(family, address) + bytes(8)
    return head + bytes(4) + socket.inet_pton(family, address) + bytes(4)


def test_query_log_clients_read_as_address_and_port() -> None:
    assert client_text(_sockaddr(socket.AF_INET, "192.0.2.7", 5353)) == "192.0.2.7#5353"
    assert client_text(_sockaddr(socket.AF_INET6, "2001:db8::7", 53)) == "2001:db8::7#53"
    assert client_text(("127.0.0.1", 40000)) == "127.0.0.1#40000"


def test_a_full_query_log_buffer_drops_lines_and_counts_them(tmp_path: Path) -> None:
    store, snap = build_snapshot(tmp_path, {"example.com.": EXAMPLE_COM})
    query = dns.message.make_query("www.example.com.", "A").to_wire()
    response = respond(query, snap, False, None)
    assert response is not None
    buffer = QueryLogBuffer(limit=3)
    log = QueryLog(str(tmp_path / "queries.log"), 2, buffer, Reader(store))
    client = _sockaddr(socket.AF_INET, "192.0.2.7", 5353)
    for _ in range(5):
        buffer.add(client, response, False)
    assert len(buffer.entries) == 3 and log.counted_drops()() == 2
    log.flush()
    log.chunks.put(None)
    log.thread.join(5)
    lines = (tmp_path / "queries.log").read_text().splitlines()
    assert len(lines) == 3
    assert lines[0].split(" ")[1:] == ["192.0.2.7#5353", "udp", "www.example.com.", "A",
                                       "NOERROR", str(len(response)), "example.com.", "2"]
    store.close()
