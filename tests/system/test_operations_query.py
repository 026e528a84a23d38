"""Operations, the query side, with a real server and real clients: NSID, the CH names and
Extended DNS Errors compared with NSD's answers for the same settings; DNS Cookies through
dig and kdig (a second query with the server cookie is good); malformed cookie options;
a flood from one address rate limited with the slip pattern while another client is
answered (loopback only: 127.0.0.1 and 127.0.1.1)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from testkit import programs
from testkit.metrics import scrape, scrape_until, total
from testkit.peers import Nsd, PeerProcess, Zone
from testkit.ports import free_port
from testkit.server import ServerProcess, StartServer, serve_one_zone
from testkit.zones import EXAMPLE_ZONE

ZONE = EXAMPLE_ZONE.read_text()  # www.example.com is a CNAME to the apex
IDENTIFIED = 'nsid = "ns-test-1"\nidentity = "ns1.example.net"\nversion = "1.2.3-test"\n'
NSD_IDENTIFIED = 'nsid: "ascii_ns-test-1"\nidentity: "ns1.example.net"\nversion: "1.2.3-test"\n'
NSD_HIDDEN = "hide-identity: yes\nhide-version: yes\n"
# (name, type, class) asked of both servers.
QUESTIONS = [(n, t, "CH") for n in ("id.server", "hostname.bind", "version.server",
                                    "version.bind", "Version.BIND", "foo.bind")
             for t in ("TXT", "ANY", "A")] + [("www.example.org", "A", "IN"),
                                              ("www.example.com", "A", "IN")]


def _dig(port: int, *args: str) -> str:
    done = subprocess.run([programs.require("dig"), "@127.0.0.1", "-p", str(port), *args],
                          capture_output=True, text=True, timeout=20)
    return done.stdout


def _kdig(port: int, *args: str) -> str:
    done = subprocess.run([programs.require("kdig"), "@127.0.0.1", "-p", str(port), *args],
                          capture_output=True, text=True, timeout=20)
    return done.stdout


def _ask(port: int, name: str, rdtype: str, rdclass: str, edns: int = 0,
         options: list[dns.edns.Option] | None = None) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, rdclass, use_edns=edns, options=options)
    return dns.query.udp(query, "127.0.0.1", port=port, timeout=5)


def _shape(response: dns.message.Message) -> tuple[object, ...]:
    """What is compared: rcode, flags, the question and answer RRsets whole (TTLs too), the
    OPT's NSID and EDE codes (not cookies: NSD 4.6 has none). Not the authority section:
    NSD adds the zone's NS to a positive answer, we give minimal responses."""
    options = sorted((o.otype, o.to_wire()) for o in response.options if o.otype != 10)
    return (response.rcode(), response.flags, [str(q) for q in response.question],
            [rrset.to_text() for rrset in response.answer], options)


@pytest.fixture
def identified(server_factory: StartServer, tmp_path: Path) -> ServerProcess:
    srv, _ = serve_one_zone(server_factory, tmp_path, "example.com.", ZONE, IDENTIFIED)
    return srv


def test_nsid_and_the_ch_names_through_dig_and_kdig(identified: ServerProcess) -> None:
    out = _dig(identified.port, "+nsid", "+norec", "www.example.com", "A")
    assert "status: NOERROR" in out and 'NSID: 6e 73 2d 74 65 73 74 2d 31 ("ns-test-1")' in out
    out = _dig(identified.port, "id.server", "CH", "TXT")
    assert 'id.server.\t\t0\tCH\tTXT\t"ns1.example.net"' in out
    out = _kdig(identified.port, "+nsid", "version.bind", "CH", "TXT")
    assert '"1.2.3-test"' in out and "ns-test-1" in out
    out = _dig(identified.port, "www.example.org", "A")
    assert "status: REFUSED" in out and "EDE: 20 (Not Authoritative)" in out


def test_cookies_through_dig_and_kdig(identified: ServerProcess) -> None:
    first = _dig(identified.port, "+cookie", "+norec", "www.example.com", "A")
    assert "status: NOERROR" in first
    (line,) = [x for x in first.splitlines() if x.startswith("; COOKIE:")]
    sent = line.split()[2]  # client cookie (16 hex digits) + server cookie (32)
    assert len(sent) == 48 and sent[16:18] == "01"
    again = _dig(identified.port, f"+cookie={sent}", "www.example.com", "A")
    assert "(good)" in again and "status: NOERROR" in again
    over_tcp = _dig(identified.port, "+tcp", f"+cookie={sent}", "www.example.com", "A")
    assert "(good)" in over_tcp
    out = _kdig(identified.port, "+cookie", "www.example.com", "A")
    assert "COOKIE:" in out and "NOERROR" in out
    # A malformed cookie option (5 bytes): FORMERR, as BIND answers.
    bad = _dig(identified.port, "+cookie=0011223344", "+nobadcookie", "www.example.com", "A")
    assert "status: FORMERR" in bad


def test_required_cookies_through_dig(server_factory: StartServer, tmp_path: Path) -> None:
    """require_server_cookie: a UDP query with a client cookie alone gets BADCOOKIE and a
    server cookie, which dig retries with (its +badcookie); TCP, or no COOKIE option at all,
    is answered."""
    srv, _ = serve_one_zone(server_factory, tmp_path, "example.com.", ZONE,
                            "require_server_cookie = true\n")
    first = _dig(srv.port, "+cookie", "+nobadcookie", "www.example.com", "A")
    assert "status: BADCOOKIE" in first and "ANSWER: 0" in first, first
    (line,) = [x for x in first.splitlines() if x.startswith("; COOKIE:")]
    assert len(line.split()[2]) == 48  # client and server cookie, to retry with
    retried = _dig(srv.port, "+cookie", "www.example.com", "A")
    assert "status: NOERROR" in retried and "(good)" in retried, retried
    assert "status: NOERROR" in _dig(srv.port, "+tcp", "+cookie", "www.example.com", "A")
    assert "status: NOERROR" in _dig(srv.port, "+nocookie", "www.example.com", "A")


@pytest.mark.parametrize("size", [1, 7, 12, 41])
def test_malformed_cookie_options_get_formerr(identified: ServerProcess, size: int) -> None:
    response = _ask(identified.port, "www.example.com", "A", "IN",
                    options=[dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"x" * size)])
    assert response.rcode() == dns.rcode.FORMERR and not response.answer
    good = _ask(identified.port, "www.example.com", "A", "IN",
                options=[dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"x" * 8)])
    assert good.rcode() == dns.rcode.NOERROR and good.answer


@pytest.fixture(scope="module")
def nsd_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PeerProcess]]:
    root = tmp_path_factory.mktemp("nsd")
    missing = Nsd().missing()
    if missing:
        pytest.fail(missing)
    path = root / "example.com.zone"
    path.write_text(ZONE)
    zone = Zone("example.com", path)
    peers = {"identified": Nsd(NSD_IDENTIFIED).start(root / "identified", [zone], check=True),
             "hidden": Nsd(NSD_HIDDEN).start(root / "hidden", [zone], check=True)}
    try:
        for peer in peers.values():
            peer.wait_ready([zone], timeout=30)
        yield peers
    finally:
        for peer in peers.values():
            peer.stop()


@pytest.mark.interop
@pytest.mark.parametrize(("ours", "theirs"), [(IDENTIFIED, "identified"), ("", "hidden")])
def test_answers_are_nsds(server_factory: StartServer, tmp_path: Path,
                          nsd_pair: dict[str, PeerProcess], ours: str, theirs: str) -> None:
    srv, _ = serve_one_zone(server_factory, tmp_path, "example.com.", ZONE, ours)
    nsd = nsd_pair[theirs]
    nsid: list[dns.edns.Option] = [dns.edns.GenericOption(dns.edns.OptionType.NSID, b"")]
    # An NSID option carrying data (RFC 5001 says a query's is empty): answered as NSD does.
    with_data: list[dns.edns.Option] = [dns.edns.GenericOption(dns.edns.OptionType.NSID,
                                                               b"data")]
    for name, rdtype, rdclass in QUESTIONS:
        for edns, options in ((-1, None), (0, None), (0, nsid), (0, with_data)):
            mine = _ask(srv.port, name, rdtype, rdclass, edns, options)
            peer = _ask(nsd.port, name, rdtype, rdclass, edns, options)
            assert _shape(mine) == _shape(peer), (name, rdtype, rdclass, edns, options)


FLOOD = 60  # queries of the flood, sent at once from one address
RATE = 5


def _collect(sock: socket.socket, until_quiet: float = 1.0, at_most: float = 5.0
             ) -> dict[int, dns.message.Message]:
    """The responses that arrive until none has for `until_quiet` s, by ID."""
    got: dict[int, dns.message.Message] = {}
    deadline = time.monotonic() + at_most
    sock.settimeout(until_quiet)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            break
        message = dns.message.from_wire(data)
        got[message.id] = message
    return got


def test_a_flood_is_rate_limited_with_the_slip_pattern(server_factory: StartServer,
                                                       tmp_path: Path) -> None:
    metrics_port = free_port()
    settings = (f'metrics = "127.0.0.1:{metrics_port}"\n'
                f"[rrl]\nresponses_per_second = {RATE}\nslip = 2\nwindow = 15\n")
    srv, _ = serve_one_zone(server_factory, tmp_path, "example.com.", ZONE, settings)
    query = dns.message.make_query("www.example.com", "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as flood, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        flood.bind(("127.0.0.1", 0))
        other.bind(("127.0.1.1", 0))  # another /24 (127.0.0.2 would share 127.0.0.1's)
        for i in range(FLOOD):
            query.id = i
            flood.sendto(query.to_wire(), ("127.0.0.1", srv.port))
        got = _collect(flood)
        for i in range(RATE):  # within its own rate
            query.id = i
            other.sendto(query.to_wire(), ("127.0.0.1", srv.port))
        others = _collect(other)
    full = [i for i, m in got.items() if not m.flags & dns.flags.TC]
    assert set(range(RATE)) <= set(full)
    assert len(full) <= 2 * RATE  # and one second's credit more if the flood spanned two
    limited = [i for i in range(FLOOD) if i not in full]
    # BIND's slip pattern: the first limited answer goes out truncated, the next dropped...
    assert [i in got for i in limited] == [n % 2 == 0 for n in range(len(limited))]
    for i in limited[::2]:
        assert got[i].flags & dns.flags.TC and not got[i].answer
    assert sorted(others) == list(range(RATE))  # the other client: every answer
    assert all(m.answer and not m.flags & dns.flags.TC for m in others.values())
    # The metrics count what the flooding client saw held back: truncated, or never sent.
    slipped = len([i for i in limited if i in got])
    name = "dnsbackend_responses_rate_limited_total"
    samples = scrape_until(metrics_port, name, slipped, action="slipped")
    samples = scrape_until(metrics_port, name, FLOOD - len(got), action="dropped")
    assert total(samples, name, action="slipped") == slipped
    assert total(samples, name, action="dropped") == FLOOD - len(got)
    assert total(scrape(metrics_port), name) == len(limited)
    for _ in range(RATE * 2):  # TCP is never limited
        assert dns.query.tcp(query, "127.0.0.1", port=srv.port, timeout=5).answer


def test_identification_and_rate_limiting_change_live(server_factory: StartServer,
                                                      tmp_path: Path) -> None:
    srv, _ = serve_one_zone(server_factory, tmp_path, "example.com.", ZONE, IDENTIFIED)
    config = tmp_path / "dnsbackend.toml"

    def identity(response: dns.message.Message) -> list[bytes]:
        return [s for rrset in response.answer for r in rrset for s in r.strings]

    assert identity(_ask(srv.port, "id.server", "TXT", "CH")) == [b"ns1.example.net"]
    config.write_text('identity = "ns2.example.net"\n[rrl]\nresponses_per_second = 1\n')
    deadline = time.monotonic() + 30
    while identity(_ask(srv.port, "id.server", "TXT", "CH")) != [b"ns2.example.net"]:
        assert time.monotonic() < deadline, srv.output()
        time.sleep(0.05)
    response = _ask(srv.port, "version.bind", "TXT", "CH")  # no longer configured
    assert response.rcode() == dns.rcode.REFUSED
    # One response a second now: of a burst of 6, at most 2 answered whole (a second may turn).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        query = dns.message.make_query("www.example.com", "A")
        for i in range(6):
            query.id = i
            sock.sendto(query.to_wire(), ("127.0.0.1", srv.port))
        got = _collect(sock)
    assert 1 <= sum(1 for m in got.values() if not m.flags & dns.flags.TC) <= 2
    assert any(m.flags & dns.flags.TC for m in got.values())
