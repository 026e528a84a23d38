"""Response rate limiting without sockets: the table driven with made-up addresses and
times (BIND's accounting and slip pattern), then real responses from a real store through
the responder, as the UDP layer passes them."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

from dnsbackend.query.responder import Responder
from dnsbackend.query.rrl import (
    DROP,
    ERROR,
    NODATA,
    NXDOMAIN_KIND,
    PASS,
    POSITIVE,
    REFERRAL,
    SLIP,
    SYNTHESIZED,
    RateLimiter,
    classify,
    prefix,
)
from dnsbackend.settings import Settings, served_settings
from dnsbackend.store.format import RateLimits
from dnsbackend.store.snapshot import Reader
from testkit.store import store_with_zones
from testkit.zones import EXAMPLE_ZONE

A = ipaddress.ip_address("192.0.2.10").packed
SAME_24 = ipaddress.ip_address("192.0.2.200").packed
OTHER = ipaddress.ip_address("198.51.100.1").packed
T = 1_800_000_000


def limiter(rate: int = 5, slip: int = 2, window: int = 15, size: int = 1000,
            exempt: tuple[str, ...] = ()) -> RateLimiter:
    return RateLimiter(RateLimits(rate, slip, window, size, exempt))


def verdicts(rrl: RateLimiter, count: int, ip: bytes = A, now: int = T,
             name: bytes = b"\x03www\x00\x00\x01") -> list[int]:
    return [rrl.account(prefix(ip), POSITIVE, name, now) for _ in range(count)]


def test_a_flood_is_cut_to_the_rate_with_the_slip_pattern() -> None:
    assert verdicts(limiter(), 12) == [PASS] * 5 + [SLIP, DROP] * 3 + [SLIP]


@pytest.mark.parametrize(("slip", "pattern"), [(0, [DROP] * 6), (1, [SLIP] * 6),
                                               (3, [SLIP, DROP, DROP] * 2)])
def test_the_slip_setting(slip: int, pattern: list[int]) -> None:
    assert verdicts(limiter(slip=slip), 11)[5:] == pattern


def test_clients_and_kinds_are_accounted_apart() -> None:
    rrl = limiter()
    verdicts(rrl, 20)
    assert verdicts(rrl, 1, SAME_24) == [DROP]  # the same /24: 15 limited, then this
    assert verdicts(rrl, 5, OTHER) == [PASS] * 5
    assert verdicts(rrl, 5, name=b"\x04mail\x00\x00\x01") == [PASS] * 5  # another name
    assert rrl.account(prefix(A), ERROR, b"", T) == PASS  # another kind
    v6 = ipaddress.ip_address("2001:db8:0:ff::1").packed
    v6_same_56 = ipaddress.ip_address("2001:db8:0:ab::2").packed
    v6_other = ipaddress.ip_address("2001:db8:0:100::1").packed
    verdicts(rrl, 10, v6)
    assert verdicts(rrl, 1, v6_same_56) == [DROP]
    assert verdicts(rrl, 1, v6_other) == [PASS]
    mapped = ipaddress.ip_address("::ffff:192.0.2.77").packed
    assert prefix(mapped) == prefix(A)


def test_the_debt_lasts_as_long_as_the_window() -> None:
    rrl = limiter(rate=5, window=15)
    verdicts(rrl, 200)  # 195 over: the debt is capped at 15 seconds' worth (75)
    assert PASS not in verdicts(rrl, 1, now=T + 1)  # one second's credit is not enough
    assert verdicts(rrl, 5, now=T + 17) == [PASS] * 5  # quiet for longer than the window
    rrl = limiter(rate=5)
    verdicts(rrl, 6)  # one over
    assert verdicts(rrl, 5, now=T + 1)[:4] == [PASS] * 4  # debt 1, then 4 credits left


def test_a_clock_gone_back_earns_nothing() -> None:
    rrl = limiter()
    verdicts(rrl, 5)
    assert verdicts(rrl, 1, now=T - 100) == [SLIP]


def test_the_table_has_a_fixed_size() -> None:
    rrl = limiter(size=1)
    for i in range(100):
        rrl.account(prefix(A), POSITIVE, f"name{i}".encode(), T)
    assert len(rrl.table) == 2  # one entry: two ints


@pytest.fixture(scope="module")
def responder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Responder]:
    store, _ = store_with_zones(tmp_path_factory.mktemp("rrl"),
                                {"example.com.": EXAMPLE_ZONE.read_text()})
    yield Responder(Reader(store))
    store.close()


def configured(responder: Responder, **rrl: object) -> None:
    served = served_settings(Settings.model_validate({"rrl": rrl}))
    responder.reader.snapshot().served = served


def udp(responder: Responder, name: str, ip: bytes, now: float = T, rdtype: str = "A",
        options: list[dns.edns.Option] | None = None) -> dns.message.Message | None:
    """What the UDP layer sends back to `ip` for one query (None: dropped)."""
    query = dns.message.make_query(name, rdtype, use_edns=0 if options else -1,
                                   options=options).to_wire()
    answering = responder.batch()
    limiter = answering.rate_limiter()
    response = answering.finish(query, answering.respond(query), ip, now, limiter)
    return None if response is None else dns.message.from_wire(response)


def test_responses_are_classified_by_kind(responder: Responder) -> None:
    configured(responder)
    snapshot = responder.reader.snapshot()
    cases = {("www.example.com", "A"): POSITIVE, ("nothing.example.com", "A"): NXDOMAIN_KIND,
             ("ns1.example.com", "MX"): NODATA, ("www.example.org", "A"): ERROR}
    for (name, rdtype), kind in cases.items():
        query = dns.message.make_query(name, rdtype).to_wire()
        response = responder.respond(query, False)
        assert response is not None
        assert classify(response, snapshot)[0] == kind, name
    nxdomain = responder.respond(dns.message.make_query("x.example.com", "A").to_wire(), False)
    assert nxdomain is not None
    assert classify(nxdomain, snapshot)[1] == b"\x07example\x03com\x00"  # by zone


def test_referrals_are_accounted_by_the_delegation(tmp_path_factory: pytest.TempPathFactory
                                                   ) -> None:
    zone = EXAMPLE_ZONE.read_text() + "sub 300 IN NS ns.sub\nns.sub 300 IN A 192.0.2.9\n"
    store, snapshot = store_with_zones(tmp_path_factory.mktemp("referral"),
                                       {"example.com.": zone})
    try:
        for name in ("a.sub.example.com", "b.c.sub.example.com"):
            response = Responder(Reader(store)).respond(
                dns.message.make_query(name, "A").to_wire(), False)
            assert response is not None
            assert classify(response, snapshot) == (REFERRAL, b"\x03sub\x07example\x03com\x00")
    finally:
        store.close()


def test_random_names_of_a_zone_are_limited_together(responder: Responder) -> None:
    configured(responder, responses_per_second=3, slip=2)
    got = [udp(responder, f"r{i}.example.com", A) for i in range(8)]
    full = [r for r in got if r is not None and not r.flags & dns.flags.TC]
    assert len(full) == 3 and all(r.rcode() == dns.rcode.NXDOMAIN for r in full)
    assert [r is None for r in got[3:]] == [False, True, False, True, False]
    slipped = got[3]
    assert slipped is not None and slipped.flags & dns.flags.TC
    assert slipped.rcode() == dns.rcode.NXDOMAIN and not slipped.answer
    assert str(slipped.question[0].name) == "r3.example.com."
    assert all(udp(responder, f"r{i}.example.com", OTHER) is not None for i in range(3))


def test_a_wildcards_random_names_are_limited_together(responder: Responder) -> None:
    snapshot = responder.reader.snapshot()
    response = responder.respond(dns.message.make_query("x1.apps.example.com", "A").to_wire(),
                                 False)
    assert response is not None
    assert classify(response, snapshot) == (SYNTHESIZED, b"\x07example\x03com\x00")
    configured(responder, responses_per_second=3, slip=0)
    got = [udp(responder, f"w{i}.apps.example.com", A, T + 50) for i in range(6)]
    assert [r is not None and bool(r.answer) for r in got] == [True] * 3 + [False] * 3
    configured(responder)


def test_exempt_clients_and_valid_cookies_are_never_limited(responder: Responder) -> None:
    configured(responder, responses_per_second=1, exempt=["192.0.2.0/25"])
    assert all(udp(responder, "www.example.com", A, T + 100) is not None for _ in range(10))
    configured(responder, responses_per_second=1)
    cookie: list[dns.edns.Option] = [dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"c" * 8)]
    first = udp(responder, "www.example.com", A, T + 200, options=cookie)
    assert first is not None
    (option,) = [o for o in first.options if o.otype == dns.edns.OptionType.COOKIE]
    valid: list[dns.edns.Option] = [
        dns.edns.GenericOption(dns.edns.OptionType.COOKIE, option.to_wire())]
    for _ in range(10):
        response = udp(responder, "www.example.com", A, T + 200, options=valid)
        assert response is not None and response.answer
    # Those were not accounted: the one credit went to the first, without a server cookie.
    limited = [udp(responder, "www.example.com", A, T + 200, options=cookie)
               for _ in range(4)]
    assert [r is not None and bool(r.flags & dns.flags.TC) for r in limited] == \
        [True, False, True, False]
    assert [r is None for r in limited] == [False, True, False, True]


def test_the_limiter_follows_the_settings(responder: Responder) -> None:
    configured(responder)
    assert responder.batch().rate_limiter() is None
    configured(responder, responses_per_second=10)
    first = responder.batch().rate_limiter()
    assert first is not None and first.rate == 10
    configured(responder, responses_per_second=10)
    assert responder.batch().rate_limiter() is first  # the same settings: the same table
    configured(responder, responses_per_second=20)
    second = responder.batch().rate_limiter()
    assert second is not None and second is not first and second.rate == 20
    configured(responder)


