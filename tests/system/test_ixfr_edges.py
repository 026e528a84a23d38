"""IXFR (RFC 1995) edge cases with the real server: a chain of 30 edits, IXFR from every
old serial applied by dnspython's own IXFR client ends on exactly our zone (within the
journal's depth by increments, beyond it as the whole zone); unknown, newer and current
serials; the journal restarted with the zone; IXFR over UDP when it fits and when not."""

from __future__ import annotations

import socket
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.xfr
import dns.zone

from testkit.server import ServerProcess, StartServer
from testkit.zones import write_atomically

from .test_transfer import ALLOW_LOOPBACK, ORIGIN, file_records, records

EDITS = 30
DEPTH = 10


def edited_zone(n: int, padding: int = 60) -> str:
    """Version n of a zone where each edit adds a name, changes one TXT and the SOA, and
    from time to time removes a name or changes a TTL: a few records per edit."""
    lines = [f"$ORIGIN {ORIGIN}", "$TTL 300",
             f"@ IN SOA ns1 hostmaster {n} 3600 600 86400 60", "@ IN NS ns1",
             "ns1 IN A 192.0.2.1"]
    lines += [f"host{i} IN A 192.0.2.{i % 250 + 2}" for i in range(padding)
              if not (i < n and i % 7 == 3)]  # removed by edit i
    lines += [f"added{k} IN AAAA 2001:db8::{k:x}" for k in range(1, n + 1)]
    for k in range(5):  # each TXT as the last edit that touched it left it (text and TTL)
        last = max((m for m in range(1, n + 1) if m % 5 == k), default=0)
        lines.append(f'txt{k} {300 + last} IN TXT "edit {last}"')
    return "\n".join(lines) + "\n"


def _served(tmp_path: Path, server_factory: StartServer, config: str) -> tuple[ServerProcess,
                                                                                Path]:
    zones = tmp_path / "zones"
    zones.mkdir()
    path = zones / f"{ORIGIN}zone"
    path.write_text(edited_zone(1))
    settings = tmp_path / "dnsbackend.toml"
    settings.write_text(config)
    srv = server_factory(zones, config=settings)
    srv.wait_served(ORIGIN)
    return srv, path


def _edit_to(srv: ServerProcess, path: Path, n: int) -> None:
    write_atomically(str(path), edited_zone(n))
    srv.wait_until(ORIGIN, "SOA", lambda r: bool(r.answer) and r.answer[0][0].serial == n)


def _client_update(srv: ServerProcess, serial: int, udp: bool = False) -> tuple[str, set[
        tuple[str, int, str]]]:
    """dnspython's IXFR client, from its copy of version `serial`: how the answer came
    (incremental or whole) and the records it holds after applying it."""
    zone = dns.zone.from_text(edited_zone(serial), origin=ORIGIN, relativize=False)
    query, _ = dns.xfr.make_query(zone, serial=serial)
    seen: list[str] = []
    mode = dns.query.UDPMode.TRY_FIRST if udp else dns.query.UDPMode.NEVER
    first = dns.query.xfr("127.0.0.1", ORIGIN, rdtype=dns.rdatatype.IXFR, serial=serial,
                          port=srv.port, relativize=False, lifetime=30) if not udp else None
    if first is not None:  # how it came: a second SOA right after the first is incremental
        got = records(list(first))
        seen.append("incremental" if len(got) > 1 and got[1][1] == dns.rdatatype.SOA
                    else "whole" if len(got) > 1 else "current")
    dns.query.inbound_xfr("127.0.0.1", zone, query, port=srv.port, lifetime=30,
                          udp_mode=mode)
    held = {(name.to_text().lower(), int(rdataset.rdtype), rdata.to_text())
            for name, rdataset in zone.iterate_rdatasets() for rdata in rdataset}
    return (seen[0] if seen else ""), held


def test_ixfr_from_every_old_serial_ends_on_our_zone(tmp_path: Path,
                                                     server_factory: StartServer) -> None:
    srv, path = _served(tmp_path, server_factory, f"journal_depth = {DEPTH}\n" + ALLOW_LOOPBACK)
    for n in range(2, EDITS + 1):
        _edit_to(srv, path, n)
    ours = file_records(edited_zone(EDITS))
    for serial in range(1, EDITS + 1):
        how, held = _client_update(srv, serial)
        assert held == ours, serial
        expected = ("current" if serial == EDITS else
                    "incremental" if serial >= EDITS - DEPTH else "whole")
        assert how == expected, serial
    # A serial the zone never had, and one newer than ours.
    q, _ = dns.xfr.make_query(dns.zone.Zone(ORIGIN), serial=1000 + EDITS)
    newer = dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=10)  # one message
    assert len(newer.answer) == 1 and newer.answer[0][0].serial == EDITS  # our SOA alone
    older = records(list(dns.query.xfr("127.0.0.1", ORIGIN, rdtype=dns.rdatatype.IXFR,
                                       serial=(EDITS - 2**31 + 7) % 2**32, port=srv.port,
                                       lifetime=30, relativize=False)))
    assert set(older) == ours and older[1][1] != dns.rdatatype.SOA  # the whole zone
    # Over UDP: small enough to fit, and applied by the same client.
    how, held = _client_update(srv, EDITS - 1, udp=True)
    assert held == ours


def test_the_journal_restarted_with_the_zone_gives_the_whole_zone(
        tmp_path: Path, server_factory: StartServer) -> None:
    srv, path = _served(tmp_path, server_factory, ALLOW_LOOPBACK)
    _edit_to(srv, path, 2)
    assert _client_update(srv, 1)[0] == "incremental"
    path.unlink()
    srv.wait_until(ORIGIN, "SOA", lambda r: r.rcode() == dns.rcode.REFUSED)
    path.write_text(edited_zone(3))
    srv.wait_until(ORIGIN, "SOA", lambda r: bool(r.answer) and r.answer[0][0].serial == 3)
    for serial in (1, 2):  # both before the zone came back: nothing to build on
        how, held = _client_update(srv, serial)
        assert how == "whole" and held == file_records(edited_zone(3))
    assert "Traceback" not in srv.output()


def _udp_ixfr(srv: ServerProcess, serial: int, payload: int | None) -> dns.message.Message:
    q = dns.message.make_query(ORIGIN, "IXFR", use_edns=0 if payload else False,
                               payload=payload or 512)
    q.authority.append(dns.rrset.from_text(ORIGIN, 0, "IN", "SOA",
                                           f"ns1.{ORIGIN} h.{ORIGIN} {serial} 1 1 1 1"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(q.to_wire(), ("127.0.0.1", srv.port))
        reply = sock.recv(65535)
    assert len(reply) <= max(512, payload or 512)
    return dns.message.from_wire(reply, one_rr_per_rrset=True)


def test_ixfr_over_udp_fits_or_is_our_soa_alone(tmp_path: Path,
                                                server_factory: StartServer) -> None:
    srv, path = _served(tmp_path, server_factory, ALLOW_LOOPBACK)
    for n in range(2, 6):
        _edit_to(srv, path, n)
    small = _udp_ixfr(srv, 4, 4096)  # one edit: a few records
    got = records([small])
    assert [r[2].split()[2] for r in got if r[1] == dns.rdatatype.SOA] == ["5", "4", "5", "5"]
    assert not small.flags & dns.flags.TC and small.edns == 0
    for payload in (None, 1232):  # four edits do not fit 512 bytes; nor whole zones 1232
        serial = 1 if payload is None else 0
        big = _udp_ixfr(srv, serial, payload)
        assert big.flags & dns.flags.TC and big.rcode() == dns.rcode.NOERROR
        assert len(big.answer) == 1 and big.answer[0][0].serial == 5
    current = _udp_ixfr(srv, 5, None)
    assert not current.flags & dns.flags.TC and len(current.answer) == 1
    assert current.answer[0][0].serial == 5
    # AXFR over UDP stays refused; IXFR over UDP follows the ACL like over TCP.
    axfr = dns.query.udp(dns.message.make_query(ORIGIN, "AXFR"), "127.0.0.1", port=srv.port,
                         timeout=5)
    assert axfr.rcode() == dns.rcode.REFUSED
    srv.wait_logged(f"transfer of {ORIGIN} to 127.0.0.1: IXFR over UDP, serial 4 -> 5")


def test_ixfr_over_udp_is_refused_without_the_acl(tmp_path: Path,
                                                  server_factory: StartServer) -> None:
    srv, _ = _served(tmp_path, server_factory, "")
    reply = _udp_ixfr(srv, 1, 1232)
    assert reply.rcode() == dns.rcode.REFUSED and not reply.answer


def test_a_client_over_udp_goes_to_tcp_when_the_answer_does_not_fit(
        tmp_path: Path, server_factory: StartServer) -> None:
    srv, path = _served(tmp_path, server_factory, ALLOW_LOOPBACK)
    for n in range(2, 9):
        _edit_to(srv, path, n)
    _, held = _client_update(srv, 1, udp=True)  # dnspython: UDP first, then TCP
    assert held == file_records(edited_zone(8))
    srv.wait_logged(f"transfer of {ORIGIN} to 127.0.0.1: IXFR too big for UDP, SOA only, "
                    "serial 1 -> 8")
    srv.wait_logged(f"transfer of {ORIGIN} to 127.0.0.1: IXFR, serial 1 -> 8")


def test_ixfr_beyond_the_journal_size_is_the_whole_zone(tmp_path: Path,
                                                        server_factory: StartServer) -> None:
    """journal_size evicts the oldest changesets: below some serial every IXFR is the whole
    zone, from there on incremental, and both kinds happen."""
    srv, path = _served(tmp_path, server_factory, "journal_size = 1500\n" + ALLOW_LOOPBACK)
    last = 12
    for n in range(2, last + 1):
        _edit_to(srv, path, n)
    ours = file_records(edited_zone(last))
    kinds = []
    for serial in range(1, last):
        how, held = _client_update(srv, serial)
        assert held == ours, serial
        kinds.append(how)
    assert kinds[0] == "whole" and kinds[-1] == "incremental", kinds
    cut = kinds.index("incremental")
    assert set(kinds[cut:]) == {"incremental"}, kinds  # one cut, no holes


def test_bad_ixfr_over_udp_gets_formerr_or_nothing_and_the_server_goes_on(
        tmp_path: Path, server_factory: StartServer) -> None:
    srv, _ = _served(tmp_path, server_factory, ALLOW_LOOPBACK)
    q = dns.message.make_query(ORIGIN, "IXFR")
    q.authority.append(dns.rrset.from_text(ORIGIN, 0, "IN", "SOA", f"ns1.{ORIGIN} h. 1 1 1 1 1"))
    good = q.to_wire()
    garbage = bytearray(dns.message.make_query(ORIGIN, "IXFR").to_wire())
    garbage[9] = 1  # NSCOUNT 1, then garbage where the SOA should be
    garbage += b"\x07garbage\xff\xff\xff"
    cuts = [good[:n] for n in range(12, len(good), 7)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        for wire in [bytes(garbage), *cuts]:
            sock.sendto(wire, ("127.0.0.1", srv.port))
            try:
                reply = sock.recv(65535)
            except TimeoutError:
                continue  # dropped: fine
            rcode = reply[3] & 0x0F
            assert rcode in (dns.rcode.FORMERR, dns.rcode.REFUSED), (wire, reply)
            assert reply[:2] == wire[:2] and not reply[6] and not reply[7]  # no answer
    assert len(_udp_ixfr(srv, 1, 1232).answer) == 1  # current: our SOA, still served
    assert "Traceback" not in srv.output()
