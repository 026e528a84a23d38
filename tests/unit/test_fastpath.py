"""The fast path answers exactly as answer() does, and never across snapshots."""

from __future__ import annotations

import random
from pathlib import Path

import dns.message
import dns.name

from dnsbackend.query.engine import answer
from dnsbackend.query.responder import respond
from dnsbackend.store.snapshot import Reader
from testkit.store import load_zone

from .test_answer import EXAMPLE_COM, EXAMPLE_NET, build_snapshot, make_query

NAMES = ["example.com.", "www.example.com.", "WwW.ExAmPlE.cOm.", "x.wild.example.com.",
         "nx.example.com.", "a.b.child.example.com.", "chain1.example.com.", "fat.example.com.",
         "x.old.example.com.", "host.example.net.", "example.org.", "deep.a.b.c.example.com."]
TYPES = ["A", "AAAA", "MX", "NS", "TXT", "SOA", "ANY", "DS"]


def _variants(rng: random.Random) -> list[bytes]:
    """Queries with and without EDNS, RD, DO, small payloads, plus malformed ones."""
    out = []
    for name in NAMES:
        for rdtype in TYPES:
            q = make_query(name, rdtype, rd=rng.random() < 0.5,
                           edns=rng.choice([-1, 0, 1]), payload=rng.choice([512, 1232, 4096]),
                           do=rng.random() < 0.3)
            wire = q.to_wire()
            out.append(wire)
            out.append(wire[:-3])  # truncated: FORMERR or dropped
            out.append(wire[:2] + bytes([wire[2] | 0x80]) + wire[3:])  # QR set: dropped
    return out


def test_same_bytes_as_answer_for_every_query_and_id(tmp_path: Path) -> None:
    store, snap = build_snapshot(tmp_path, {"example.com.": EXAMPLE_COM,
                                            "example.net.": EXAMPLE_NET})
    rng = random.Random(1)
    queries = _variants(rng)
    for tcp in (False, True):
        for _ in range(2):  # the second round is served from the memo
            for wire in queries:
                wire = rng.randbytes(2) + wire[2:]  # a new ID each time
                assert respond(wire, snap, tcp, None) == answer(wire, snap, tcp)
    assert snap.memo[0] and snap.memo[1]
    store.close()


def test_a_new_snapshot_starts_a_new_memo(tmp_path: Path) -> None:
    store, snap = build_snapshot(tmp_path, {"example.com.": EXAMPLE_COM})
    q = dns.message.make_query("host.example.com.", "A").to_wire()
    before = respond(q, snap, False, None)
    assert before is not None and b"\xc0\x00\x02\x50" in before  # 192.0.2.80
    path = tmp_path / "zones" / "example.com.zone"
    path.write_text(EXAMPLE_COM.replace("192.0.2.80", "192.0.2.81"))
    load_zone(store.path, path, "example.com.")
    fresh = Reader(store).snapshot()
    assert fresh is not snap and not fresh.memo[0]
    after = respond(q, fresh, False, None)
    assert after is not None and b"\xc0\x00\x02\x51" in after
    assert respond(q, snap, False, None) == before  # the old snapshot stays what it was
    store.close()
