"""Checks a parsed zone must pass before it is served (the ones BIND, NSD and Knot all make)."""

from __future__ import annotations

from ..wire.codes import NS, SOA
from .records import ParsedZone, ZoneFileError


def check_zone(zone: ParsedZone, filename: str) -> None:
    """Raise ZoneFileError (`file:line: message`) if the zone cannot be served."""
    apex = zone.origin.to_wire()
    assert apex is not None
    apex_lower = apex.lower()
    soa_at_apex = [r for r in zone.records if r.rtype == SOA and r.owner.lower() == apex_lower]
    stray_soa = [r for r in zone.records if r.rtype == SOA and r.owner.lower() != apex_lower]
    if stray_soa:
        raise ZoneFileError(f"{stray_soa[0].where}: SOA record not at the zone apex")
    if not soa_at_apex:
        raise ZoneFileError(f"{filename}:1: no SOA record at the zone apex {zone.origin}")
    if len(soa_at_apex) > 1:
        raise ZoneFileError(f"{soa_at_apex[1].where}: more than one SOA record at the apex")
    if not any(r.rtype == NS and r.owner.lower() == apex_lower for r in zone.records):
        raise ZoneFileError(f"{soa_at_apex[0].where}: no NS records at the zone apex")
