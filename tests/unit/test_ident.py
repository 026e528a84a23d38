"""Identification and extended errors without sockets: NSID (RFC 5001), the CH names,
EDE (RFC 8914), and the settings that configure them, from a real store to answer() bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsbackend.query.edns import NSID, scan_options
from dnsbackend.query.engine import answer
from dnsbackend.settings import Settings, SettingsError, load_settings, served_settings
from dnsbackend.store.database import open_shared
from dnsbackend.store.snapshot import Reader, Snapshot
from dnsbackend.wire.message import FormatError
from testkit.store import store_with_zones
from testkit.zones import EXAMPLE_ZONE

ZONE = EXAMPLE_ZONE.read_text()  # www.example.com is a CNAME to the apex
IDENTIFIED = {"nsid": "ns-test-1", "identity": "ns1.example.net", "version": "1.2.3-test"}


@pytest.fixture(scope="module")
def zone_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshot]:
    store, snapshot = store_with_zones(tmp_path_factory.mktemp("ident"), {"example.com.": ZONE})
    yield snapshot
    store.close()


def with_settings(snapshot: Snapshot, **values: object) -> Snapshot:
    """The snapshot answering by the served settings of these settings."""
    snapshot.served = served_settings(Settings.model_validate(values))
    return snapshot


def ask(snapshot: Snapshot, name: str, rdtype: str, rdclass: str = "IN", edns: int = 0,
        options: list[dns.edns.Option] | None = None, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, rdclass, use_edns=edns, options=options)
    wire = answer(query.to_wire(), snapshot, tcp)
    assert wire is not None and len(wire) >= 12
    return dns.message.from_wire(wire)


def ede_codes(response: dns.message.Message) -> list[int]:
    return [o.code for o in response.options if isinstance(o, dns.edns.EDEOption)]


def nsid_of(response: dns.message.Message) -> bytes | None:
    found = [o for o in response.options if o.otype == NSID]
    if not found:
        return None
    assert len(found) == 1
    return found[0].to_wire()


NSID_QUERY: list[dns.edns.Option] = [dns.edns.GenericOption(dns.edns.OptionType.NSID, b"")]


@pytest.mark.parametrize(("name", "setting"), [("id.server", "identity"),
                                               ("hostname.bind", "identity"),
                                               ("version.server", "version"),
                                               ("VERSION.Bind", "version")])
@pytest.mark.parametrize("rdtype", ["TXT", "ANY"])
def test_ch_names_are_answered_as_nsd_does(zone_store: Snapshot, name: str, setting: str,
                                           rdtype: str) -> None:
    snapshot = with_settings(zone_store, **IDENTIFIED)
    response = ask(snapshot, name, rdtype, "CH")
    assert response.rcode() == dns.rcode.NOERROR
    assert not response.flags & dns.flags.AA  # NSD and Knot: no AA
    assert response.flags & dns.flags.RD  # copied
    assert str(response.question[0].name) == f"{name}."  # the client's letter case
    (rrset,) = response.answer
    assert (rrset.rdclass, rrset.rdtype, rrset.ttl) == (dns.rdataclass.CH, dns.rdatatype.TXT, 0)
    assert [r.strings for r in rrset] == [(IDENTIFIED[setting].encode(),)]
    assert not response.authority and not response.additional
    assert ede_codes(response) == []


@pytest.mark.parametrize("name", ["id.server", "hostname.bind", "version.server",
                                  "version.bind"])
def test_ch_names_not_configured_are_refused_prohibited(zone_store: Snapshot, name: str) -> None:
    snapshot = with_settings(zone_store)
    response = ask(snapshot, name, "TXT", "CH")
    assert response.rcode() == dns.rcode.REFUSED and not response.answer
    assert ede_codes(response) == [18]
    plain = ask(snapshot, name, "TXT", "CH", edns=-1)  # no EDNS: no OPT to carry EDE
    assert plain.rcode() == dns.rcode.REFUSED and plain.edns < 0


@pytest.mark.parametrize(("name", "rdtype"), [("foo.bind", "TXT"), ("id.server", "A"),
                                              ("version.bind", "SOA"), ("www.example.com", "A")])
def test_other_ch_queries_are_refused_not_supported(zone_store: Snapshot, name: str,
                                                    rdtype: str) -> None:
    response = ask(with_settings(zone_store, **IDENTIFIED), name, rdtype, "CH")
    assert response.rcode() == dns.rcode.REFUSED and not response.answer
    assert ede_codes(response) == [21]


@pytest.mark.parametrize("data", [b"", b"asked with data"])  # data is ignored (BIND, NSD)
def test_nsid_is_sent_when_asked_for(zone_store: Snapshot, data: bytes) -> None:
    snapshot = with_settings(zone_store, **IDENTIFIED)
    asked: list[dns.edns.Option] = [dns.edns.GenericOption(dns.edns.OptionType.NSID, data)]
    for name, rdclass, rcode in (("www.example.com", "IN", dns.rcode.NOERROR),
                                 ("www.example.org", "IN", dns.rcode.REFUSED),
                                 ("id.server", "CH", dns.rcode.NOERROR)):
        response = ask(snapshot, name, "TXT" if rdclass == "CH" else "A", rdclass,
                       options=asked)
        assert response.rcode() == rcode
        assert nsid_of(response) == b"ns-test-1"
    assert nsid_of(ask(snapshot, "www.example.com", "A")) is None  # not asked for
    response = ask(with_settings(zone_store), "www.example.com", "A", options=asked)
    assert nsid_of(response) is None and response.answer  # not configured


def test_nsid_in_hex_as_knot_takes_it(zone_store: Snapshot) -> None:
    snapshot = with_settings(zone_store, nsid="0x00ff10")
    assert nsid_of(ask(snapshot, "www.example.com", "A", options=NSID_QUERY)) == b"\x00\xff\x10"


@pytest.mark.parametrize(("size", "sent"), [(450, True), (500, False)])
def test_nsid_counts_against_the_udp_size(zone_store: Snapshot, size: int, sent: bool) -> None:
    """With the NSID a 512-byte response has no room for the answer: TC, with the NSID when
    it fits, else without it."""
    snapshot = with_settings(zone_store, nsid="n" * size)
    query = dns.message.make_query("www.example.com", "A", use_edns=0, payload=512,
                                   options=NSID_QUERY)
    wire = answer(query.to_wire(), snapshot)
    assert wire is not None and len(wire) <= 512
    response = dns.message.from_wire(wire)
    assert response.flags & dns.flags.TC and not response.answer
    assert nsid_of(response) == (b"n" * size if sent else None)


def test_a_zone_not_served_is_refused_not_authoritative(zone_store: Snapshot) -> None:
    response = ask(with_settings(zone_store), "www.example.org", "A")
    assert response.rcode() == dns.rcode.REFUSED
    assert ede_codes(response) == [20]  # as NSD and Knot
    assert ede_codes(ask(zone_store, "www.example.com", "A")) == []


def test_an_empty_store_of_a_first_start_is_not_ready(tmp_path: Path) -> None:
    store = open_shared(str(tmp_path / "db"))
    try:
        response = ask(Reader(store).snapshot(), "www.example.com", "A")
    finally:
        store.close()
    assert response.rcode() == dns.rcode.SERVFAIL and ede_codes(response) == [14]


@pytest.mark.parametrize(("values", "key"), [
    ({"nsid": "0xzz"}, "nsid"), ({"nsid": ""}, "nsid"), ({"nsid": "n" * 513}, "nsid"),
    ({"identity": "x" * 256}, "identity"), ({"version": 3}, "version"),
    ({"cookie_secret": "00ff"}, "cookie_secret"), ({"cookie_secret": "z" * 32}, "cookie_secret"),
    ({"cookie_secret_lifetime": 60}, "cookie_secret_lifetime"),
    ({"answer_cookie": "yes"}, "answer_cookie"),
    ({"rrl": {"slip": 11}}, "rrl.slip"), ({"rrl": {"window": 0}}, "rrl.window"),
    ({"rrl": {"responses_per_second": -1}}, "rrl.responses_per_second"),
    ({"rrl": {"exempt": ["192.0.2.0/33"]}}, "rrl.exempt"), ({"rrl": {"rate": 5}}, "rrl.rate"),
])
def test_bad_settings_name_their_key(tmp_path: Path, values: dict[str, object],
                                     key: str) -> None:
    path = tmp_path / "dnsbackend.toml"
    path.write_text("\n".join(_toml(k, v) for k, v in values.items()))
    with pytest.raises(SettingsError, match=rf"setting '{key}[.'0-9]*"):
        load_settings(str(path), {})


def _toml(key: str, value: object) -> str:
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {_value(v)}" for k, v in value.items())
        return f"{key} = {{ {inner} }}"
    return f"{key} = {_value(value)}"


def _value(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


options_lists = st.lists(st.tuples(st.integers(0, 65535), st.binary(max_size=40)), max_size=6)


@settings(max_examples=300, deadline=None)
@given(options_lists, st.integers(0, 3))
def test_options_are_read_as_dnspython_reads_them(found: list[tuple[int, bytes]],
                                                  cut: int) -> None:
    """scan_options() against dnspython's parser, on whole option lists and on lists cut
    short (which both refuse)."""
    rdata = b"".join(code.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data
                     for code, data in found)
    if cut and rdata:
        rdata = rdata[:-cut]
        with pytest.raises(FormatError):
            scan_options(rdata)
        return
    nsid, cookie = scan_options(rdata)
    assert nsid == any(code == NSID for code, _ in found)
    cookies = [data for code, data in found if code == 10]
    assert cookie == (cookies[0] if cookies else None)
