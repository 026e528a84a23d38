"""Turning a parsed zone into the nodes the answer engine reads: the work done at load time."""

from __future__ import annotations

import marshal
import struct
from dataclasses import dataclass

from .wire import SOA
from .zonefile import ParsedZone, paused_gc

# A node as stored: {rtype: (ttl, (rdata, ...))}; an empty dict is an empty non-terminal.
Node = dict[int, tuple[int, tuple[bytes, ...]]]

FORMAT = 1  # bump when the stored layout changes; older stores are rebuilt from the files


@dataclass
class ZoneMeta:
    """What the catalog and the answer engine need to know about a zone without reading nodes."""

    origin: bytes  # apex, wire form, letter case as written
    serial: int
    soa_ttl: int
    negative_ttl: int  # min(SOA TTL, SOA MINIMUM), RFC 2308
    soa_rdata: bytes
    records: int  # number of resource records

    def pack(self) -> bytes:
        return marshal.dumps(
            (FORMAT, self.origin, self.serial, self.soa_ttl, self.negative_ttl,
             self.soa_rdata, self.records)
        )

    @classmethod
    def unpack(cls, raw: bytes) -> ZoneMeta:
        fmt, origin, serial, soa_ttl, negative_ttl, soa_rdata, records = marshal.loads(raw)
        if fmt != FORMAT:
            raise ValueError("stored zone has an older layout")
        return cls(origin, serial, soa_ttl, negative_ttl, soa_rdata, records)


@dataclass
class CompiledZone:
    """A zone ready to be written: its meta and its nodes keyed by lower-case owner wire name."""

    meta: ZoneMeta
    nodes: dict[bytes, Node]

    def items(self) -> list[tuple[bytes, bytes]]:
        """(key, value) pairs in key order, values serialized, for an appending bulk write."""
        return [(name, marshal.dumps(self.nodes[name])) for name in sorted(self.nodes)]


def soa_fields(rdata: bytes) -> tuple[int, int]:
    """(serial, minimum) of an SOA rdata."""
    serial, _, _, _, minimum = struct.unpack("!IIIII", rdata[-20:])
    return serial, minimum


def compile_zone(zone: ParsedZone) -> CompiledZone:
    """Group records into nodes and add the empty non-terminals between them and the apex."""
    with paused_gc():
        return _compile(zone)


def _compile(zone: ParsedZone) -> CompiledZone:
    apex = zone.origin.to_wire()
    assert apex is not None
    apex_lower = apex.lower()
    # Readers hand records grouped by owner and RRset, so each run of one (owner, type) is
    # gathered into one tuple; a run for an entry already made (RRSIGs covering other
    # types, or records not handed over grouped) is appended to it.
    nodes: dict[bytes, Node] = {}
    soa_ttl = 0
    soa_rdata = b""
    node: Node = {}
    lower = b""
    run_owner: bytes | None = None
    run_type = -1
    run_ttl = 0
    run: list[bytes] = []
    for owner, rtype, ttl, rdata, _ in zone.records:
        if owner is run_owner and rtype == run_type:
            run.append(rdata)
            continue
        if run:
            entry = node.get(run_type)
            node[run_type] = (run_ttl, tuple(run)) if entry is None else \
                (entry[0], entry[1] + tuple(run))
        if owner is not run_owner:
            run_owner = owner
            lower = owner.lower()
            found = nodes.get(lower)
            if found is None:
                found = nodes[lower] = {}
            node = found
        run_type = rtype
        run_ttl = ttl
        run = [rdata]
        if rtype == SOA and lower == apex_lower:
            soa_ttl, soa_rdata = ttl, rdata
    if run:
        entry = node.get(run_type)
        node[run_type] = (run_ttl, tuple(run)) if entry is None else \
            (entry[0], entry[1] + tuple(run))
    # Every name between a node and the apex exists, as an empty non-terminal if nothing else.
    apex_size = len(apex_lower)
    for owner in list(nodes):
        pos = owner[0] + 1
        while len(owner) - pos > apex_size:
            parent = owner[pos:]
            if parent in nodes:
                break
            nodes[parent] = {}
            pos += owner[pos] + 1
    serial, minimum = soa_fields(soa_rdata)
    meta = ZoneMeta(apex, serial, soa_ttl, min(soa_ttl, minimum), soa_rdata, len(zone.records))
    return CompiledZone(meta, nodes)
