"""TSIG-signed ordinary queries (RFC 8945) with the real server, over UDP and TCP: verified
and answered signed with the same key (checked by dnspython, dig and kdig), errors answered
as the RFC says (BADKEY, BADSIG unsigned; BADTIME signed), never answered as if unsigned; a
signed answer that would not fit is cut with TC and still signed."""

from __future__ import annotations

import base64
import hashlib
import socket
import subprocess
import time

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import pytest

from testkit.server import ServerProcess, StartServer
from testkit.zones import versioned_zone

from .test_tsig import ORIGIN, SECRET, key_table, ring, signed_at, start, tool, tsig_of

OTHER = base64.b64encode(hashlib.sha256(b"not the secret").digest()).decode()
CONFIG = key_table("xfr") + key_table("other", "hmac-sha512", OTHER)


def _udp(wire: bytes, port: int) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(wire, ("127.0.0.1", port))
        return sock.recv(65535)


def _served(tmp_path: object, server_factory: StartServer) -> ServerProcess:
    srv, _, _ = start(tmp_path, server_factory, CONFIG, padding=10)  # type: ignore[arg-type]
    return srv


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_signed_query_is_answered_signed_with_the_same_key(
        tmp_path: object, server_factory: StartServer, tcp: bool) -> None:
    srv = _served(tmp_path, server_factory)
    unsigned = srv.query(f"www.{ORIGIN}", "A", tcp=tcp)
    for name, algorithm, secret in (("xfr.", "hmac-sha256", SECRET),
                                    ("other.", "hmac-sha512", OTHER)):
        q = dns.message.make_query(f"www.{ORIGIN}", "A", use_edns=0)
        keyring = ring(name, algorithm, secret)
        q.use_tsig(keyring, keyname=name)
        send = dns.query.tcp if tcp else dns.query.udp
        r = send(q, "127.0.0.1", port=srv.port, timeout=5)  # dnspython verifies it
        assert r.had_tsig and r.rcode() == dns.rcode.NOERROR
        assert r.keyname == dns.name.from_text(name)
        assert sorted(map(str, r.answer)) == sorted(map(str, unsigned.answer))
        assert r.edns == 0  # the OPT record stays, before the TSIG RR


@pytest.mark.parametrize("program", ["dig", "kdig"])
def test_dig_and_kdig_verify_a_signed_answer(tmp_path: object, server_factory: StartServer,
                                             program: str) -> None:
    srv = _served(tmp_path, server_factory)
    for transport in ("+notcp", "+tcp"):
        done = subprocess.run([tool(program), "-p", str(srv.port), "@127.0.0.1", "-y",
                               f"hmac-sha256:xfr:{SECRET}", transport, "+norec", f"www.{ORIGIN}",
                               "A"],
                              capture_output=True, text=True, timeout=30)
        out = done.stdout + done.stderr
        assert done.returncode == 0 and "NOERROR" in out and "TSIG" in out, out
        # dig: "Couldn't verify signature", kdig: "failed to verify reply TSIG".
        assert not any(word in out.lower() for word in ("verify", "fail")), out


def test_an_unknown_key_or_a_wrong_secret_is_notauth_unsigned_never_an_answer(
        tmp_path: object, server_factory: StartServer) -> None:
    srv = _served(tmp_path, server_factory)
    for name, secret, error in (("nobody.", SECRET, dns.rcode.BADKEY),
                                ("xfr.", OTHER, dns.rcode.BADSIG)):
        q = dns.message.make_query(f"www.{ORIGIN}", "A")
        q.use_tsig(dns.tsigkeyring.from_text({name: secret}), keyname=name)
        for reply in (_udp(q.to_wire(), srv.port),):
            m, rdata = tsig_of(reply)
            assert m.rcode() == dns.rcode.NOTAUTH and rdata.error == error
            assert not m.answer and rdata.mac == b""  # unsigned (RFC 8945 section 5.2)
        with pytest.raises((dns.tsig.PeerBadKey, dns.tsig.PeerBadSignature)):
            dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=5)


def test_a_clock_off_is_badtime_signed_and_inside_the_fudge_is_answered(
        tmp_path: object, server_factory: StartServer) -> None:
    srv = _served(tmp_path, server_factory)
    key = ring()[dns.name.from_text("xfr.")]
    q = dns.message.make_query(f"www.{ORIGIN}", "A")
    for skew in (-600, 600):
        wire, _ = signed_at(q, key, int(time.time()) + skew)
        m, rdata = tsig_of(_udp(wire, srv.port))
        assert m.rcode() == dns.rcode.NOTAUTH and rdata.error == dns.rcode.BADTIME
        assert rdata.mac and abs(int.from_bytes(rdata.other, "big") - time.time()) < 30
    for skew in (-250, 250):
        wire, _ = signed_at(q, key, int(time.time()) + skew)
        m, rdata = tsig_of(_udp(wire, srv.port))
        assert m.rcode() == dns.rcode.NOERROR and m.answer and rdata.error == 0


def test_a_signed_answer_too_big_for_udp_is_cut_with_tc_and_still_signed(
        tmp_path: object, server_factory: StartServer) -> None:
    zones = tmp_path / "zones"  # type: ignore[operator]
    zones.mkdir()
    text = versioned_zone(ORIGIN, 1, padding=5) + "".join(
        f"fat IN TXT \"{'x' * 200} {i}\"\n" for i in range(10))
    (zones / f"{ORIGIN}zone").write_text(text)
    settings = tmp_path / "dnsbackend.toml"  # type: ignore[operator]
    settings.write_text(CONFIG)
    srv = server_factory(zones, config=settings)
    srv.wait_served(ORIGIN)
    q = dns.message.make_query(f"fat.{ORIGIN}", "TXT")
    q.use_tsig(ring(), keyname="xfr.")
    r = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=5)  # verified by dnspython
    assert r.flags & dns.flags.TC and r.had_tsig and not r.answer
    whole = dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=5)
    assert whole.had_tsig and sum(len(rrset) for rrset in whole.answer) == 10


def test_signed_transfers_over_udp_and_notify_are_refused_signed(
        tmp_path: object, server_factory: StartServer) -> None:
    srv = _served(tmp_path, server_factory)
    notify = dns.message.make_query(ORIGIN, "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    axfr = dns.message.make_query(ORIGIN, "AXFR")
    for q in (notify, axfr):
        q.use_tsig(ring(), keyname="xfr.")
        r = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=5)
        assert r.rcode() == dns.rcode.REFUSED and r.had_tsig
    assert "Traceback" not in srv.output()
