"""DNS Cookies without sockets: RFC 9018's test vectors, then answer() with a client and a
time: server cookies made, checked, reused and refreshed as NSD does; malformed options get
FORMERR (as BIND); BADCOOKIE only when cookies are required, and never over TCP."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import dns.edns
import dns.message
import dns.rcode
import pytest

from dnsbackend.query.cookies import cookie_answer, server_cookie
from dnsbackend.query.edns import COOKIE, Client
from dnsbackend.query.engine import NEEDS_CLIENT, answer
from dnsbackend.query.responder import respond
from dnsbackend.settings import Settings, served_settings
from dnsbackend.store.format import CookieSettings
from dnsbackend.store.snapshot import Snapshot
from testkit.store import store_with_zones
from testkit.zones import EXAMPLE_ZONE

ZONE = EXAMPLE_ZONE.read_text()  # www.example.com is a CNAME to the apex
SECRET = "e5e973e5a6b2a43f48e7dc849e37bfcf"  # RFC 9018 appendix A's
CLIENT_COOKIE = bytes.fromhex("2464c4abcf10c957")
CLIENT_IP = ipaddress.ip_address("198.51.100.100").packed
NOW = 1559731985.0  # Wed 5 June 2019 10:53:05 UTC, as in RFC 9018 A.1


def test_rfc9018_test_vectors() -> None:
    secret = bytes.fromhex(SECRET)
    assert server_cookie(CLIENT_COOKIE, CLIENT_IP, 1559731985, secret).hex() == \
        "010000005cf79f111f8130c3eee29480"  # A.1
    assert server_cookie(CLIENT_COOKIE, CLIENT_IP, 1559734385, secret).hex() == \
        "010000005cf7a871d4a564a1442aca77"  # A.2
    other = ipaddress.ip_address("203.0.113.203").packed
    assert server_cookie(bytes.fromhex("fc93fc62807ddb86"), other, 1559734700,
                         secret).hex() == "010000005cf7a9acf73a7810aca2381e"  # A.3


@pytest.fixture(scope="module")
def zone_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshot]:
    store, snapshot = store_with_zones(tmp_path_factory.mktemp("cookies"),
                                       {"example.com.": ZONE})
    yield snapshot
    store.close()


def configured(snapshot: Snapshot, **values: object) -> Snapshot:
    snapshot.served = served_settings(Settings.model_validate(values))
    return snapshot


def query(data: bytes | None, name: str = "www.example.com") -> bytes:
    options: list[dns.edns.Option] = []
    if data is not None:
        options.append(dns.edns.GenericOption(dns.edns.OptionType.COOKIE, data))
    return dns.message.make_query(name, "A", use_edns=0, options=options).to_wire()


def ask(snapshot: Snapshot, data: bytes | None, now: float = NOW, ip: bytes = CLIENT_IP,
        tcp: bool = False) -> tuple[dns.message.Message, Client]:
    client = Client(ip, now)
    wire = answer(query(data), snapshot, tcp, None, client)
    assert wire is not None
    return dns.message.from_wire(wire), client


def cookie_of(response: dns.message.Message) -> bytes | None:
    found = [o.to_wire() for o in response.options if o.otype == COOKIE]
    assert len(found) <= 1
    return found[0] if found else None


def test_a_client_cookie_gets_a_server_cookie(zone_store: Snapshot) -> None:
    snapshot = configured(zone_store, cookie_secret=SECRET)
    response, client = ask(snapshot, CLIENT_COOKIE)
    assert response.rcode() == dns.rcode.NOERROR and response.answer
    assert cookie_of(response) == CLIENT_COOKIE + bytes.fromhex("010000005cf79f111f8130c3eee29480")
    assert not client.valid_cookie


def test_a_fresh_server_cookie_is_valid_and_sent_back_as_it_came(zone_store: Snapshot) -> None:
    snapshot = configured(zone_store, cookie_secret=SECRET)
    first = cookie_of(ask(snapshot, CLIENT_COOKIE)[0])
    assert first is not None
    for later in (0, 60, 1799):
        response, client = ask(snapshot, first, NOW + later)
        assert client.valid_cookie and cookie_of(response) == first


def test_an_older_server_cookie_is_valid_and_replaced(zone_store: Snapshot) -> None:
    snapshot = configured(zone_store, cookie_secret=SECRET)
    first = cookie_of(ask(snapshot, CLIENT_COOKIE)[0])
    assert first is not None
    response, client = ask(snapshot, first, NOW + 2400)  # A.2: 40 minutes later
    assert client.valid_cookie
    assert cookie_of(response) == CLIENT_COOKIE + bytes.fromhex(
        "010000005cf7a871d4a564a1442aca77")


@pytest.mark.parametrize(("later", "ip"), [
    (3601, CLIENT_IP),  # more than an hour old
    (-301, CLIENT_IP),  # more than 5 minutes ahead of us
    (10, ipaddress.ip_address("198.51.100.101").packed),  # from another address
    (10, ipaddress.ip_address("2001:db8::1").packed),
])
def test_an_invalid_server_cookie_gets_a_new_one(zone_store: Snapshot, later: int,
                                                 ip: bytes) -> None:
    snapshot = configured(zone_store, cookie_secret=SECRET)
    first = cookie_of(ask(snapshot, CLIENT_COOKIE)[0])
    assert first is not None
    response, client = ask(snapshot, first, NOW + later, ip)
    assert not client.valid_cookie and response.answer
    fresh = CLIENT_COOKIE + server_cookie(CLIENT_COOKIE, ip, int(NOW + later),
                                          bytes.fromhex(SECRET))
    assert cookie_of(response) == fresh


def test_a_cookie_of_another_secret_or_format_is_invalid(zone_store: Snapshot) -> None:
    snapshot = configured(zone_store, cookie_secret=SECRET)
    foreign = CLIENT_COOKIE + server_cookie(CLIENT_COOKIE, CLIENT_IP, int(NOW), b"k" * 16)
    assert not ask(snapshot, foreign)[1].valid_cookie
    for other in (foreign[:8] + b"\x02" + foreign[9:], CLIENT_COOKIE + b"s" * 8,
                  CLIENT_COOKIE + b"s" * 32):
        response, client = ask(snapshot, other)
        assert not client.valid_cookie and response.rcode() == dns.rcode.NOERROR


def test_a_rotated_secret_still_accepts_the_last_periods_cookies() -> None:
    settings = CookieSettings(True, b"r" * 16, 3600, False)
    start = 3600.0 * 1000 + 3000  # 10 minutes before the next period
    valid, made = cookie_answer(CLIENT_COOKIE, CLIENT_IP, start, settings)
    assert not valid
    valid, again = cookie_answer(made, CLIENT_IP, start + 1200, settings)  # next period
    assert valid and again != made  # a period's secret only makes cookies within it
    assert cookie_answer(again, CLIENT_IP, start + 1300, settings)[0]


@pytest.mark.parametrize("size", [0, 1, 7, 9, 15, 41, 64])
def test_a_malformed_cookie_option_is_formerr(zone_store: Snapshot, size: int) -> None:
    for values in ({}, {"answer_cookie": False}):
        response, _ = ask(configured(zone_store, **values), b"c" * size)
        assert response.rcode() == dns.rcode.FORMERR and not response.answer
        assert cookie_of(response) is None


def test_cookies_can_be_turned_off(zone_store: Snapshot) -> None:
    response, client = ask(configured(zone_store, answer_cookie=False), CLIENT_COOKIE)
    assert response.answer and cookie_of(response) is None and not client.valid_cookie


def test_required_cookies_get_badcookie_over_udp_only(zone_store: Snapshot) -> None:
    snapshot = configured(zone_store, cookie_secret=SECRET, require_server_cookie=True)
    response, _ = ask(snapshot, CLIENT_COOKIE)
    assert response.rcode() == dns.rcode.BADCOOKIE and not response.answer
    made = cookie_of(response)
    assert made is not None and len(made) == 24
    response, client = ask(snapshot, made)
    assert response.rcode() == dns.rcode.NOERROR and response.answer and client.valid_cookie
    response, _ = ask(snapshot, CLIENT_COOKIE, tcp=True)
    assert response.rcode() == dns.rcode.NOERROR and cookie_of(response) is not None
    # Without any cookie option: answered (BIND's require-server-cookie is the same)
    assert ask(snapshot, None)[0].answer


def test_a_cookie_query_needs_the_client_and_is_never_remembered(zone_store: Snapshot) -> None:
    snapshot = configured(zone_store, cookie_secret=SECRET)
    wire = query(CLIENT_COOKIE)
    assert answer(wire, snapshot) == NEEDS_CLIENT
    assert respond(wire, snapshot, False, None) == NEEDS_CLIENT
    assert wire[2:] not in snapshot.memo[0]
    assert respond(wire, snapshot, False, None) == NEEDS_CLIENT
