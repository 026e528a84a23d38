"""TSIG with the real server: AXFR signed with every algorithm, checked by dig and kdig
(BIND's and Knot's own TSIG code); every way a request can fail (unsigned, unknown key,
wrong secret, clock off, wrong address, IPv6, nobody by default); keys changed live;
secrets never logged; signed NOTIFY; and a real NSD secondary with a key both ways."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import pytest

from testkit.peers import Nsd, Zone
from testkit.ports import free_port
from testkit.server import ServerProcess, StartServer
from testkit.tcp import read_message
from testkit.zones import versioned_zone, write_atomically

ORIGIN = "xfr.test."
ALGORITHMS = ["hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384",
              "hmac-sha512"]
WIRE_NAMES = {"hmac-md5": "hmac-md5.sig-alg.reg.int."} | {a: a + "." for a in ALGORITHMS[1:]}
HASHES = {"hmac-md5": hashlib.md5, "hmac-sha1": hashlib.sha1, "hmac-sha224": hashlib.sha224,
          "hmac-sha256": hashlib.sha256, "hmac-sha384": hashlib.sha384,
          "hmac-sha512": hashlib.sha512}
SECRET = base64.b64encode(hashlib.sha256(b"dnsbackend tsig test").digest()).decode()
OTHER = base64.b64encode(hashlib.sha256(b"another secret").digest()).decode()


def key_table(name: str, algorithm: str = "hmac-sha256", secret: str = SECRET) -> str:
    return f'[key."{name}"]\nalgorithm = "{algorithm}"\nsecret = "{secret}"\n'


def start(tmp_path: Path, server_factory: StartServer, config: str, padding: int = 3000,
          extra: list[str] | None = None) -> tuple[ServerProcess, Path, Path]:
    zones = tmp_path / "zones"
    zones.mkdir()
    path = zones / f"{ORIGIN}zone"
    path.write_text(versioned_zone(ORIGIN, 1, padding=padding))
    settings = tmp_path / "dnsbackend.toml"
    settings.write_text(config)
    srv = server_factory(zones, extra=extra, config=settings)
    srv.wait_served(ORIGIN)
    return srv, path, settings


def ring(name: str = "xfr.", algorithm: str = "hmac-sha256",
         secret: str = SECRET) -> dict[dns.name.Name, dns.tsig.Key]:
    return dns.tsigkeyring.from_text({name: (WIRE_NAMES[algorithm], secret)})


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is needed for this test (Debian packages bind9-dnsutils, "
                    "knot-dnsutils)")
    return found


def signed_query(name: str = "xfr.", secret: str = SECRET,
                 rdtype: str = "AXFR") -> dns.message.Message:
    q = dns.message.make_query(ORIGIN, rdtype)
    q.use_tsig(ring(name, secret=secret), keyname=name)
    return q


def exchange(wire: bytes, port: int, host: str = "127.0.0.1") -> bytes:
    """One message over TCP, one answer back (raw, so that nothing checks it for us)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect((host, port))
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        return read_message(sock)


def tsig_of(wire: bytes) -> tuple[dns.message.Message, dns.rdtypes.ANY.TSIG.TSIG]:
    m = dns.message.from_wire(wire, keyring=False)
    assert m.tsig is not None, "the answer has no TSIG RR"
    rdata = m.tsig[0]
    assert isinstance(rdata, dns.rdtypes.ANY.TSIG.TSIG)
    return m, rdata


# -- every algorithm, checked by dig and kdig ----------------------------------------------

def test_every_algorithm_axfr_by_dig_and_kdig(tmp_path: Path,
                                              server_factory: StartServer) -> None:
    dig, kdig = tool("dig"), tool("kdig")
    config = "".join(key_table(f"k-{a}", a) for a in ALGORITHMS) + "[transfer]\nallow = [" \
        + ", ".join(f'{{ address = "127.0.0.1", key = "k-{a}" }}' for a in ALGORITHMS) + "]\n"
    srv, _, _ = start(tmp_path, server_factory, config)
    target = ["@127.0.0.1", "-p", str(srv.port), ORIGIN, "AXFR"]
    for algorithm in ALGORITHMS:
        spec = f"{algorithm}:k-{algorithm}:{SECRET}"
        # dig checks the MAC of every message and each one's chaining to the one before.
        out = subprocess.run([dig, "-y", spec, *target], capture_output=True, text=True,
                             timeout=60)
        text = out.stdout + out.stderr
        assert "XFR size: 3016 records (messages 5," in text, (algorithm, text[-2000:])
        assert "Couldn't verify" not in text and "could not be validated" not in text, \
            (algorithm, text[-2000:])
        assert text.count("\tTSIG\t") == 5  # every message signed (dig shows each TSIG)
        out = subprocess.run([kdig, "-y", spec, *target], capture_output=True, text=True,
                             timeout=60)
        text = out.stdout + out.stderr
        assert out.returncode == 0 and "(5 messages, 3016 records)" in text, \
            (algorithm, text[-2000:])
        assert ";; ERROR" not in text and ";; WARNING" not in text, (algorithm, text[-2000:])
        srv.wait_logged(f"transfer of {ORIGIN} to 127.0.0.1: AXFR, serial 1, 3016 records")
        srv.wait_logged(f"key k-{algorithm}.")
    # A wrong secret, to both: they see our BADSIG.
    spec = f"hmac-sha256:k-hmac-sha256:{OTHER}"
    text = subprocess.run([dig, "-y", spec, *target], capture_output=True, text=True,
                          timeout=60).stdout
    assert "BADSIG" in text and "Transfer failed" in text
    out = subprocess.run([kdig, "-y", spec, *target], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "BADSIG" in out.stdout + out.stderr
    assert SECRET not in srv.output() and OTHER not in srv.output()


# -- the ways a request fails --------------------------------------------------------------

KEYED = key_table("xfr") + '[transfer]\nallow = [{ address = "127.0.0.1", key = "xfr" }]\n'


def test_unsigned_where_a_key_is_required_is_refused(tmp_path: Path,
                                                     server_factory: StartServer) -> None:
    srv, _, _ = start(tmp_path, server_factory, KEYED, padding=10)
    r = dns.query.tcp(dns.message.make_query(ORIGIN, "AXFR"), "127.0.0.1", port=srv.port,
                      timeout=10)
    assert r.rcode() == dns.rcode.REFUSED and not r.answer and not r.had_tsig
    srv.wait_logged(f"transfer of {ORIGIN} to 127.0.0.1: refused (not signed; the ACL wants "
                    "key xfr.)")
    # The same request signed: the zone.
    msgs = list(dns.query.xfr("127.0.0.1", ORIGIN, port=srv.port, keyring=ring(),
                              keyname="xfr.", lifetime=30))
    assert msgs and all(m.had_tsig for m in msgs)


def test_an_unknown_key_is_badkey_and_a_wrong_secret_badsig(
        tmp_path: Path, server_factory: StartServer) -> None:
    srv, _, _ = start(tmp_path, server_factory, KEYED, padding=10)
    q = signed_query("other.")
    m, rdata = tsig_of(exchange(q.to_wire(), srv.port))
    assert m.rcode() == dns.rcode.NOTAUTH and rdata.error == dns.rcode.BADKEY
    assert rdata.mac == b"" and not m.answer  # unsigned
    with pytest.raises(dns.tsig.PeerBadKey):  # what a client with the key makes of it
        dns.query.tcp(signed_query("other."), "127.0.0.1", port=srv.port, timeout=10)
    q = signed_query(secret=OTHER)
    m, rdata = tsig_of(exchange(q.to_wire(), srv.port))
    assert m.rcode() == dns.rcode.NOTAUTH and rdata.error == dns.rcode.BADSIG
    assert rdata.mac == b""
    with pytest.raises(dns.tsig.PeerBadSignature):
        dns.query.tcp(signed_query(secret=OTHER), "127.0.0.1", port=srv.port, timeout=10)
    out = srv.wait_logged("refused (TSIG BADSIG, key xfr.)")
    assert "refused (TSIG BADKEY, key other.)" in out
    assert SECRET not in out and OTHER not in out


def signed_at(message: dns.message.Message, key: dns.tsig.Key, when: int) -> tuple[bytes,
                                                                                    bytes]:
    """The message signed by dnspython at Time Signed `when`, and its MAC."""
    wire = message.to_wire()
    rdata = dns.rdtypes.ANY.TSIG.TSIG(dns.rdataclass.ANY, dns.rdatatype.TSIG, key.algorithm,
                                      when, 300, b"", message.id, 0, b"")
    tsig, _ = dns.tsig.sign(wire, key, rdata, when)
    out = io.BytesIO()
    dns.rrset.from_rdata(key.name, 0, tsig).to_wire(out)
    arcount = struct.unpack_from("!H", wire, 10)[0] + 1
    return wire[:10] + struct.pack("!H", arcount) + wire[12:] + out.getvalue(), tsig.mac


def test_a_clock_ten_minutes_off_is_badtime_signed_with_our_time(
        tmp_path: Path, server_factory: StartServer) -> None:
    srv, _, _ = start(tmp_path, server_factory, KEYED, padding=10)
    key = ring()[dns.name.from_text("xfr.")]
    when = int(time.time()) - 600
    wire, request_mac = signed_at(dns.message.make_query(ORIGIN, "AXFR"), key, when)
    reply = exchange(wire, srv.port)
    m, rdata = tsig_of(reply)
    assert m.rcode() == dns.rcode.NOTAUTH and rdata.error == dns.rcode.BADTIME
    ours = int.from_bytes(rdata.other, "big")
    assert len(rdata.other) == 6 and abs(ours - time.time()) < 30  # the server's time
    assert rdata.time_signed == when
    # Signed: the RFC 8945 MAC over our request's MAC, the answer and its TSIG variables.
    body = reply[:10] + struct.pack("!H", 0) + reply[12:reply.rindex(b"\x03xfr\x00")]
    variables = (b"\x03xfr\x00" + struct.pack("!HI", 255, 0) + b"\x0bhmac-sha256\x00"
                 + when.to_bytes(6, "big") + struct.pack("!HHH", rdata.fudge, 18, 6)
                 + rdata.other)
    expected = hmac.new(base64.b64decode(SECRET), struct.pack("!H", len(request_mac))
                        + request_mac + body + variables, hashlib.sha256).digest()
    assert rdata.mac == expected
    srv.wait_logged("refused (TSIG BADTIME, key xfr.)")
    # Within the fudge (5 minutes): the zone.
    wire, _ = signed_at(dns.message.make_query(ORIGIN, "AXFR"), key, int(time.time()) - 240)
    first = dns.message.from_wire(exchange(wire, srv.port), keyring=False)
    assert first.rcode() == dns.rcode.NOERROR and first.answer


def test_the_right_key_from_another_address_is_refused(tmp_path: Path,
                                                       server_factory: StartServer) -> None:
    config = key_table("xfr") + \
        '[transfer]\nallow = [{ address = "192.0.2.0/24", key = "xfr" }]\n'
    srv, _, _ = start(tmp_path, server_factory, config, padding=10)
    r = dns.query.tcp(signed_query(), "127.0.0.1", port=srv.port, timeout=10)
    assert r.rcode() == dns.rcode.REFUSED and r.had_tsig  # signed: dnspython checked it
    srv.wait_logged(f"transfer of {ORIGIN} to 127.0.0.1: refused (address not allowed)")


def test_nobody_may_transfer_by_default_even_with_a_key(tmp_path: Path,
                                                       server_factory: StartServer) -> None:
    srv, _, _ = start(tmp_path, server_factory, key_table("xfr"), padding=10)
    r = dns.query.tcp(signed_query(), "127.0.0.1", port=srv.port, timeout=10)
    assert r.rcode() == dns.rcode.REFUSED and r.had_tsig and not r.answer
    r = dns.query.tcp(dns.message.make_query(ORIGIN, "AXFR"), "127.0.0.1", port=srv.port,
                      timeout=10)
    assert r.rcode() == dns.rcode.REFUSED and not r.answer


def test_errors_and_refusals_keep_the_requests_edns_as_bind_and_nsd_answer(
        tmp_path: Path, server_factory: StartServer) -> None:
    """A request with an OPT record gets one back: TSIG errors before their TSIG RR (dig
    shows it), a transfer the ACL refuses with EDE 18 Prohibited (TCP and UDP), a zone not
    served NOTAUTH with EDE 20 Not Authoritative."""
    dig = tool("dig")
    config = key_table("xfr") + \
        '[transfer]\nallow = [{ address = "192.0.2.0/24", key = "xfr" }]\n'
    srv, _, _ = start(tmp_path, server_factory, config, padding=10)
    for spec, error in ((f"hmac-sha256:other:{SECRET}", "BADKEY"),
                        (f"hmac-sha256:xfr:{OTHER}", "BADSIG")):
        for transport in ("+notcp", "+tcp"):
            text = subprocess.run([dig, "@127.0.0.1", "-p", str(srv.port), "-y", spec,
                                   transport, f"www.{ORIGIN}", "A"], capture_output=True,
                                  text=True, timeout=30).stdout
            assert "status: NOTAUTH" in text and error in text, text
            assert "OPT PSEUDOSECTION" in text and "udp: 1232" in text, text

    def ede(r: dns.message.Message) -> list[int]:
        return [o.code for o in r.options if isinstance(o, dns.edns.EDEOption)]

    for name, rcode, codes in ((ORIGIN, dns.rcode.REFUSED, [18]),
                               ("nothere.test.", dns.rcode.NOTAUTH, [20])):
        for signed in (False, True):
            q = dns.message.make_query(name, "AXFR", use_edns=0, want_dnssec=True)
            if signed:
                q.use_tsig(ring(), keyname="xfr.")
            r = dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=10)  # checks the TSIG
            assert r.rcode() == rcode and ede(r) == codes and r.had_tsig == signed
            assert r.ednsflags & dns.flags.DO and r.payload == 1232
    for rdtype in ("AXFR", "IXFR"):  # over UDP: AXFR never, IXFR by the ACL
        q = dns.message.make_query(ORIGIN, rdtype, use_edns=0)
        if rdtype == "IXFR":
            q.authority.append(dns.rrset.from_text(ORIGIN, 0, "IN", "SOA", ". . 1 1 1 1 1"))
        r = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=10)
        assert r.rcode() == dns.rcode.REFUSED and ede(r) == [18], rdtype
    srv.wait_logged("transfer of nothere.test. to 127.0.0.1: refused (not a zone served here)")


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_ipv6_loopback_with_a_key(tmp_path: Path, server_factory: StartServer) -> None:
    if not _has_ipv6_loopback():
        pytest.skip("this machine has no ::1")
    config = key_table("xfr") + '[transfer]\nallow = [{ address = "::1", key = "xfr" }]\n'
    srv, _, _ = start(tmp_path, server_factory, config, padding=2000,
                      extra=["--listen", "::1"])
    msgs = list(dns.query.xfr("::1", ORIGIN, port=srv.port, keyring=ring(), keyname="xfr.",
                              lifetime=30))
    assert len(msgs) > 1 and all(m.had_tsig for m in msgs)
    srv.wait_logged(f"transfer of {ORIGIN} to ::1: AXFR, serial 1, 2016 records")
    r = dns.query.tcp(dns.message.make_query(ORIGIN, "AXFR"), "::1", port=srv.port,
                      timeout=10)
    assert r.rcode() == dns.rcode.REFUSED  # unsigned from ::1
    r = dns.query.tcp(signed_query(), "127.0.0.1", port=srv.port, timeout=10)
    assert r.rcode() == dns.rcode.REFUSED and r.had_tsig  # the key, but from 127.0.0.1


def test_keys_change_live(tmp_path: Path, server_factory: StartServer) -> None:
    srv, _, settings = start(tmp_path, server_factory, KEYED, padding=10)
    assert list(dns.query.xfr("127.0.0.1", ORIGIN, port=srv.port, keyring=ring(),
                              keyname="xfr.", lifetime=30))
    settings.write_text(KEYED.replace(SECRET, OTHER))
    deadline = time.monotonic() + 30
    while True:  # the next request after the reload uses the new secret
        try:
            msgs = list(dns.query.xfr("127.0.0.1", ORIGIN, port=srv.port,
                                      keyring=ring(secret=OTHER), keyname="xfr.",
                                      lifetime=30))
            break
        except dns.tsig.PeerBadSignature:
            assert time.monotonic() < deadline, srv.output()
            time.sleep(0.1)
    assert msgs and all(m.had_tsig for m in msgs)
    with pytest.raises(dns.tsig.PeerBadSignature):  # the old secret no longer
        dns.query.tcp(signed_query(), "127.0.0.1", port=srv.port, timeout=10)
    # A reference to a key that does not exist: not applied, said so, the old keys serve.
    settings.write_text(KEYED.replace(SECRET, OTHER).replace('key = "xfr"', 'key = "nope"'))
    srv.wait_logged("setting 'transfer.allow.0.key': no key 'nope'")
    assert list(dns.query.xfr("127.0.0.1", ORIGIN, port=srv.port, keyring=ring(secret=OTHER),
                              keyname="xfr.", lifetime=30))
    assert SECRET not in srv.output() and OTHER not in srv.output()


# -- NOTIFY, signed ------------------------------------------------------------------------

class FakeSecondary:
    """A UDP socket that answers NOTIFY: unsigned first, then signed with the key."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[dns.message.Message] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            # dnspython checks the NOTIFY's signature (it raises on a bad one).
            notify = dns.message.from_wire(data, keyring=ring())
            self.received.append(notify)
            answer = dns.message.make_response(notify)  # signed, over the NOTIFY's MAC
            if len(self.received) == 1:
                answer.tsig = None  # the first answer unsigned: it must not count
            self.sock.sendto(answer.to_wire(), addr)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def fake_secondary() -> Iterator[FakeSecondary]:
    fake = FakeSecondary()
    yield fake
    fake.close()


def test_notify_is_signed_and_only_a_signed_answer_counts(
        tmp_path: Path, server_factory: StartServer, fake_secondary: FakeSecondary) -> None:
    config = KEYED + f'notify = [{{ address = "127.0.0.1", port = {fake_secondary.port}, ' \
        'key = "xfr" }]\n'
    srv, path, _ = start(tmp_path, server_factory, config, padding=10)
    write_atomically(str(path), versioned_zone(ORIGIN, 2, padding=10))
    srv.wait_logged(f"NOTIFY of {ORIGIN} serial 2 acknowledged by 127.0.0.1 port "
                    f"{fake_secondary.port}")
    out = srv.output()
    assert (f"NOTIFY of {ORIGIN}: the answer from 127.0.0.1 port {fake_secondary.port} does "
            "not count: TSIG key xfr.: not signed") in out
    assert len(fake_secondary.received) >= 2
    assert all(m.had_tsig and m.opcode() == dns.opcode.NOTIFY for m in fake_secondary.received)
    assert SECRET not in out


# -- a real NSD secondary, TSIG both ways --------------------------------------------------

@pytest.mark.interop
def test_an_nsd_secondary_with_a_key_follows_edits_by_signed_notify_and_ixfr(
        tmp_path: Path, server_factory: StartServer) -> None:
    nsd = Nsd()
    if (why := nsd.missing()) is not None:
        pytest.fail(why)
    nsd_port = free_port()
    config = KEYED + f'notify = [{{ address = "127.0.0.1", port = {nsd_port}, key = "xfr" }}]\n'
    srv, path, _ = start(tmp_path, server_factory, config, padding=3000)
    key = ("xfr", "hmac-sha256", SECRET)
    secondary = nsd.start(tmp_path / "nsd", [Zone(ORIGIN.rstrip("."), tmp_path / "nsd" /
                                                  "xfr.test.zone", 1,
                                                  primary=f"127.0.0.1@{srv.port}", key=key)],
                          port=nsd_port, check=True)
    try:
        secondary.wait_ready([Zone(ORIGIN.rstrip("."), path, 1)], timeout=60)
        srv.wait_logged(f"transfer of {ORIGIN} to 127.0.0.1: AXFR, serial 1, 3016 records")
        for n in (2, 3):
            write_atomically(str(path), versioned_zone(ORIGIN, 1, padding=3000).replace(
                " 1 3600 600", f" {n} 3600 600").replace("host5 IN A", f"host5-{n} IN A"))
            secondary.wait_ready([Zone(ORIGIN.rstrip("."), path, n)], timeout=30)
            srv.wait_logged(f"transfer of {ORIGIN} to 127.0.0.1: IXFR, serial {n - 1} -> {n}")
            srv.wait_logged(f"NOTIFY of {ORIGIN} serial {n} acknowledged by 127.0.0.1 port "
                            f"{nsd_port}")
        out = srv.output()
        transfers = [line for line in out.splitlines() if f"transfer of {ORIGIN}" in line]
        assert len([line for line in transfers if ": IXFR, serial" in line]) == 2
        assert all(line.endswith(", key xfr.") for line in transfers), transfers
        assert "does not count" not in out and "refused" not in out, out
        # What the secondary serves is ours, record for record (its AXFR needs the key too).
        theirs = list(dns.query.xfr("127.0.0.1", ORIGIN, port=secondary.port, keyring=ring(),
                                    keyname="xfr.", lifetime=30, relativize=False))
        ours = list(dns.query.xfr("127.0.0.1", ORIGIN, port=srv.port, keyring=ring(),
                                  keyname="xfr.", lifetime=30, relativize=False))

        def records(msgs: list[dns.message.Message]) -> set[tuple[str, int, str]]:
            return {(rrset.name.to_text().lower(), int(rrset.rdtype), rdata.to_text())
                    for m in msgs for rrset in m.answer for rdata in rrset}

        assert records(theirs) == records(ours)
        assert SECRET not in out
        # NSD checked our signatures: the first AXFR (5 messages) and both IXFRs.
        nsd_log = (tmp_path / "nsd" / "nsd.log").read_text()
        assert nsd_log.count("TSIG verified with key xfr\"") == 3, nsd_log
        assert "notify for xfr.test. from 127.0.0.1 serial 3" in nsd_log
    finally:
        secondary.stop()
