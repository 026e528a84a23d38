"""The NSEC and NSEC3 chains we build, against what BIND's dnssec-signzone builds for the same
zone (owners, next names, type bit maps, TTLs), and BIND's dnssec-verify on our signed zones."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import dns.name
import dns.rdatatype
import dns.zone
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsbackend.sign.keys import zone_keys
from dnsbackend.sign.signer import SignPolicy, sign_nodes, verify_nodes
from dnsbackend.store.format import Node
from dnsbackend.zone.build import build_zone
from dnsbackend.zone.files import origin_key
from testkit.signing import dnssec_verify, have_dnssec_verify, nodes_text

ORIGIN = "chain.test."
HEAD = ("$TTL 3600\n@ 7200 SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\n"
        "ns1 A 192.0.2.1\n")
FIXED = HEAD + """\
www A 192.0.2.2
www AAAA 2001:db8::2
*.wild TXT "x"
a.b.c.ent A 192.0.2.9
sub NS ns.sub
sub NS ns.other.net.
ns.sub A 192.0.2.3
sub A 192.0.2.4
sec NS ns.other.net.
sec DS 12345 13 2 0000000000000000000000000000000000000000000000000000000000000000
mail CNAME www
"""
needs_bind = pytest.mark.skipif(shutil.which("dnssec-signzone") is None or not have_dnssec_verify(),
                                reason="needs BIND's dnssec-signzone and dnssec-verify "
                                "(bind9-utils)")
Chain = dict[str, tuple[int, str, frozenset[str]]]  # owner -> (TTL, next, types)


def _sign(tmp: Path, text: str, denial: str) -> tuple[dict[bytes, Node], bytes]:
    path = tmp / "plain.zone"
    path.write_text(text)
    origin = dns.name.from_text(ORIGIN)
    contents = build_zone(str(path), origin, str(tmp)).contents
    meta = contents.meta
    keys = zone_keys(str(tmp / "data"), origin, "ecdsap256sha256")
    now = int(time.time())
    nodes, _ = sign_nodes(contents.nodes, meta.origin.lower(), meta.soa_ttl, meta.negative_ttl,
                          keys, SignPolicy(denial=denial), now)
    assert verify_nodes(nodes, meta.origin.lower(), keys, now) == []
    return nodes, meta.origin.lower()


def _chain(zone_text: str, rtype: str, origin: str = ORIGIN) -> Chain:
    zone = dns.zone.from_text(zone_text, origin, relativize=False, check_origin=False)
    out: Chain = {}
    ignore = {"CDS", "CDNSKEY"}  # ours publishes them at the apex; BIND's signzone does not
    for name, ttl, rdata in zone.iterate_rdatas(rtype):
        text = rdata.to_text().lower().split()
        types = frozenset(t.upper() for t in text[1 if rtype == "NSEC" else 5:]) - ignore
        out[name.to_text().lower()] = (ttl, text[0 if rtype == "NSEC" else 4], types)
    return out


def _bind_chain(tmp: Path, text: str, denial: str) -> Chain:
    keys = tmp / "bindkeys"
    keys.mkdir(exist_ok=True)
    if not list(keys.iterdir()):
        subprocess.run(["dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "-K",
                        str(keys), ORIGIN], check=True, capture_output=True)
    (tmp / "bind.zone").write_text(text)
    args = ["-3", "-", "-H", "0"] if denial == "nsec3" else []
    subprocess.run(["dnssec-signzone", "-q", "-z", "-S", "-K", str(keys), "-o", ORIGIN,
                    "-N", "keep", *args, "-f", str(tmp / "bind.signed"), str(tmp / "bind.zone")],
                   check=True, capture_output=True, cwd=tmp)
    return _chain((tmp / "bind.signed").read_text(), denial.upper())


def _compare(tmp: Path, text: str, denial: str) -> None:
    nodes, _ = _sign(tmp, text, denial)
    ours = nodes_text(nodes)
    (tmp / "ours.zone").write_text(ours)
    assert _chain(ours, denial.upper()) == _bind_chain(tmp, text, denial)
    verified = dnssec_verify(tmp / "ours.zone", ORIGIN)
    assert verified.returncode == 0, verified.stderr


@needs_bind
@pytest.mark.parametrize("denial", ["nsec", "nsec3"])
def test_the_chain_is_bind_s_and_dnssec_verify_accepts_the_zone(tmp_path: Path,
                                                                   denial: str) -> None:
    _compare(tmp_path, FIXED, denial)


def test_a_delegation_lists_ns_and_ds_only_and_glue_gets_nothing(tmp_path: Path) -> None:
    nodes, apex = _sign(tmp_path, FIXED, "nsec")
    chain = _chain(nodes_text(nodes), "NSEC")
    assert chain["sub.chain.test."] == (300, "*.wild.chain.test.",
                                        frozenset({"NS", "RRSIG", "NSEC"}))
    assert chain["sec.chain.test."][2] == frozenset({"NS", "DS", "RRSIG", "NSEC"})
    glue = origin_key(dns.name.from_text("ns.sub.chain.test."))
    assert set(nodes[glue]) == {dns.rdatatype.A}
    assert chain["chain.test."][0] == 300  # min(SOA TTL 7200, MINIMUM 300): RFC 9077


def test_names_below_a_dname_are_neither_chained_nor_signed(tmp_path: Path) -> None:
    nodes, _ = _sign(tmp_path, HEAD + "dn DNAME other.net.\nx.dn A 192.0.2.5\n", "nsec")
    below = origin_key(dns.name.from_text("x.dn.chain.test."))
    assert set(nodes[below]) == {dns.rdatatype.A}
    chain = _chain(nodes_text(nodes), "NSEC")
    assert "x.dn.chain.test." not in chain
    assert chain["dn.chain.test."][2] == frozenset({"DNAME", "RRSIG", "NSEC"})


def test_empty_non_terminals_get_nsec3_with_an_empty_bitmap(tmp_path: Path) -> None:
    nodes, _ = _sign(tmp_path, HEAD + "a.b.c A 192.0.2.7\n", "nsec3")
    chain = _chain(nodes_text(nodes), "NSEC3")
    assert len(chain) == 5  # apex, ns1, a.b.c, b.c, c
    assert sum(1 for _, _, types in chain.values() if not types) == 2


_LABELS = st.sampled_from(["a", "b", "c", "d", "mail", "x1"])
_NAMES = st.lists(_LABELS, min_size=1, max_size=3).map(".".join)


@st.composite
def _zones(draw: st.DrawFn) -> str:
    lines = [HEAD]
    names = draw(st.lists(_NAMES, min_size=1, max_size=12, unique=True))
    for name in names:
        kind = draw(st.sampled_from(["a", "txt", "wild", "cut", "signedcut", "ttl"]))
        if kind == "a":
            lines.append(f"{name} A 192.0.2.{draw(st.integers(1, 254))}\n")
        elif kind == "txt":
            lines.append(f'{name} TXT "{draw(st.integers(0, 99))}"\n')
        elif kind == "wild":
            lines.append(f"*.{name} MX 10 ns1\n")
        elif kind == "ttl":
            lines.append(f"{name} {draw(st.integers(1, 86400))} A 192.0.2.1\n")
        else:
            lines.append(f"{name} NS ns.{name}\nns.{name} A 192.0.2.53\n")
            if kind == "signedcut":
                lines.append(f"{name} DS 1 13 2 {'00' * 32}\n")
    return "".join(lines)


@needs_bind
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=_zones(), denial=st.sampled_from(["nsec", "nsec3"]))
def test_random_zones_chain_as_bind_s(tmp_path: Path, text: str, denial: str) -> None:
    _compare(tmp_path, text, denial)
