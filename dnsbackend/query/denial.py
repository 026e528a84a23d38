"""Which NSEC records prove what a signed answer denies (RFC 4035 section 3.1.3).

Each function returns the lower-case owners of the NSEC records to add to the authority
section, found by the zone's canonical-order chain (ZoneView.covering_nsec): the caller
adds each with its signatures, once.
"""

from __future__ import annotations

from ..store.format import Node
from ..store.snapshot import ZoneView
from ..wire.codes import NSEC


def nxdomain(zone: ZoneView, lower: bytes, encloser: bytes) -> list[bytes]:
    """No such name: the NSEC covering it and the one covering the wildcard at its closest
    encloser (one record when it covers both)."""
    return [zone.covering_nsec(lower), zone.covering_nsec(b"\x01*" + encloser)]


def nodata(zone: ZoneView, lower: bytes, node: Node) -> list[bytes]:
    """The name exists without the type: its own NSEC (the type absent from the bitmap), or
    for an empty non-terminal, which has none, the NSEC covering it."""
    return [lower] if NSEC in node else [zone.covering_nsec(lower)]


def wildcard(zone: ZoneView, lower: bytes) -> list[bytes]:
    """An answer synthesized from a wildcard: the NSEC proving no closer name exists (the
    one covering the query name). A wildcard NODATA adds nodata() of the wildcard."""
    return [zone.covering_nsec(lower)]
