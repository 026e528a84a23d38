"""A bug while answering costs one SERVFAIL that echoes the question, and one log line, not one
traceback per query."""

from __future__ import annotations

import logging
import marshal
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import pytest

from dnsbackend.query import responder as responder_module
from dnsbackend.query.responder import Responder, servfail_response
from dnsbackend.store.database import node_prefix
from dnsbackend.store.snapshot import Reader
from testkit.store import store_with_zones

ZONE = ("$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 192.0.2.53\n")


@pytest.fixture
def failing(tmp_path: Path) -> Iterator[Responder]:
    """A responder whose every answer for www.fail.test. fails: its node in the store is
    corrupt (not a node), as a bug in a writer could leave it."""
    store, _ = store_with_zones(tmp_path, {"fail.test.": ZONE})
    zone_id = store.entries()[b"\x04fail\x04test\x00"].zone_id
    with store.zones_env.begin(write=True) as txn:  # corruption, not a write of ours
        txn.put(node_prefix(zone_id) + b"\x03www\x04fail\x04test\x00", marshal.dumps(42))
    yield Responder(Reader(store))
    store.close()


@pytest.mark.parametrize("edns", [False, True])
def test_servfail_echoes_the_question(failing: Responder, edns: bool) -> None:
    query = dns.message.make_query("www.fail.test.", "AAAA", use_edns=0 if edns else False,
                                   want_dnssec=edns)
    raw = failing.respond(query.to_wire(), False)
    assert raw is not None
    reply = dns.message.from_wire(raw)
    assert reply.id == query.id and reply.flags & dns.flags.QR
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert reply.question == query.question
    assert bool(reply.flags & dns.flags.RD) == bool(query.flags & dns.flags.RD)
    assert (reply.edns >= 0) == edns
    if edns:
        assert reply.ednsflags & dns.flags.DO


def test_a_failure_on_an_unparseable_query_gets_the_header_alone() -> None:
    raw = servfail_response(b"\x12\x34\x01\x00\x00\x02" + b"\x00" * 6)
    assert raw is not None and len(raw) == 12
    assert raw[:2] == b"\x12\x34" and raw[3] & 0x0F == dns.rcode.SERVFAIL


def test_failures_are_logged_once_then_counted(failing: Responder,
                                               caplog: pytest.LogCaptureFixture) -> None:
    query = dns.message.make_query("www.fail.test.", "A").to_wire()
    with caplog.at_level(logging.ERROR, logger="dnsbackend"):
        for _ in range(2 * responder_module.FAILURES_LOGGED_EVERY):
            failing.respond(query, False)
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert len(with_traceback) == 1
    counted = [r.getMessage() for r in caplog.records if not r.exc_info]
    assert counted == [f"{n} internal errors answering queries so far; each answered SERVFAIL"
                       for n in (responder_module.FAILURES_LOGGED_EVERY,
                                 2 * responder_module.FAILURES_LOGGED_EVERY)]
    assert failing.failures == 2 * responder_module.FAILURES_LOGGED_EVERY
