"""Answers kept per cut or closest encloser are the answers each name would get on its own."""

from __future__ import annotations

import random
from collections.abc import Iterator

import dns.message
import dns.name
import dns.zone
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsbackend.query.encode import encode
from dnsbackend.query.engine import answer, stamp
from dnsbackend.query.resolve import resolve, zone_for
from dnsbackend.store.database import Store
from dnsbackend.store.snapshot import Reader, Snapshot
from dnsbackend.wire.message import parse_query

from .test_answer import ZONES, build_snapshot

# Names and data chosen so that names below a cut or an encloser collide with names the
# answers mention (glue, SOA names, CNAME targets), and a wildcard CNAME loops back to
# some query names but not others of the same length.
OUTCOMES_ZONE = """\
$ORIGIN outcome.test.
$TTL 300
@          SOA   ns1.dev hostmaster 1 7200 900 1209600 60
@          NS    ns1
ns1        A     192.0.2.1
dev        NS    ns1.dev
dev        NS    ns2.dev
dev        NS    ns.elsewhere.example.
ns1.dev    A     192.0.2.53
ns2.dev    AAAA  2001:db8::53
*.wild     A     192.0.2.80
*.wild     MX    10 mx.wild
*.wild     TXT   "wild"
*.loop     CNAME a.loop
*.chain    CNAME ns1
*.out      CNAME www.example.org.
*.mxout    MX    10 ab.mxout
*.dn       CNAME x.old.example.com.
a.b.c      TXT   "deep"
"""

EXISTING = ["ns1.dev", "ns2.dev", "mx.wild", "a.loop", "b.loop", "hostmaster", "x.ns1.dev",
            "q.mx.wild", "ab.mxout", "cd.mxout", "zz.b.c", "x.a.b.c", "x.chain", "x.out",
            "yy.dev", "ns3.dev", "a.ns1.dev", "x.dn"]
TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "ANY", "DS"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    zones = dict(ZONES)
    zones["outcome.test."] = OUTCOMES_ZONE
    store, _ = build_snapshot(tmp_path_factory.mktemp("outcomes"), zones)
    yield store
    store.close()


def _fresh(store: Store) -> Snapshot:
    """A snapshot of its own: empty caches."""
    return Reader(store).snapshot()


def expected(snap: Snapshot, wire: bytes, tcp: bool) -> bytes:
    """The answer computed for this name alone: resolved and encoded with no cache."""
    query = parse_query(wire)
    zone = zone_for(snap, query.qname.lower(), query.qtype)  # DS at an apex: the parent
    assert zone is not None
    prepared = encode(query.qname, resolve(snap, zone, query.qname, query.qtype, tcp))
    limit = 65535 if tcp else max(512, min(query.payload, 1232)) if query.edns else 512
    return stamp(wire, query, prepared, limit, 1232)


def _wire(name: str, rdtype: str, edns: bool) -> bytes:
    q = dns.message.make_query(name, rdtype, use_edns=0 if edns else -1)
    q.id = 4242
    return q.to_wire()


def _names(rng: random.Random) -> list[str]:
    out = []
    for base in ["outcome.test", "wild.outcome.test", "dev.outcome.test", "loop.outcome.test",
                 "b.c.outcome.test", "ns1.dev.outcome.test", "mxout.outcome.test",
                 "chain.outcome.test", "dn.outcome.test"]:
        for size in (1, 2, 3, 7):
            label = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-")
                            for _ in range(size))
            out.append(f"{label}.{base}")
    return out + [f"{n}.outcome.test" for n in EXISTING]


@pytest.mark.parametrize("seed", range(4))
def test_every_order_gives_every_name_its_own_answer(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    questions = [(n.upper() if rng.random() < 0.3 else n, t, rng.random() < 0.5, tcp)
                 for n in _names(rng) for t in TYPES for tcp in (False, True)]
    rng.shuffle(questions)
    warm = _fresh(store)  # one snapshot: its caches fill as the questions go
    for name, rdtype, edns, tcp in questions:
        wire = _wire(name, rdtype, edns)
        assert answer(wire, warm, tcp) == expected(warm, wire, tcp), (name, rdtype, tcp)
    assert any(zone.outcomes for zone in warm.zones.values())


labels = st.text(alphabet="abcXYZ019-", min_size=1, max_size=12)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.lists(labels, min_size=1, max_size=3),
       base=st.sampled_from(["wild", "dev", "loop", "b.c", "ns1.dev", "mxout", "chain", "",
                             "old", "nods", "fatwild", "child", "out", "dn"]),
       zone=st.sampled_from(["outcome.test", "example.com"]),
       rdtype=st.sampled_from(TYPES), edns=st.booleans(), tcp=st.booleans())
def test_random_names_match_their_own_answer(store: Store, prefix: list[str], base: str,
                                             zone: str, rdtype: str, edns: bool,
                                             tcp: bool) -> None:
    warm = _shared(store)
    name = ".".join(prefix + ([base] if base else []) + [zone])
    if len(dns.name.from_text(name).to_wire() or b"") > 255:
        return
    wire = _wire(name, rdtype, edns)
    assert answer(wire, warm, tcp) == expected(warm, wire, tcp)


_SHARED: dict[int, Snapshot] = {}


def _shared(store: Store) -> Snapshot:
    """One warm snapshot for all the examples, so that later ones meet earlier ones' caches."""
    if id(store) not in _SHARED:
        _SHARED.clear()
        _SHARED[id(store)] = _fresh(store)
    return _SHARED[id(store)]


def _zone_names() -> list[str]:
    """Every owner name of the test zones, with the names just above and below each."""
    out = []
    texts = dict(ZONES)
    texts["outcome.test."] = OUTCOMES_ZONE
    for origin, text in texts.items():
        zone = dns.zone.from_text(text, origin, relativize=False, check_origin=False)
        for name in zone.nodes:
            out += [name.to_text(), f"below.{name.to_text()}",
                    name.parent().to_text() if len(name) > 1 else name.to_text()]
    return out


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_every_name_and_type_twice(store: Store, tcp: bool) -> None:
    """Each name asked cold, then again from the caches: both times its own answer."""
    warm = _fresh(store)
    asked = 0
    for _ in range(2):
        for name in _zone_names():
            for rdtype in TYPES + ["CAA", "DNAME", "SRV", "PTR", "HINFO", "RRSIG"]:
                for edns in (False, True):
                    wire = _wire(name, rdtype, edns)
                    if warm.find_zone(parse_query(wire).qname.lower()) is None:
                        continue
                    assert answer(wire, warm, tcp) == expected(warm, wire, tcp), \
                        (name, rdtype, edns)
                    asked += 1
    assert asked > 1000
