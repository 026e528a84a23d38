"""TSIG (RFC 8945): requests verified and answers signed for every algorithm, with dnspython
(and, for the MACs, hmac by the RFC's recipe) as the independent checker; multi-message
answers verified message by message by dns.query.xfr; BADKEY, BADSIG, BADTIME, BADTRUNC and
FORMERR answers; the fudge; transfer ACLs with keys; signed NOTIFY; the key settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import socket
import struct
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
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsbackend.settings import (
    Settings,
    SettingsError,
    load_settings,
    notify_targets,
    served_settings,
)
from dnsbackend.store.database import open_shared
from dnsbackend.store.snapshot import Reader
from dnsbackend.transfer.acl import allowed
from dnsbackend.transfer.notify import Notifier
from dnsbackend.transfer.service import TransferService
from dnsbackend.transfer.tsig import (
    ALGORITHMS,
    BADKEY,
    BADSIG,
    BADTIME,
    BADTRUNC,
    NOTAUTH,
    TsigKey,
    check_request,
    check_response,
    find_tsig,
)
from dnsbackend.update.jobs import sync_policy_job
from dnsbackend.update.policy import ZonePolicy
from testkit.zones import versioned_zone

ORIGIN = "tsig.test."
NOW = 1_700_000_000.0
SECRET = base64.b64encode(bytes(range(32))).decode()
OTHER_SECRET = base64.b64encode(bytes(range(1, 33))).decode()
HASHES = {"hmac-md5": hashlib.md5, "hmac-sha1": hashlib.sha1, "hmac-sha224": hashlib.sha224,
          "hmac-sha256": hashlib.sha256, "hmac-sha384": hashlib.sha384,
          "hmac-sha512": hashlib.sha512}
KEY_WIRE = b"\x03xfr\x00"


def ring(algorithm: str = "hmac-sha256", secret: str = SECRET,
         name: str = "xfr.") -> dict[dns.name.Name, dns.tsig.Key]:
    return dns.tsigkeyring.from_text({name: (ALGORITHMS[algorithm].to_text(), secret)})


def keys(algorithm: str = "hmac-sha256") -> dict[bytes, tuple[str, bytes]]:
    return {KEY_WIRE: (algorithm, base64.b64decode(SECRET))}


def signed_at(message: dns.message.Message, key: dns.tsig.Key, when: int,
              fudge: int = 300) -> bytes:
    """The message signed by dnspython with Time Signed `when` (dnspython's own to_wire
    signs at the current time)."""
    wire = message.to_wire()
    rdata = dns.rdtypes.ANY.TSIG.TSIG(dns.rdataclass.ANY, dns.rdatatype.TSIG, key.algorithm,
                                      when, fudge, b"", message.id, 0, b"")
    tsig, _ = dns.tsig.sign(wire, key, rdata, when)
    out = io.BytesIO()
    dns.rrset.from_rdata(key.name, 0, tsig).to_wire(out)
    arcount = struct.unpack_from("!H", wire, 10)[0] + 1
    return wire[:10] + struct.pack("!H", arcount) + wire[12:] + out.getvalue()


def rfc_mac(algorithm: str, secret: bytes, message: bytes, key_name: bytes, time_signed: int,
            fudge: int, error: int, other: bytes, request_mac: bytes = b"") -> bytes:
    """The MAC of a message (without its TSIG RR) as RFC 8945 section 4.3 spells it out,
    computed with hmac alone."""
    algorithm_wire = ALGORITHMS[algorithm].to_wire()
    assert algorithm_wire is not None
    variables = (key_name.lower() + struct.pack("!HI", 255, 0) + algorithm_wire.lower()
                 + time_signed.to_bytes(6, "big") + struct.pack("!HHH", fudge, error,
                                                                len(other)) + other)
    prefix = struct.pack("!H", len(request_mac)) + request_mac if request_mac else b""
    return hmac.new(secret, prefix + message + variables, HASHES[algorithm]).digest()


def unsigned_part(wire: bytes) -> tuple[bytes, dns.rdtypes.ANY.TSIG.TSIG]:
    found = find_tsig(wire)
    assert found is not None
    arcount = struct.unpack_from("!H", wire, 10)[0] - 1
    return wire[:10] + struct.pack("!H", arcount) + wire[12:found.start], found.rdata


def signed_query(algorithm: str = "hmac-sha256", rdtype: str = "AXFR",
                 secret: str = SECRET, name: str = "xfr.") -> dns.message.Message:
    q = dns.message.make_query(ORIGIN, rdtype)
    q.use_tsig(ring(algorithm, secret, name), keyname=name,
               algorithm=ALGORITHMS[algorithm])
    return q


# -- sign and verify, every algorithm ----------------------------------------------------

@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_a_dnspython_request_verifies_and_our_answer_verifies_in_dnspython(
        algorithm: str) -> None:
    q = signed_query(algorithm)
    wire = q.to_wire()
    now = time.time()  # dnspython signed the request at the current time
    check = check_request(wire, keys(algorithm), now)
    assert check.error == 0 and check.key == KEY_WIRE and check.signer is not None
    answer = dns.message.make_response(dns.message.from_wire(wire, keyring=False))
    answer.tsig = None
    raw = answer.to_wire()
    signed = check.signer.sign(raw, now)
    # dnspython verifies it (this raises on a bad MAC or time) ...
    got = dns.message.from_wire(signed, keyring=ring(algorithm), request_mac=q.mac)
    assert got.had_tsig and got.tsig_error == 0
    # ... and so does the RFC's recipe with hmac alone.
    body, rdata = unsigned_part(signed)
    assert body == raw
    assert rdata.mac == rfc_mac(algorithm, base64.b64decode(SECRET), raw, KEY_WIRE,
                                int(now), 300, 0, b"", q.mac or b"")


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_a_signed_notify_verifies_in_dnspython_and_a_signed_answer_acknowledges_it(
        algorithm: str) -> None:
    key = TsigKey(KEY_WIRE, algorithm, base64.b64decode(SECRET))
    n = Notifier()
    target = ("192.0.2.1", 53)
    n.changed(b"\x04tsig\x04test\x00", 7, (300, b"\x02ns\x00\x02hm\x00" + bytes(20)),
              [target], now=5.0, keys={target: key})
    [(_, message)] = n.due(5.0, wall=NOW)
    # dnspython checks the time against its own clock: give it ours.
    body, rdata = unsigned_part(message)
    assert rdata.time_signed == int(NOW) and rdata.fudge == 300
    assert rdata.mac == rfc_mac(algorithm, key.secret, body, KEY_WIRE, int(NOW), 300, 0, b"")
    notify = dns.message.from_wire(message, keyring=False)
    assert notify.opcode() == dns.opcode.NOTIFY
    answer = dns.message.make_response(notify)
    answer.use_tsig(ring(algorithm), keyname="xfr.", algorithm=ALGORITHMS[algorithm])
    answer.request_mac = rdata.mac
    signed_answer = answer.to_wire()
    assert check_response(signed_answer, key, rdata.mac, time.time()) is None
    # Unsigned, or signed over another request MAC: no acknowledgement, said why.
    plain = dns.message.make_response(notify)
    plain.tsig = None
    assert n.answered(plain.to_wire(), target, 5.1, wall=NOW) is None
    assert n.rejected and "not signed" in n.rejected[-1][2]
    wrong = dns.message.make_response(notify)
    wrong.use_tsig(ring(algorithm, OTHER_SECRET), keyname="xfr.",
                   algorithm=ALGORITHMS[algorithm])
    wrong.request_mac = rdata.mac
    assert n.answered(wrong.to_wire(), target, 5.2, wall=NOW) is None
    assert "bad signature" in n.rejected[-1][2]
    assert target in [t for _, t in n.pending]
    # The right answer acknowledges it (dnspython signs at the current time).
    assert n.answered(signed_answer, target, 5.3, wall=time.time()) == (
        b"\x04tsig\x04test\x00", 7)
    assert not n.pending
    assert "secret" not in repr(key) and SECRET not in repr(key)


# -- errors (RFC 8945 section 5.2) ---------------------------------------------------------

def _reply(check_reply: bytes | None) -> tuple[dns.message.Message, dns.rdtypes.ANY.TSIG.TSIG]:
    assert check_reply is not None
    m = dns.message.from_wire(check_reply, keyring=False)
    assert m.tsig is not None
    rdata = m.tsig[0]
    assert isinstance(rdata, dns.rdtypes.ANY.TSIG.TSIG)
    return m, rdata


def test_an_unknown_key_or_algorithm_is_badkey_unsigned() -> None:
    for q in (signed_query(name="other."), signed_query("hmac-sha512")):  # name; algorithm
        wire = q.to_wire()
        check = check_request(wire, keys("hmac-sha256"), NOW)
        m, rdata = _reply(check.reply)
        assert check.error == BADKEY and m.rcode() == NOTAUTH
        assert rdata.error == BADKEY and rdata.mac == b"" and rdata.original_id == q.id
        assert m.id == q.id and m.question == q.question and not m.answer
        # A client with the key sees its peer's BADKEY.
        with pytest.raises(dns.tsig.PeerBadKey):
            dns.message.from_wire(check.reply or b"", keyring=q.keyring, request_mac=q.mac)


def test_a_wrong_secret_is_badsig_unsigned() -> None:
    q = signed_query(secret=OTHER_SECRET)
    check = check_request(q.to_wire(), keys(), NOW)
    m, rdata = _reply(check.reply)
    assert check.error == BADSIG and m.rcode() == NOTAUTH and rdata.error == BADSIG
    assert rdata.mac == b"" and check.signer is None
    # One bit off in the message: BADSIG too.
    wire = bytearray(signed_query().to_wire())
    wire[2] ^= 0x01  # RD
    assert check_request(bytes(wire), keys(), NOW).error == BADSIG


@pytest.mark.parametrize("skew", [-600, 600])
def test_a_time_outside_the_fudge_is_badtime_signed_with_our_time(skew: int) -> None:
    key = ring()[dns.name.from_text("xfr.")]
    q = dns.message.make_query(ORIGIN, "AXFR")
    when = int(NOW) + skew
    wire = signed_at(q, key, when)
    check = check_request(wire, keys(), NOW)
    m, rdata = _reply(check.reply)
    assert check.error == BADTIME and m.rcode() == NOTAUTH and rdata.error == BADTIME
    assert rdata.other == int(NOW).to_bytes(6, "big")  # our time
    assert rdata.time_signed == when  # the request's, so that its sender can check the MAC
    request_mac = unsigned_part(wire)[1].mac
    body, _ = unsigned_part(check.reply or b"")
    assert rdata.mac == rfc_mac("hmac-sha256", base64.b64decode(SECRET), body, KEY_WIRE, when,
                                300, BADTIME, rdata.other, request_mac)


def test_the_fudge_is_the_requests() -> None:
    key = ring()[dns.name.from_text("xfr.")]
    q = dns.message.make_query(ORIGIN, "AXFR")
    assert check_request(signed_at(q, key, int(NOW) - 300), keys(), NOW).error == 0
    assert check_request(signed_at(q, key, int(NOW) + 300), keys(), NOW).error == 0
    assert check_request(signed_at(q, key, int(NOW) - 301), keys(), NOW).error == BADTIME
    assert check_request(signed_at(q, key, int(NOW) - 20, fudge=10), keys(),
                         NOW).error == BADTIME
    assert check_request(signed_at(q, key, int(NOW) - 20, fudge=30), keys(), NOW).error == 0


def test_a_truncated_mac_is_badtrunc_and_a_silly_one_formerr() -> None:
    key = ring()[dns.name.from_text("xfr.")]
    q = dns.message.make_query(ORIGIN, "AXFR")
    wire = signed_at(q, key, int(NOW))
    body, rdata = unsigned_part(wire)

    def with_mac(mac: bytes) -> bytes:
        out = io.BytesIO()
        dns.rrset.from_rdata(key.name, 0, rdata.replace(mac=mac)).to_wire(out)
        return wire[:len(body)] + out.getvalue()

    check = check_request(with_mac(rdata.mac[:16]), keys(), NOW)  # half of SHA-256's
    m, reply_tsig = _reply(check.reply)
    assert check.error == BADTRUNC and reply_tsig.error == BADTRUNC and reply_tsig.mac
    assert check_request(with_mac(bytes(16)), keys(), NOW).error == BADSIG
    for silly in (rdata.mac[:9], rdata.mac + b"x", b""):
        check = check_request(with_mac(silly), keys(), NOW)
        assert check.reply is not None
        assert dns.message.from_wire(check.reply).rcode() == dns.rcode.FORMERR


def test_a_tsig_that_is_not_last_is_formerr() -> None:
    q = signed_query()
    wire = q.to_wire()
    _, rdata = unsigned_part(wire)
    # Move the TSIG RR in front of an OPT RR.
    q2 = dns.message.make_query(ORIGIN, "AXFR", use_edns=0)
    plain = q2.to_wire()
    found = find_tsig(wire)
    assert found is not None
    tsig_rr = wire[found.start:]
    header = plain[:10] + struct.pack("!H", 2)
    question_end = 12 + len(dns.name.from_text(ORIGIN).to_wire() or b"") + 4
    bad = header + plain[12:question_end] + tsig_rr + plain[question_end:]
    check = check_request(bad, keys(), NOW)
    assert check.reply is not None
    assert dns.message.from_wire(check.reply).rcode() == dns.rcode.FORMERR


def test_unsigned_is_unsigned() -> None:
    check = check_request(dns.message.make_query(ORIGIN, "AXFR").to_wire(), keys(), NOW)
    assert check.reply is None and check.key is None and check.signer is None


def _expected_error(key_name: str, secret: str, cut: bool, skew: int) -> int:
    """The TSIG error RFC 8945 section 5.2 gives a request: the key, the MAC, its length,
    the time, in that order."""
    if key_name != "xfr.":
        return BADKEY
    if secret != SECRET:
        return BADSIG
    if cut:
        return BADTRUNC
    return BADTIME if abs(skew) > 300 else 0


@settings(max_examples=150, deadline=None)
@given(edns=st.booleans(), do=st.booleans(), their_payload=st.integers(512, 4096),
       ours=st.integers(512, 4096), qtype=st.sampled_from(["A", "SOA", "AXFR", "IXFR"]),
       key_name=st.sampled_from(["xfr.", "other."]),
       secret=st.sampled_from([SECRET, OTHER_SECRET]), cut=st.booleans(),
       skew=st.sampled_from([0, 299, -301, 4000]))
def test_an_error_answer_has_an_opt_if_the_request_had_one_and_the_tsig_rr_last(
        edns: bool, do: bool, their_payload: int, ours: int, qtype: str, key_name: str,
        secret: str, cut: bool, skew: int) -> None:
    """As BIND, Knot and NSD answer BADKEY, BADSIG, BADTIME and BADTRUNC: an OPT record
    (our payload size, the request's DO bit) when the request had one, the TSIG RR after
    it; the signed errors' MAC over the answer with its OPT."""
    q = dns.message.make_query(ORIGIN, qtype, use_edns=0 if edns else False,
                               payload=their_payload, want_dnssec=do and edns)
    key = dns.tsig.Key(key_name, secret, dns.tsig.HMAC_SHA256)
    wire = signed_at(q, key, int(NOW) + skew)
    body, rdata = unsigned_part(wire)
    if cut:  # half of SHA-256's MAC: a length RFC 8945 allows, our policy does not take
        out = io.BytesIO()
        dns.rrset.from_rdata(key.name, 0, rdata.replace(mac=rdata.mac[:16])).to_wire(out)
        wire = wire[:len(body)] + out.getvalue()
    check = check_request(wire, keys(), NOW, ours)
    error = _expected_error(key_name, secret, cut, skew)
    assert check.error == error
    if not error:
        assert check.reply is None
        return
    m, reply_tsig = _reply(check.reply)  # dnspython: a TSIG RR not last would not parse
    assert m.rcode() == NOTAUTH and reply_tsig.error == error and m.question == q.question
    assert m.id == q.id and not m.answer and not m.authority
    assert m.edns == (0 if edns else -1)
    if edns:
        assert m.payload == ours and not m.options
        assert bool(m.ednsflags & dns.flags.DO) == do
    if error in (BADTIME, BADTRUNC):  # signed: the MAC covers the OPT record too
        reply_body, _ = unsigned_part(check.reply or b"")
        opt = dns.message.make_query(ORIGIN, "A", use_edns=0, payload=ours,
                                     want_dnssec=do).to_wire()[-11:]  # as dnspython writes it
        assert reply_body.endswith(opt) == edns
        request_mac = unsigned_part(wire)[1].mac
        assert reply_tsig.mac == rfc_mac("hmac-sha256", base64.b64decode(SECRET), reply_body,
                                         KEY_WIRE, reply_tsig.time_signed, reply_tsig.fudge,
                                         error, reply_tsig.other, request_mac)
    else:
        assert reply_tsig.mac == b""


# -- ACL entries with keys -----------------------------------------------------------------

def test_acl_entries_with_and_without_keys() -> None:
    entries = (("192.0.2.0/24", KEY_WIRE), ("::1", b""), ("198.51.100.7", b""))
    assert allowed("192.0.2.9", entries, KEY_WIRE)
    assert not allowed("192.0.2.9", entries, None)  # the entry wants the key
    assert not allowed("192.0.2.9", entries, b"\x05other\x00")
    assert not allowed("203.0.113.1", entries, KEY_WIRE)  # the right key, another address
    assert allowed("::1", entries, None) and allowed("::1", entries, KEY_WIRE)
    assert allowed("::ffff:192.0.2.9", entries, KEY_WIRE)
    assert not allowed("::2", entries, None)
    assert not allowed("192.0.2.9", (), KEY_WIRE)  # nobody by default


# -- the service: multi-message answers through dns.query.xfr ----------------------------

class _Server:
    """The transfer service behind a TCP socket in a thread of this process."""

    def __init__(self, service: TransferService) -> None:
        self.service = service
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, addr = self.sock.accept()
            except OSError:
                return
            with conn:
                self._answer(conn, addr[0])

    def _answer(self, conn: socket.socket, client: str) -> None:
        buf = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack_from("!H", buf)[0]:
                size = struct.unpack_from("!H", buf)[0]
                msg, buf = buf[2:2 + size], buf[2 + size:]
                for out in self.service.start(msg, client).messages:
                    conn.sendall(struct.pack("!H", len(out)) + out)

    def close(self) -> None:
        self.sock.close()


def _served(tmp_path: Path, config: str, padding: int = 3000) -> tuple[Path, Settings]:
    zones = tmp_path / "zones"
    zones.mkdir(exist_ok=True)
    (zones / f"{ORIGIN}zone").write_text(versioned_zone(ORIGIN, 1, padding=padding))
    settings_file = tmp_path / "dnsbackend.toml"
    settings_file.write_text(config)
    settings = load_settings(str(settings_file), {})
    sync_policy_job(str(tmp_path / "db"), ZonePolicy(str(zones.resolve())).pack(),
                    served_settings(settings).pack())
    return zones, settings


def _config(algorithm: str, allow: str = '{ address = "127.0.0.1", key = "xfr" }') -> str:
    return (f'[key.xfr]\nalgorithm = "{algorithm}"\nsecret = "{SECRET}"\n'
            f"[transfer]\nallow = [{allow}]\n")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, list[_Server]]]:
    servers: list[_Server] = []
    yield tmp_path, servers
    for server in servers:
        server.close()


def _start(tmp_path: Path, servers: list[_Server]) -> _Server:
    store = open_shared(str(tmp_path / "db"))
    server = _Server(TransferService(Reader(store)))
    servers.append(server)
    return server


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_message_of_an_axfr_is_signed_and_chained(
        served: tuple[Path, list[_Server]], algorithm: str) -> None:
    tmp_path, servers = served
    _served(tmp_path, _config(algorithm))
    server = _start(tmp_path, servers)
    msgs = list(dns.query.xfr("127.0.0.1", ORIGIN, port=server.port, keyring=ring(algorithm),
                              keyname="xfr.", keyalgorithm=ALGORITHMS[algorithm],
                              lifetime=30, relativize=False))
    assert len(msgs) > 3  # 3,000 records: several messages, each verified by dnspython
    assert all(m.had_tsig for m in msgs)
    records = sum(len(rrset) for m in msgs for rrset in m.answer)
    assert records == 3000 + 15 + 1  # padding, the zone's own 15 records, the SOA again


def test_a_signed_ixfr_and_a_signed_refusal(served: tuple[Path, list[_Server]]) -> None:
    tmp_path, servers = served
    zones, settings = _served(tmp_path, _config("hmac-sha256"), padding=50)
    text = versioned_zone(ORIGIN, 1, padding=50)
    (zones / f"{ORIGIN}zone").write_text(text.replace(" 1 3600 600", " 2 3600 600")
                                         .replace("host7 IN A", "host7-new IN A"))
    sync_policy_job(str(tmp_path / "db"), ZonePolicy(str(zones.resolve())).pack(),
                    served_settings(settings).pack())
    server = _start(tmp_path, servers)
    msgs = list(dns.query.xfr("127.0.0.1", ORIGIN, rdtype=dns.rdatatype.IXFR, serial=1,
                              port=server.port, keyring=ring(), keyname="xfr.", lifetime=30,
                              relativize=False))
    soas = [rrset for m in msgs for rrset in m.answer if rrset.rdtype == dns.rdatatype.SOA]
    assert len(soas) == 4 and all(m.had_tsig for m in msgs)
    # Unsigned where the entry wants the key: REFUSED. Signed with the key for a zone we do
    # not serve: NOTAUTH (as BIND, Knot and NSD answer it), signed.
    q = dns.message.make_query(ORIGIN, "AXFR")
    r = dns.query.tcp(q, "127.0.0.1", port=server.port, timeout=10)
    assert r.rcode() == dns.rcode.REFUSED and not r.had_tsig
    q = dns.message.make_query("other.test.", "AXFR")
    q.use_tsig(ring(), keyname="xfr.")
    r = dns.query.tcp(q, "127.0.0.1", port=server.port, timeout=10)
    assert r.rcode() == dns.rcode.NOTAUTH and r.had_tsig


def _ede_codes(response: dns.message.Message) -> list[int]:
    return [o.code for o in response.options if isinstance(o, dns.edns.EDEOption)]


def _transfer_query(name: str, rdtype: str, edns: bool, signed: bool) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=0 if edns else False, payload=4096,
                               want_dnssec=edns)
    if rdtype == "IXFR":
        q.authority.append(dns.rrset.from_text(name, 0, "IN", "SOA", ". . 1 1 1 1 1"))
    if signed:
        q.use_tsig(ring(), keyname="xfr.")
    return q


@pytest.mark.parametrize("rdtype", ["AXFR", "IXFR"])
def test_a_refused_transfer_says_why_in_an_extended_error(
        served: tuple[Path, list[_Server]], rdtype: str) -> None:
    """As BIND and NSD: the ACL's refusal is REFUSED with EDE 18 Prohibited; a zone not
    served, NOTAUTH (EDE 20 Not Authoritative). The OPT record only when the request had one
    (with our payload size and its DO bit), before the TSIG RR of a signed request."""
    tmp_path, servers = served
    _served(tmp_path, _config("hmac-sha256", '{ address = "192.0.2.0/24", key = "xfr" }'),
            padding=10)
    server = _start(tmp_path, servers)
    cases = [(ORIGIN, dns.rcode.REFUSED, [18]), ("other.test.", dns.rcode.NOTAUTH, [20])]
    for name, rcode, codes in cases:
        for edns in (False, True):
            for signed in (False, True):
                q = _transfer_query(name, rdtype, edns, signed)
                # dnspython checks the signature of a signed answer, and that it is last.
                r = dns.query.tcp(q, "127.0.0.1", port=server.port, timeout=10)
                assert r.rcode() == rcode and r.had_tsig == signed and not r.answer
                assert r.edns == (0 if edns else -1), (name, edns, signed)
                if edns:
                    assert _ede_codes(r) == codes and r.payload == 1232
                    assert r.ednsflags & dns.flags.DO


@pytest.mark.parametrize("signed", [False, True])
def test_every_message_of_a_transfer_carries_the_requests_edns(tmp_path: Path,
                                                               signed: bool) -> None:
    """As BIND and Knot: an OPT record (our payload size, the request's DO bit) in every
    message of the answer when the request had one, before the TSIG RR of each signed one
    (dnspython checks each message's signature, chained to the one before)."""
    _served(tmp_path, _config("hmac-sha256", '{ address = "127.0.0.1" }'), padding=3000)
    service = TransferService(Reader(open_shared(str(tmp_path / "db"))))
    for edns in (False, True):
        q = _transfer_query(ORIGIN, "AXFR", edns, signed)
        out = list(service.start(q.to_wire(), "127.0.0.1").messages)
        assert len(out) > 3
        context = None
        for wire in out:
            m = dns.message.from_wire(wire, keyring=q.keyring, request_mac=q.mac, xfr=True,
                                      origin=dns.name.from_text(ORIGIN), tsig_ctx=context,
                                      multi=True)
            context = m.tsig_ctx
            assert m.had_tsig == signed and m.edns == (0 if edns else -1)
            if edns:
                assert m.payload == 1232 and m.ednsflags & dns.flags.DO and not m.options


def test_a_bad_transfer_request_is_formerr_or_badvers(served: tuple[Path, list[_Server]]
                                                     ) -> None:
    """An IXFR without its SOA is FORMERR, an EDNS version we do not know BADVERS (with an
    OPT record of version 0), as BIND, Knot and NSD answer them."""
    tmp_path, servers = served
    _served(tmp_path, _config("hmac-sha256", '{ address = "127.0.0.1" }'), padding=10)
    server = _start(tmp_path, servers)
    for edns in (False, True):
        no_soa = dns.message.make_query(ORIGIN, "IXFR", use_edns=0 if edns else False)
        r = dns.query.tcp(no_soa, "127.0.0.1", port=server.port, timeout=10)
        assert r.rcode() == dns.rcode.FORMERR and r.edns == (0 if edns else -1)
        assert not r.answer
    for rdtype in ("AXFR", "IXFR"):
        q = _transfer_query(ORIGIN, rdtype, True, True)
        q.use_edns(1)
        r = dns.query.tcp(q, "127.0.0.1", port=server.port, timeout=10)
        assert r.rcode() == dns.rcode.BADVERS and r.edns == 0 and not r.answer
        assert r.had_tsig


def test_a_transfer_before_the_first_zones_are_read_is_not_ready(tmp_path: Path) -> None:
    """A first start's empty store: SERVFAIL with EDE 14 Not Ready (the secondary tries
    again), as an ordinary query of a name is answered then."""
    store = open_shared(str(tmp_path / "db"))
    try:
        service = TransferService(Reader(store))
        for edns in (False, True):
            wire = _transfer_query(ORIGIN, "AXFR", edns, False).to_wire()
            [reply] = list(service.start(wire, "127.0.0.1").messages)
            r = dns.message.from_wire(reply)
            assert r.rcode() == dns.rcode.SERVFAIL and not r.answer
            assert _ede_codes(r) == ([14] if edns else [])
    finally:
        store.close()


def test_an_entry_without_a_key_takes_signed_and_unsigned(
        served: tuple[Path, list[_Server]]) -> None:
    tmp_path, servers = served
    _served(tmp_path, _config("hmac-sha256", '{ address = "127.0.0.0/8" }'), padding=10)
    server = _start(tmp_path, servers)
    signed = list(dns.query.xfr("127.0.0.1", ORIGIN, port=server.port, keyring=ring(),
                                keyname="xfr.", lifetime=30))
    assert signed and all(m.had_tsig for m in signed)
    plain = list(dns.query.xfr("127.0.0.1", ORIGIN, port=server.port, lifetime=30))
    assert plain and not any(m.had_tsig for m in plain)


def test_a_later_message_is_signed_at_its_own_time(tmp_path: Path) -> None:
    """Each message carries the time it was signed at (a long transfer stays inside the
    client's fudge), read from the clock the service is given."""
    _served(tmp_path, _config("hmac-sha256"), padding=3000)
    ticks = iter(range(int(NOW), int(NOW) + 1000, 7))
    service = TransferService(Reader(open_shared(str(tmp_path / "db"))),
                              clock=lambda: float(next(ticks)))
    key = ring()[dns.name.from_text("xfr.")]
    q = dns.message.make_query(ORIGIN, "AXFR")
    out = list(service.start(signed_at(q, key, int(NOW)), "127.0.0.1").messages)
    times = [unsigned_part(m)[1].time_signed for m in out]
    assert len(times) > 3 and times == sorted(times) and len(set(times)) == len(times)
    # The chain by the RFC's recipe: each MAC covers the one before it and the message.
    previous = unsigned_part(signed_at(q, key, int(NOW)))[1].mac
    secret = base64.b64decode(SECRET)
    for index, message in enumerate(out):
        body, rdata = unsigned_part(message)
        if index == 0:
            expected = rfc_mac("hmac-sha256", secret, body, KEY_WIRE, rdata.time_signed, 300,
                               0, b"", previous)
        else:  # RFC 8945 5.3.1: prior MAC, the message, the timers only
            expected = hmac.new(secret, struct.pack("!H", len(previous)) + previous + body
                                + rdata.time_signed.to_bytes(6, "big") + struct.pack("!H", 300),
                                hashlib.sha256).digest()
        assert rdata.mac == expected, index
        previous = rdata.mac


# -- settings ------------------------------------------------------------------------------

def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "dnsbackend.toml"
    path.write_text(text)
    return load_settings(str(path), {})


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(SettingsError) as info:
        _load(tmp_path, text)
    return str(info.value)


def test_key_settings_are_validated(tmp_path: Path) -> None:
    config = str(tmp_path / "dnsbackend.toml")
    assert _error(tmp_path, '[transfer]\nallow = [{ address = "192.0.2.0/24", key = "xfr" }]\n'
                  ) == f"{config}: setting 'transfer.allow.0.key': no key 'xfr'"
    got = _error(tmp_path, f'[key.xfr]\nsecret = "{SECRET}"\n[zone."a.test"]\n'
                 'notify = [{ address = "192.0.2.7" }, { address = "192.0.2.8", key = "x" }]\n')
    assert got == f"{config}: setting 'zone.a.test.notify.1.key': no key 'x'"
    got = _error(tmp_path, '[key.xfr]\nalgorithm = "hmac-sha257"\nsecret = "c2VjcmV0"\n')
    assert got.startswith(f"{config}: setting 'key.xfr.algorithm': ") and "hmac-sha256" in got
    got = _error(tmp_path, '[key.xfr]\nsecret = "not base64!!"\n')
    assert got == f"{config}: setting 'key.xfr.secret': Value error, not valid base64"
    assert "not base64!!" not in got  # no secret, even a broken one, in a message
    got = _error(tmp_path, '[key.xfr]\nalgorithm = "hmac-sha1"\n')
    assert "setting 'key.xfr.secret'" in got
    got = _error(tmp_path, f'[key.xfr]\nsecret = "{SECRET}"\n[key."XFR."]\nsecret = "{SECRET}"\n')
    assert "setting 'key.XFR.': the same key name as 'key.xfr'" in got


def test_keys_reach_the_served_settings_and_notify_targets(tmp_path: Path) -> None:
    settings = _load(tmp_path, f'[key.xfr]\nalgorithm = "hmac-sha512"\nsecret = "{SECRET}"\n'
                     '[transfer]\nallow = [{ address = "192.0.2.0/24", key = "xfr" }, '
                     '{ address = "::1" }]\n'
                     'notify = [{ address = "192.0.2.7", port = 5300, key = "xfr." }]\n'
                     '[zone."a.test"]\nallow_transfer = [{ address = "198.51.100.7", '
                     'key = "XFR" }]\nnotify = [{ address = "198.51.100.7" }]\n')
    served = served_settings(settings)
    assert served.may_transfer(b"\x01b\x04test\x00") == (("192.0.2.0/24", KEY_WIRE),
                                                         ("::1", b""))
    assert served.may_transfer(b"\x01a\x04test\x00") == (("198.51.100.7", KEY_WIRE),)
    assert served.keys == {KEY_WIRE: ("hmac-sha512", base64.b64decode(SECRET))}
    assert type(served).unpack(served.pack()) == served
    [(address, port, key)] = notify_targets(settings, "b.test.")
    assert (address, port) == ("192.0.2.7", 5300) and key is not None
    assert key.algorithm == "hmac-sha512" and key.secret == base64.b64decode(SECRET)
    assert notify_targets(settings, "a.test.") == [("198.51.100.7", 53, None)]
    # Nothing that prints settings shows a secret.
    for shown in (repr(settings), str(settings), repr(served), repr(key)):
        assert SECRET not in shown and repr(base64.b64decode(SECRET)) not in shown
