"""Authenticated denial: the NSEC chain (RFC 4034/4035) and the NSEC3 chain (RFC 5155, with
RFC 9276's defaults: 0 extra iterations, empty salt, no opt-out) of a zone's nodes.

Ours rather than dnspython's sign_zone, which sets the A bit of glue in the NSEC at a
delegation, takes MINIMUM for the NSEC TTL instead of RFC 9077's min(SOA TTL, MINIMUM),
signs names a DNAME occludes, and has no NSEC3. Names are compared in RFC 4034 §6.1
canonical order (labels from the right, lower case, as octet strings).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from ..store.format import Node
from ..wire.codes import DNAME, DS, NS, NSEC, NSEC3, RRSIG

NSEC3PARAM = 51
NSEC3_SHA1 = 1


class SignError(Exception):
    """A zone that cannot be signed as asked (an NSEC3 hash collision, a key unusable)."""


class Kind(Enum):
    """What a name is to the signer (RFC 4035 §2.2, §2.3)."""

    AUTH = 1  # authoritative data (the apex included): every RRset signed
    CUT = 2  # a delegation point below the apex: only DS (and the NSEC) signed
    OCCLUDED = 3  # below a cut or a DNAME: glue or occluded data, neither signed nor chained


def canonical_key(owner: bytes) -> tuple[bytes, ...]:
    """An owner (lower-case wire form) as a key that sorts in canonical order."""
    labels = []
    i = 0
    while owner[i]:
        size = owner[i]
        labels.append(owner[i + 1:i + 1 + size])
        i += size + 1
    labels.reverse()
    return tuple(labels)


def classify(nodes: dict[bytes, Node], apex: bytes) -> list[tuple[bytes, Kind]]:
    """Every owner with its kind, in canonical order (a name's descendants follow it)."""
    keyed = sorted((canonical_key(owner), owner) for owner in nodes)
    out: list[tuple[bytes, Kind]] = []
    above: tuple[bytes, ...] | None = None  # the cut or DNAME owner names below are under
    for key, owner in keyed:
        if above is not None and key[:len(above)] == above and len(key) > len(above):
            out.append((owner, Kind.OCCLUDED))
            continue
        above = None
        node = nodes[owner]
        if NS in node and owner != apex:
            out.append((owner, Kind.CUT))
            above = key
            continue
        out.append((owner, Kind.AUTH))
        if DNAME in node:
            above = key
    return out


def type_bitmap(types: Iterable[int]) -> bytes:
    """RFC 4034 §4.1.2: the windowed type bit maps of NSEC and NSEC3."""
    windows: dict[int, bytearray] = {}
    for rtype in types:
        bits = windows.setdefault(rtype >> 8, bytearray(32))
        bits[(rtype & 0xFF) >> 3] |= 0x80 >> (rtype & 7)
    out = bytearray()
    for window in sorted(windows):
        bits = windows[window].rstrip(b"\x00")
        out += bytes((window, len(bits))) + bits
    return bytes(out)


def present_types(node: Node, kind: Kind, signed: bool) -> list[int]:
    """The types a name's NSEC or NSEC3 lists: at a delegation only NS and DS (never glue's
    A, RFC 4035 §2.3), with RRSIG where the name has signatures."""
    types: list[int]
    if kind is Kind.CUT:
        types = [t for t in (NS, DS) if t in node]
    else:
        types = [t for t in node if t not in (RRSIG, NSEC, NSEC3)]
    if signed:
        types.append(RRSIG)
    return types


def signed_types(node: Node, kind: Kind) -> list[int]:
    """The RRsets of a name that carry signatures (RFC 4035 §2.2): none of glue or of
    occluded names, only DS and NSEC at a delegation."""
    if kind is Kind.OCCLUDED:
        return []
    if kind is Kind.CUT:
        return [t for t in (DS, NSEC) if t in node]
    return sorted(t for t in node if t != RRSIG)


def add_nsec(nodes: dict[bytes, Node], order: list[tuple[bytes, Kind]], ttl: int) -> None:
    """An NSEC at every authoritative name and delegation with data, linked in canonical
    order (the last back to the apex); TTL = min(SOA TTL, MINIMUM) (RFC 9077)."""
    chained = [owner for owner, kind in order if kind is not Kind.OCCLUDED and nodes[owner]]
    kinds = dict(order)
    for i, owner in enumerate(chained):
        following = chained[(i + 1) % len(chained)]
        node = nodes[owner]
        kind = kinds[owner]
        types = present_types(node, kind, True)
        types.append(NSEC)
        node[NSEC] = (ttl, (following + type_bitmap(types),))


@dataclass(frozen=True)
class Nsec3Params:
    """The NSEC3 parameters of a zone (RFC 9276 defaults)."""

    iterations: int = 0
    salt: bytes = b""

    def param_rdata(self) -> bytes:
        return struct.pack("!BBHB", NSEC3_SHA1, 0, self.iterations, len(self.salt)) + self.salt

    def rdata_head(self) -> bytes:
        """An NSEC3 rdata's fields before the next hashed owner (flags 0: no opt-out)."""
        return self.param_rdata()


def nsec3_hash(owner: bytes, params: Nsec3Params) -> bytes:
    """RFC 5155 §5: the hash of a lower-case wire owner name."""
    digest = hashlib.sha1(owner + params.salt).digest()
    for _ in range(params.iterations):
        digest = hashlib.sha1(digest + params.salt).digest()
    return digest


def nsec3_owner(digest: bytes, apex: bytes) -> bytes:
    label = base64.b32hexencode(digest).rstrip(b"=").lower()
    return bytes((len(label),)) + label + apex


def nsec3_nodes(nodes: dict[bytes, Node], order: list[tuple[bytes, Kind]], apex: bytes,
                params: Nsec3Params, ttl: int) -> dict[bytes, Node]:
    """The NSEC3 owners of the zone (to add to its nodes): one per authoritative name,
    empty non-terminals included, and per delegation (no opt-out), linked in hash order."""
    hashed: dict[bytes, bytes] = {}  # digest -> bitmap
    for owner, kind in order:
        if kind is Kind.OCCLUDED:
            continue
        node = nodes[owner]
        digest = nsec3_hash(owner, params)
        if digest in hashed:
            raise SignError(f"NSEC3 hash collision at {owner!r}: use another salt")
        hashed[digest] = type_bitmap(present_types(node, kind, bool(signed_types(node, kind))))
    digests = sorted(hashed)
    head = params.rdata_head()
    out: dict[bytes, Node] = {}
    for i, digest in enumerate(digests):
        following = digests[(i + 1) % len(digests)]
        rdata = head + bytes((len(following),)) + following + hashed[digest]
        out[nsec3_owner(digest, apex)] = {NSEC3: (ttl, (rdata,))}
    return out
