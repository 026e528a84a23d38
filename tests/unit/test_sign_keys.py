"""Signing keys: made on first use, private files the server's user alone can read, the same
key after a restart, and the DS for the parent."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from dnsbackend.sign.keys import ALGORITHMS, ds_text, key_tag, load_keys, zone_keys

ORIGIN = dns.name.from_text("keys.test.")


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_a_key_is_made_once_kept_private_and_loaded_again(tmp_path: Path, algorithm: str) -> None:
    made = zone_keys(str(tmp_path), ORIGIN, algorithm)
    assert len(made) == 1
    key = made[0]
    assert stat.S_IMODE(os.stat(key.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(key.path)).st_mode) == 0o700
    again = zone_keys(str(tmp_path), ORIGIN, algorithm)
    assert [(k.dnskey, k.tag) for k in again] == [(key.dnskey, key.tag)]
    assert again[0].verify(key.sign(b"data"), b"data")
    dnskey = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.DNSKEY, key.dnskey, 0,
                                 len(key.dnskey))
    assert dns.dnssec.key_id(dnskey) == key_tag(key.dnskey) == key.tag  # type: ignore[arg-type]
    assert (dnskey.flags, dnskey.algorithm) == (257, ALGORITHMS[algorithm])  # type: ignore[attr-defined]


def test_the_ds_is_dnspythons_sha256_digest_of_the_key(tmp_path: Path) -> None:
    key = zone_keys(str(tmp_path), ORIGIN, "ecdsap256sha256")[0]
    line = ds_text(ORIGIN, key.dnskey, 3600)
    dnskey = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.DNSKEY, key.dnskey, 0,
                                 len(key.dnskey))
    expected = dns.dnssec.make_ds(ORIGIN, dnskey, "SHA256")
    assert line.split("\t") == ["keys.test.", "3600", "IN", "DS", expected.to_text()]


def test_a_key_of_another_algorithm_stays_but_is_not_used(tmp_path: Path) -> None:
    ecdsa = zone_keys(str(tmp_path), ORIGIN, "ecdsap256sha256")[0]
    ed = zone_keys(str(tmp_path), ORIGIN, "ed25519")[0]
    assert ed.tag != ecdsa.tag or ed.algorithm != ecdsa.algorithm
    assert {k.algorithm for k in load_keys(str(tmp_path), ORIGIN)} == {13, 15}
