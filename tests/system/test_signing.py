"""A plain zone with sign = true, served by the real server: its AXFR is a signed zone that
BIND's dnssec-verify accepts, after edits too (an added name, a removed one, a TTL change),
BIND's validator (delv, trusting the zone's key) validates its answers, signed answers come
with DO=1, and `dnsbackend ds` prints the DS of the key it publishes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from testkit.server import ServerProcess, StartServer, serve_one_zone
from testkit.signing import axfr_text, dnssec_verify, have_dnssec_verify
from testkit.zones import write_atomically

ORIGIN = "signed.test."
SETTINGS = f"""\
[transfer]
allow = [{{ address = "127.0.0.0/8" }}]
[dnssec]
denial = "{{denial}}"
[zone."{ORIGIN}"]
sign = true
"""

pytestmark = pytest.mark.skipif(not have_dnssec_verify(),
                                reason="needs BIND's dnssec-verify (bind9-utils)")


def zone_text(serial: int, extra: str = "", www_ttl: int = 300) -> str:
    return (f"$TTL 300\n@ SOA ns hostmaster {serial} 3600 600 86400 60\n@ NS ns\n"
            f"ns A 192.0.2.53\nwww {www_ttl} A 192.0.2.1\n*.wild TXT \"w\"\n"
            f"sub NS ns.sub\nns.sub A 192.0.2.54\na.b.deep A 192.0.2.9\n{extra}")


def verified(tmp_path: Path, srv: ServerProcess, name: str) -> str:
    text = axfr_text(srv.port, ORIGIN)
    path = tmp_path / name
    path.write_text(text)
    result = dnssec_verify(path, ORIGIN)
    assert result.returncode == 0, result.stdout + result.stderr
    return text


def wait_serial(srv: ServerProcess, serial: int) -> None:
    srv.wait_until(ORIGIN, "SOA", lambda r: bool(r.answer) and r.answer[0][0].serial == serial)


@pytest.mark.parametrize("denial", ["nsec", "nsec3"])
def test_a_signed_zone_validates_before_and_after_edits(tmp_path: Path,
                                                        server_factory: StartServer,
                                                        denial: str) -> None:
    srv, path = serve_one_zone(server_factory, tmp_path, ORIGIN, zone_text(1),
                               SETTINGS.replace("{denial}", denial))
    first = verified(tmp_path, srv, "first.zone")
    assert " DNSKEY 257 3 13 " in first and " CDS " in first and " CDNSKEY " in first
    assert (" NSEC3PARAM " in first) == (denial == "nsec3")
    write_atomically(str(path), zone_text(2, "new A 192.0.2.77\n"))
    wait_serial(srv, 2)
    second = verified(tmp_path, srv, "second.zone")
    assert "new.signed.test." in second
    write_atomically(str(path), zone_text(3, www_ttl=900).replace("a.b.deep A 192.0.2.9\n", ""))
    wait_serial(srv, 3)
    third = verified(tmp_path, srv, "third.zone")
    assert "a.b.deep" not in third
    www = [line.split() for line in third.splitlines() if line.startswith("www.")]
    # signed again for the new TTL (the RRSIG's original TTL field says which)
    assert [w[7] for w in www if w[3] == "RRSIG" and w[4] == "A"] == ["900"]


def test_signed_answers_with_do_and_the_ds_for_the_parent(tmp_path: Path,
                                                         server_factory: StartServer) -> None:
    srv, _ = serve_one_zone(server_factory, tmp_path, ORIGIN, zone_text(1),
                            SETTINGS.replace("{denial}", "nsec"))
    query = dns.message.make_query("www." + ORIGIN, "A", want_dnssec=True)
    answer = dns.query.udp(query, "127.0.0.1", port=srv.port, timeout=5)
    assert {r.rdtype for r in answer.answer} == {dns.rdatatype.A, dns.rdatatype.RRSIG}
    query = dns.message.make_query("nothere." + ORIGIN, "A", want_dnssec=True)
    answer = dns.query.udp(query, "127.0.0.1", port=srv.port, timeout=5)
    assert answer.rcode() == dns.rcode.NXDOMAIN
    assert dns.rdatatype.NSEC in {r.rdtype for r in answer.authority}
    keys = srv.query(ORIGIN, "DNSKEY", tcp=True).answer[0]
    printed = subprocess.run([sys.executable, "-m", "dnsbackend", "ds", ORIGIN, "--data",
                              str(srv.data)], capture_output=True, text=True, check=True)
    expected = [dns.dnssec.make_ds(dns.name.from_text(ORIGIN), key, "SHA256").to_text()
                for key in keys]
    assert [line.split("\t")[-1] for line in printed.stdout.splitlines()] == expected


# (name, type): a positive answer, NXDOMAIN, NODATA, a wildcard answer, an empty
# non-terminal, the DS of an unsigned delegation (its absence proven), the apex keys.
VALIDATED = [("www", "A"), ("nothere", "A"), ("www", "TXT"), ("x.wild", "TXT"),
             ("deep", "A"), ("sub", "DS"), ("", "DNSKEY"), ("", "CDS")]


def delv(srv: ServerProcess, anchor: Path, name: str, rdtype: str) -> str:
    """BIND's validator on one question, trusting only `anchor` for the zone."""
    result = subprocess.run(["delv", "@127.0.0.1", "-p", str(srv.port), "-a", str(anchor),
                             f"+root={ORIGIN}", name, rdtype], capture_output=True,
                            text=True, timeout=30, check=False)
    return result.stdout + result.stderr


def anchor_file(path: Path, keys: list[str]) -> Path:
    """A trust-anchors clause of DNSKEYs given as 'flags protocol algorithm key' text."""
    lines = []
    for key in keys:
        flags, protocol, algorithm, *data = key.split()
        lines.append(f'"{ORIGIN}" static-key {flags} {protocol} {algorithm} "{"".join(data)}";')
    path.write_text("trust-anchors {\n" + "\n".join(lines) + "\n};\n")
    return path


@pytest.mark.skipif(shutil.which("delv") is None, reason="needs BIND's delv (bind9-dnsutils)")
@pytest.mark.parametrize("denial", ["nsec", "nsec3"])
def test_bind_s_validator_validates_every_kind_of_answer(tmp_path: Path,
                                                         server_factory: StartServer,
                                                         denial: str) -> None:
    srv, path = serve_one_zone(server_factory, tmp_path, ORIGIN, zone_text(1),
                               SETTINGS.replace("{denial}", denial))
    keys = [r.to_text() for r in srv.query(ORIGIN, "DNSKEY", tcp=True).answer[0]]
    anchor = anchor_file(tmp_path / "anchor.conf", keys)
    for version in (1, 2):
        for label, rdtype in VALIDATED:
            name = f"{label}.{ORIGIN}" if label else ORIGIN
            said = delv(srv, anchor, name, rdtype)
            assert "fully validated" in said, f"{name} {rdtype} (version {version}):\n{said}"
        write_atomically(str(path), zone_text(2, "new A 192.0.2.77\n", www_ttl=900))
        wait_serial(srv, 2)
    assert "fully validated" in delv(srv, anchor, "new." + ORIGIN, "A")
    other = dns.dnssec.make_dnskey(
        dns.dnssec.get_algorithm_cls(13).generate().public_key().key,  # type: ignore[attr-defined]
        13, 257)
    wrong = anchor_file(tmp_path / "wrong.conf", [other.to_text()])
    assert "fully validated" not in delv(srv, wrong, "www." + ORIGIN, "A")
