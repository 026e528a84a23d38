"""Checks a parsed zone must pass before it is served (the ones BIND, NSD and Knot all make),
and the warnings named-checkzone gives about the names NS, MX and SRV records point to.

(RRsets too big for any DNS message are refused while the zone is read: ZoneBuilder.records.)
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import dns.name
import dns.rdatatype

from ..store.format import Node
from ..wire.codes import AAAA, CNAME, MX, NS, SOA, SRV, A
from .nodes import zone_nodes
from .records import Errors, ParsedZone, Record, paused_gc

_TARGET_AT = {NS: 0, MX: 2, SRV: 6}  # where the name a record points to starts in its rdata


def check_zone(zone: ParsedZone, filename: str,
               nodes: dict[bytes, Node] | None = None) -> list[str]:
    """Raise ZoneFileError with every error (`file:line: message`) that keeps the zone from
    being served; else return its warnings (see target_warnings). `nodes` are the zone's
    nodes if already made (zone_nodes), to look names up in."""
    zone_errors(zone, filename)
    return target_warnings(zone, nodes)


def zone_errors(zone: ParsedZone, filename: str) -> None:
    """Raise ZoneFileError with every error that keeps the zone from being served."""
    errors = Errors()
    apex = zone.origin.to_wire()
    assert apex is not None
    apex_lower = apex.lower()
    soa = [rec for rec in zone.records if rec[1] == SOA]
    soa_at_apex = [rec for rec in soa if rec.owner.lower() == apex_lower]
    if len(soa_at_apex) < len(soa):
        stray = next(rec for rec in soa if rec.owner.lower() != apex_lower)
        errors.add(f"{stray.where}: SOA record not at the zone apex")
    if not soa_at_apex:
        errors.add(f"{filename}:1: no SOA record at the zone apex {zone.origin}")
    elif len(soa_at_apex) > 1:
        errors.add(f"{soa_at_apex[1].where}: more than one SOA record at the apex")
    elif not any(rec[1] == NS and rec.owner.lower() == apex_lower for rec in zone.records):
        errors.add(f"{soa_at_apex[0].where}: no NS records at the zone apex")
    errors.check()


def _text(wire: bytes) -> str:
    return dns.name.from_wire(wire, 0)[0].to_text(omit_final_dot=True)


def _type_text(rtype: int) -> str:
    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rtype))


def at_or_below(name: bytes, top: bytes) -> bool:
    """Whether `name` is `top` or a name below it (lower-case wire names)."""
    if not name.endswith(top):
        return False
    pos, end = 0, len(name) - len(top)
    while pos < end:
        pos += name[pos] + 1
    return pos == end


def _parent(name: bytes) -> bytes:
    return name[name[0] + 1:]


class _Places:
    """Where names are: in the zone or not, and the highest delegation at or above them."""

    def __init__(self, apex: bytes, cuts: set[bytes]) -> None:
        self.apex = apex
        self.cuts = cuts
        self.known: dict[bytes, tuple[bool, bytes | None]] = {}

    def of(self, name: bytes) -> tuple[bool, bytes | None]:
        """(in the zone, the highest delegation point at or above it, or None)."""
        found = self.known.get(name)
        if found is None:
            found = self.known[name] = self._place(name)
        return found

    def _place(self, name: bytes) -> tuple[bool, bytes | None]:
        apex = self.apex
        if not name.endswith(apex):
            return (False, None)
        end = len(name) - len(apex)
        cuts = self.cuts
        if name[0] + 1 == end:  # one label below the apex: most names
            return (True, name if name in cuts else None)
        cut = None
        pos = 0
        while pos < end:
            if name[pos:] in cuts:
                cut = name[pos:]
            pos += name[pos] + 1
        return (True, cut) if pos == end else (False, None)


class _Names:
    """The types at names of the zone: its nodes, or what a pass over its records finds
    out about the names asked for (when no nodes were made)."""

    def __init__(self, zone: ParsedZone, nodes: dict[bytes, Node] | None,
                 wanted: Callable[[], set[bytes]]) -> None:
        self.zone = zone
        self.index: dict[bytes, Collection[int]]
        self.every = nodes is not None  # whether the index has every name (and the ENTs)
        if nodes is not None:
            self.index = nodes  # type: ignore[assignment]
            return
        self.index = {}
        last = None
        lower = b""
        asked = wanted()
        for rec in zone.records:
            if rec.owner is not last:
                last = rec.owner
                lower = last.lower()
            if lower in asked:
                types = self.index.get(lower)
                if types is None:
                    types = self.index[lower] = set()
                assert isinstance(types, set)
                types.add(rec.rtype)

    def types(self, name: bytes) -> Collection[int] | None:
        return self.index.get(name)

    def by_wildcard(self, name: bytes, apex: bytes) -> Collection[int] | None:
        """The types a wildcard answers a name without records of its own with, as BIND's own
        look-up of the target finds them (None: no wildcard answers it)."""
        if not self.every:
            self._index_every()
        index = self.index
        if index.get(name) is not None:
            return None  # an existing name is answered by its own records
        encloser = name
        while encloser != apex and encloser not in index:
            encloser = _parent(encloser)
        return index.get(b"\x01*" + encloser)

    def _index_every(self) -> None:
        """Every name of the zone, and the empty non-terminals between them and the apex."""
        index: dict[bytes, set[int]] = {}
        apex = self.zone.origin.to_wire()
        assert apex is not None
        for rec in self.zone.records:
            name = rec.owner.lower()
            types = index.get(name)
            if types is None:
                types = index[name] = set()
                parent = name
                while len(parent) > len(apex):
                    parent = _parent(parent)
                    if parent in index:
                        break
                    index[parent] = set()
            types.add(rec.rtype)
        self.index = index  # type: ignore[assignment]
        self.every = True


def target_warnings(zone: ParsedZone, nodes: dict[bytes, Node] | None = None) -> list[str]:
    """named-checkzone's warnings for NS, MX and SRV records pointing to a name in the zone
    that has no address (A or AAAA) records, or is a CNAME; for a delegation's NS records
    pointing below a delegation, glue ("REQUIRED GLUE" below its own, "SIBLING GLUE" below
    another). Names outside the zone are not looked up; nor (except a delegation's glue) are
    names below a delegation, nor records at or below one."""
    if nodes is None and zone.count is not None and zone.count != len(zone.records):
        nodes = zone_nodes(zone).nodes  # its records are not all listed (every_record)
    with paused_gc():
        return _target_warnings(zone, nodes)


def _target_warnings(zone: ParsedZone, nodes: dict[bytes, Node] | None) -> list[str]:
    apex = zone.origin.to_wire()
    assert apex is not None
    apex = apex.lower()
    checks = _targets_to_check(zone, apex)
    if not checks:
        return []
    names = _Names(zone, nodes, lambda: {target for _, target, _ in checks})
    index = names.index
    warnings: list[tuple[tuple[str, int], str]] = []
    for rec, target, glue in checks:
        types = index.get(target)
        if types is not None and (A in types or AAAA in types):
            continue
        if types is None and not glue:
            types = names.by_wildcard(target, apex)
            if types is not None and (A in types or AAAA in types):
                continue
        warnings.append((_where(rec.where), _target_warning(rec, target, glue, types, apex)))
    return [warning for _, warning in sorted(warnings)]


def _where(where: str) -> tuple[str, int]:
    """A `file:line` in the order of the file (records come in order of their names)."""
    filename, _, line = where.rpartition(":")
    return (filename, int(line) if line.isdigit() else 0)


def _targets_to_check(zone: ParsedZone, apex: bytes) -> list[tuple[Record, bytes, bool]]:
    """(record, target, whether glue) for the NS, MX and SRV records whose target is looked
    up in the zone (in this loop, which is long in a zone of many delegations, the usual
    names one label below the apex are placed without a walk over their labels)."""
    pointers = [rec for rec in zone.records if rec[1] in _TARGET_AT]
    cuts = {rec[0].lower() for rec in pointers if rec[1] == NS} - {apex}
    alen = len(apex)
    places = _Places(apex, cuts)
    known = places.known
    place = places.of
    checks: list[tuple[Record, bytes, bool]] = []
    append = checks.append
    last = None
    last_type = 0
    skip = False
    owner = b""
    for rec in pointers:
        rtype = rec[1]
        if rec[0] is not last or rtype != last_type:
            last, last_type = rec[0], rtype
            owner = last.lower()
            if len(owner) == owner[0] + 1 + alen and owner.endswith(apex):
                cut = owner if owner in cuts else None
            else:
                _, cut = known.get(owner) or place(owner)
            # data at or below a delegation, or a delegation below another one
            skip = cut is not None and (rtype != NS or cut != owner)
        if skip:
            continue
        target = rec[3][_TARGET_AT[rtype]:].lower()
        if rtype == NS and owner != apex and target.endswith(owner) and \
                at_or_below(target, owner):
            append((rec, target, True))  # in-bailiwick glue
            continue
        if len(target) == target[0] + 1 + alen and target.endswith(apex):
            inside, cut = True, (target if target in cuts else None)
        else:
            inside, cut = known.get(target) or place(target)
        if inside and (cut is None or (rtype == NS and owner != apex)):
            append((rec, target, cut is not None))
        # else outside the zone, or below a delegation: BIND looks these up elsewhere
    return checks


def _target_warning(rec: Record, target: bytes, glue: bool, types: Collection[int] | None,
                    apex: bytes) -> str:
    written = _text(rec.rdata[_TARGET_AT[rec.rtype]:])
    owner = rec.owner.lower()
    what = "NS" if rec.rtype == NS and owner == apex else \
        f"{_text(rec.owner)}/{_type_text(rec.rtype)}"
    if glue:
        kind = "REQUIRED" if at_or_below(target, owner) else "SIBLING"
        return f"{rec.where}: {what} '{written}' has no {kind} GLUE address records (A or AAAA)"
    if types is not None and CNAME in types:
        return f"{rec.where}: {what} '{written}' is a CNAME (illegal)"
    return f"{rec.where}: {what} '{written}' has no address records (A or AAAA)"
