"""Which NSEC or NSEC3 records prove what a signed answer denies (RFC 4035 section 3.1.3,
RFC 5155 section 7.2).

Each function returns the lower-case owners of the records to add to the authority
section, found in the zone's chain (ZoneView.covering_nsec, nsec3_match, nsec3_cover,
wildcard_cover; what depends only on a name of the zone, not on the query name, is found
once per zone version: only the record covering the query name, or with NSEC3 its next
closer name, is looked for per query):
the caller adds each with its signatures, once. None among them: a name the proof needs
covered has the hash of an NSEC3 owner (a hash collision, RFC 5155 section 7.2.9), so no
proof can be given: the caller answers SERVFAIL.
"""

from __future__ import annotations

from ..store.format import Node
from ..store.snapshot import NODE_CACHE_LIMIT, ZoneView
from ..wire.codes import NSEC


def nxdomain(zone: ZoneView, lower: bytes, encloser: bytes) -> list[bytes | None]:
    """No such name: with NSEC, the record covering it and the one covering the wildcard at
    its closest encloser (one when it covers both); with NSEC3 the closest encloser proof
    and the record covering that wildcard (RFC 5155 section 7.2.2)."""
    if zone.nsec3:
        return [*_encloser_proof(zone, lower, encloser), zone.wildcard_cover(encloser)]
    return [zone.covering_nsec(lower), zone.wildcard_cover(encloser)]


def nodata(zone: ZoneView, lower: bytes, node: Node) -> list[bytes | None]:
    """The name exists without the type: its own record (the type absent from the bitmap).
    With NSEC an empty non-terminal has none: the record covering it. With NSEC3 a name
    without one (a delegation in an opt-out span: DS NODATA, RFC 5155 section 7.2.4) gets
    the proof of its closest provable encloser, whose next closer name's record has the
    opt-out flag."""
    if zone.nsec3:
        match = zone.nsec3_match(lower)
        return [match] if match is not None else _unmatched_proof(zone, lower)
    return [lower] if NSEC in node else _unmatched_proof(zone, lower)


def _unmatched_proof(zone: ZoneView, lower: bytes) -> list[bytes | None]:
    """The proof for an existing name without a record of its own (NSEC: an empty
    non-terminal, the record covering it; NSEC3: a delegation in an opt-out span, the
    closest provable encloser proof). It depends on the zone only, so it is found once per
    zone version: every referral to an unsigned delegation of an opt-out zone needs its
    cut's."""
    kept: list[bytes | None] | None = zone.unmatched.get(lower)
    if kept is None:
        if len(zone.unmatched) >= NODE_CACHE_LIMIT:
            zone.unmatched.clear()
        kept = (_provable_encloser_proof(zone, lower) if zone.nsec3
                else [zone.covering_nsec(lower)])
        zone.unmatched[lower] = kept
    return kept


def wildcard(zone: ZoneView, lower: bytes, encloser: bytes,
             no_data: bool) -> list[bytes | None]:
    """An answer synthesized from the wildcard at `encloser`: the proof that no closer name
    exists. NSEC: the record covering the query name. NSEC3: the one covering the next
    closer name, and for a wildcard NODATA the closest encloser's own (RFC 5155 sections
    7.2.5, 7.2.6). Wildcard NODATA adds nodata() of the wildcard."""
    if not zone.nsec3:
        return [zone.covering_nsec(lower)]
    if no_data:
        return _encloser_proof(zone, lower, encloser)
    return [zone.nsec3_cover(_next_closer(lower, encloser))]


def _encloser_proof(zone: ZoneView, lower: bytes, encloser: bytes) -> list[bytes | None]:
    """The closest encloser proof (RFC 5155 section 7.2.1): the record matching the closest
    encloser and the one covering the next closer name."""
    found: list[bytes | None] = [zone.nsec3_cover(_next_closer(lower, encloser))]
    match = zone.nsec3_match(encloser)
    return found if match is None else [match, *found]


def _provable_encloser_proof(zone: ZoneView, lower: bytes) -> list[bytes | None]:
    """The closest encloser proof for the closest ancestor with a matching record."""
    encloser = lower
    while len(encloser) > len(zone.origin_lower):
        encloser = encloser[encloser[0] + 1:]
        if zone.nsec3_match(encloser) is not None:
            break
    return _encloser_proof(zone, lower, encloser)


def _next_closer(lower: bytes, encloser: bytes) -> bytes:
    """The name one label longer than the closest encloser, on the way to `lower`."""
    pos = 0
    while len(lower) - pos - lower[pos] - 1 > len(encloser):
        pos += lower[pos] + 1
    return lower[pos:]
