"""Signing keys: one CSK per zone, made on first use and kept in the data directory.

Each zone's keys live in `<data>/keys/<origin>/` (mode 0700), one PEM file per key (PKCS#8,
mode 0600: readable by the server's user only) named as BIND names its key files,
`K<origin>+<algorithm>+<key tag>.private`. The key is the zone's CSK (flags 257: SEP set),
which signs every RRset, DNSKEY included, as BIND's default policy does.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import dns.dnssec
import dns.dnssecalgs
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.dnssectypes import Algorithm, DSDigest

# The settings' algorithm names -> DNSSEC algorithm numbers (RFC 8624 recommended ones).
ALGORITHMS: dict[str, int] = {
    "ecdsap256sha256": int(Algorithm.ECDSAP256SHA256),  # 13
    "ed25519": int(Algorithm.ED25519),  # 15
}
CSK_FLAGS = 257  # zone key + secure entry point
KEYS_DIR = "keys"


class KeyError_(Exception):
    """A key file that cannot be used (unreadable, of another algorithm, damaged)."""


@dataclass
class SigningKey:
    """One private key of a zone with its DNSKEY as published."""

    algorithm: int
    private: dns.dnssecalgs.GenericPrivateKey
    dnskey: bytes  # the DNSKEY rdata, wire form
    tag: int  # RFC 4034 Appendix B key tag
    path: str  # where the private key is kept

    def sign(self, data: bytes) -> bytes:
        """The signature of `data` in the DNS wire form of its algorithm."""
        return bytes(self.private.sign(data))

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self.private.public_key().verify(signature, data)
        except dns.dnssec.InvalidSignature:
            return False
        return True


def zone_key_dir(data_dir: str, origin: dns.name.Name) -> str:
    return os.path.join(data_dir, KEYS_DIR, origin.to_text(omit_final_dot=True).lower() or ".")


def key_tag(dnskey: bytes) -> int:
    """RFC 4034 Appendix B: the key tag of a DNSKEY rdata."""
    total = 0
    for i, byte in enumerate(dnskey):
        total += byte << 8 if i % 2 == 0 else byte
    total += (total >> 16) & 0xFFFF
    return total & 0xFFFF


def _from_private(algorithm: int, private: dns.dnssecalgs.GenericPrivateKey,
                  path: str) -> SigningKey:
    public = private.public_key().to_dnskey(flags=CSK_FLAGS)
    wire = public.to_wire()
    assert wire is not None
    return SigningKey(algorithm, private, wire, key_tag(wire), path)


def load_keys(data_dir: str, origin: dns.name.Name) -> list[SigningKey]:
    """The zone's keys kept in the data directory (none yet: an empty list)."""
    directory = zone_key_dir(data_dir, origin)
    if not os.path.isdir(directory):
        return []
    keys = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".private"):
            continue
        path = os.path.join(directory, name)
        try:
            algorithm = int(name.split("+")[1])
            cls = dns.dnssecalgs.get_algorithm_cls(algorithm)
            with open(path, "rb") as f:
                private = cls.from_pem(f.read())
        except (OSError, ValueError, IndexError, dns.dnssec.UnsupportedAlgorithm) as exc:
            raise KeyError_(f"{path}: cannot use this signing key: {exc}") from None
        keys.append(_from_private(algorithm, private, path))
    return keys


def zone_keys(data_dir: str, origin: dns.name.Name, algorithm: str) -> list[SigningKey]:
    """The keys to sign the zone with: those kept of the algorithm asked for, else a new CSK
    made now (a key of another algorithm stays on disk, unused: an algorithm rollover is
    the operator's step)."""
    number = ALGORITHMS[algorithm]
    kept = [k for k in load_keys(data_dir, origin) if k.algorithm == number]
    return kept or [create_key(data_dir, origin, number)]


def create_key(data_dir: str, origin: dns.name.Name, algorithm: int) -> SigningKey:
    """Make a CSK and keep it: directory 0700, file 0600, written whole (rename) or not at all."""
    directory = zone_key_dir(data_dir, origin)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    os.chmod(os.path.dirname(directory), 0o700)
    private = dns.dnssecalgs.get_algorithm_cls(algorithm).generate()  # type: ignore[attr-defined]
    key = _from_private(algorithm, private, "")
    base = f"K{origin.to_text()}+{algorithm:03d}+{key.tag:05d}"
    key.path = os.path.join(directory, base + ".private")
    tmp = key.path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private.to_pem())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, key.path)
    return key


def _rdata(rtype: int, wire: bytes) -> dns.rdata.Rdata:
    return dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RdataType.make(rtype), wire, 0,
                               len(wire))


def ds_rdata(origin: dns.name.Name, dnskey: bytes) -> bytes:
    """The SHA-256 DS (and CDS) rdata of a DNSKEY rdata."""
    key = _rdata(dns.rdatatype.DNSKEY, dnskey)
    wire = dns.dnssec.make_ds(origin, key, DSDigest.SHA256).to_wire()
    assert wire is not None
    return wire


def ds_text(origin: dns.name.Name, dnskey: bytes, ttl: int) -> str:
    """One DS line for the parent zone, in zone file form."""
    ds = _rdata(dns.rdatatype.DS, ds_rdata(origin, dnskey))
    return f"{origin.to_text()}\t{ttl}\tIN\tDS\t{ds.to_text()}"


def dnskey_algorithm(dnskey: bytes) -> int:
    _, _, algorithm = struct.unpack_from("!HBB", dnskey)
    return int(algorithm)
