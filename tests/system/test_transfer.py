"""Zone transfers out: AXFR of one consistent version over as many messages as it takes, IXFR
from the journal (or the whole zone when the journal cannot), refused unless allowed (real
secondaries: test_secondaries.py)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone

from testkit.server import ServerProcess, StartServer, serve_one_zone
from testkit.tcp import read_message
from testkit.zones import versioned_zone, versions_in, write_atomically

ORIGIN = "xfr.test."
ALLOW_LOOPBACK = '[transfer]\nallow = [{ address = "127.0.0.0/8" }, { address = "::1" }]\n'


def start(tmp_path: Path, server_factory: StartServer, text: str,
          config: str = ALLOW_LOOPBACK) -> tuple[ServerProcess, Path]:
    return serve_one_zone(server_factory, tmp_path, ORIGIN, text, config)


def axfr(srv: ServerProcess) -> list[dns.message.Message]:
    return list(dns.query.xfr("127.0.0.1", ORIGIN, port=srv.port, lifetime=30,
                              relativize=False))


def records(msgs: list[dns.message.Message]) -> list[tuple[str, int, str]]:
    return [(rrset.name.to_text().lower(), int(rrset.rdtype), rdata.to_text())
            for m in msgs for rrset in m.answer for rdata in rrset]


def file_records(text: str) -> set[tuple[str, int, str]]:
    zone = dns.zone.from_text(text, origin=ORIGIN, relativize=False)
    return {(name.to_text().lower(), int(rdataset.rdtype), rdata.to_text())
            for name, rdataset in zone.iterate_rdatasets() for rdata in rdataset}


def test_nobody_may_transfer_by_default(tmp_path: Path, server_factory: StartServer) -> None:
    srv, _ = start(tmp_path, server_factory, versioned_zone(ORIGIN, 1), config="")
    q = dns.message.make_query(ORIGIN, "AXFR")
    r = dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=5)
    assert r.rcode() == dns.rcode.REFUSED and not r.answer
    assert f"transfer of {ORIGIN} to 127.0.0.1: refused" in srv.wait_logged("refused")


def test_axfr_is_the_whole_zone_over_many_messages(tmp_path: Path,
                                                   server_factory: StartServer) -> None:
    text = versioned_zone(ORIGIN, 1, padding=5000)
    srv, _ = start(tmp_path, server_factory, text)
    msgs = axfr(srv)
    got = records(msgs)
    assert len(msgs) > 3  # 5,000 records do not fit one 16 KB message
    assert got[0][1] == got[-1][1] == dns.rdatatype.SOA
    assert sum(1 for r in got if r[1] == dns.rdatatype.SOA) == 2
    assert set(got) == file_records(text) and len(got) == len(file_records(text)) + 1
    srv.wait_logged(f"transfer of {ORIGIN} to 127.0.0.1: AXFR, serial 1, {len(got)} records")


def test_axfr_over_udp_is_refused(tmp_path: Path, server_factory: StartServer) -> None:
    srv, _ = start(tmp_path, server_factory, versioned_zone(ORIGIN, 1))
    r = dns.query.udp(dns.message.make_query(ORIGIN, "AXFR"), "127.0.0.1", port=srv.port,
                      timeout=5)
    assert r.rcode() == dns.rcode.REFUSED


def ixfr(srv: ServerProcess, serial: int) -> list[dns.message.Message]:
    return list(dns.query.xfr("127.0.0.1", ORIGIN, rdtype=dns.rdatatype.IXFR, serial=serial,
                              port=srv.port, lifetime=30, relativize=False))


def _has_serial(n: int) -> Callable[[dns.message.Message], bool]:
    return lambda r: bool(r.answer) and r.answer[0][0].serial == n


def test_ixfr_sends_the_journal_and_falls_back_to_the_zone(tmp_path: Path,
                                                          server_factory: StartServer) -> None:
    srv, path = start(tmp_path, server_factory, versioned_zone(ORIGIN, 1, padding=50))
    write_atomically(str(path), versioned_zone(ORIGIN, 1, padding=50).replace(
        " 1 3600 600", " 2 3600 600").replace("host7 IN A", "host7-new IN A"))
    srv.wait_until(ORIGIN, "SOA", lambda r: bool(r.answer) and r.answer[0][0].serial == 2)
    got = records(ixfr(srv, 1))
    soas = [r for r in got if r[1] == dns.rdatatype.SOA]
    assert [s[2].split()[2] for s in soas] == ["2", "1", "2", "2"]  # new, old, new, new
    removed = got[got.index(soas[1]) + 1:got.index(soas[2], 2)]
    added = got[got.index(soas[2], 2) + 1:-1]
    assert [r[0] for r in removed] == [f"host7.{ORIGIN}"]
    assert [r[0] for r in added] == [f"host7-new.{ORIGIN}"]
    srv.wait_logged(f"transfer of {ORIGIN} to 127.0.0.1: IXFR, serial 1 -> 2")
    # Current: one SOA. Unknown serial: the whole zone, AXFR style.
    current = records(ixfr(srv, 2))
    assert len(current) == 1 and current[0][1] == dns.rdatatype.SOA
    whole = records(ixfr(srv, 0))  # older than the journal reaches
    assert whole[0][1] == whole[-1][1] == dns.rdatatype.SOA and len(whole) > 50
    assert set(whole) == file_records(path.read_text())
    srv.wait_logged(f"transfer of {ORIGIN} to 127.0.0.1: IXFR-as-AXFR, serial 0 -> 2")


def test_transfers_during_edits_never_mix_versions(tmp_path: Path,
                                                   server_factory: StartServer) -> None:
    srv, path = start(tmp_path, server_factory, versioned_zone(ORIGIN, 1, padding=3000))
    stop = threading.Event()

    def edit() -> None:
        n = 1
        while not stop.is_set():
            n += 1
            write_atomically(str(path), versioned_zone(ORIGIN, n, padding=3000))
            time.sleep(0.1)

    editor = threading.Thread(target=edit)
    editor.start()
    try:
        seen = set()
        for _ in range(8):
            msgs = axfr(srv)
            found = set()
            for m in msgs:
                found |= versions_in(m)
            assert len(found) == 1, found  # one version, whole
            seen |= found
    finally:
        stop.set()
        editor.join()
    assert len(seen) > 1  # the edits did land in between


def test_queries_before_and_after_a_transfer_on_one_connection(
        tmp_path: Path, server_factory: StartServer) -> None:
    srv, _ = start(tmp_path, server_factory, versioned_zone(ORIGIN, 1, padding=2000))
    asks = [dns.message.make_query("www." + ORIGIN, "A"),
            dns.message.make_query(ORIGIN, "AXFR"),
            dns.message.make_query(ORIGIN, "SOA")]
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(b"".join(struct.pack("!H", len(w)) + w for w in
                              (q.to_wire() for q in asks)))
        replies: list[dns.message.Message] = []
        while len(replies) < 2 or replies[-1].id != asks[2].id:
            replies.append(dns.message.from_wire(read_message(sock)))
    assert replies[0].id == asks[0].id and replies[0].answer
    assert all(r.id == asks[1].id for r in replies[1:-1]) and len(replies) > 3
    assert replies[-1].answer[0].rdtype == dns.rdatatype.SOA


def test_bad_transfer_requests_get_clear_answers_and_hold_nothing(
        tmp_path: Path, server_factory: StartServer) -> None:
    srv, _ = start(tmp_path, server_factory, versioned_zone(ORIGIN, 1))
    q = dns.message.make_query(ORIGIN, "IXFR")
    wire = bytearray(q.to_wire())
    wire[9] = 1  # NSCOUNT 1, then garbage where the SOA should be
    wire += b"\x07garbage\xff\xff\xff"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + bytes(wire))
        reply = dns.message.from_wire(read_message(sock))
    assert reply.rcode() in (dns.rcode.FORMERR, dns.rcode.REFUSED) and not reply.answer
    # A request cut short, then the connection dropped: nothing is held open.
    whole = dns.message.make_query(ORIGIN, "AXFR").to_wire()
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(struct.pack("!H", len(whole)) + whole[:len(whole) // 2])
    # A flood of NOTIFYs (we are a primary only): each answered REFUSED, queries still
    # served.
    notify = dns.message.make_query(ORIGIN, "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        for _ in range(300):
            udp.sendto(notify.to_wire(), ("127.0.0.1", srv.port))
        answered = dns.message.from_wire(udp.recv(4096))
    assert answered.rcode() == dns.rcode.REFUSED
    # The same over TCP, 100 on one connection (with the SOA in the answer section, as
    # secondaries send it): 100 answers, each REFUSED, then the connection still serves.
    notify.answer.append(dns.rrset.from_text(ORIGIN, 0, "IN", "SOA", "ns. h. 9 1 1 1 1"))
    notify_wire = notify.to_wire()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall((struct.pack("!H", len(notify_wire)) + notify_wire) * 100)
        for _ in range(100):
            reply = dns.message.from_wire(read_message(sock))
            assert reply.rcode() == dns.rcode.REFUSED and reply.opcode() == dns.opcode.NOTIFY
    assert len(axfr(srv)) >= 1 and srv.query(ORIGIN, "SOA").answer
    assert "Traceback" not in srv.output()
