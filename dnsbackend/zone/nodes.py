"""Records to nodes: a parsed zone grouped into the stored nodes, with its empty non-terminals."""

from __future__ import annotations

from ..store.format import Node, ZoneContents, ZoneMeta, soa_fields
from ..wire.codes import SOA
from .records import ParsedZone, Record, paused_gc


def zone_nodes(zone: ParsedZone) -> ZoneContents:
    """Group records into nodes and add the empty non-terminals between them and the apex."""
    with paused_gc():
        return _nodes(zone)


def _nodes(zone: ParsedZone) -> ZoneContents:
    apex = zone.origin.to_wire()
    assert apex is not None
    apex_lower = apex.lower()
    if zone.nodes is not None:  # made by the reader's builder: taken over, not copied
        nodes = zone.nodes
        soa_ttl, soa_rdata = _apex_soa(nodes, apex_lower)
    else:
        nodes, soa_ttl, soa_rdata = _grouped(zone.records, apex_lower)
    _add_empty_non_terminals(nodes, len(apex_lower))
    serial, minimum = soa_fields(soa_rdata)
    count = len(zone.records) if zone.count is None else zone.count
    meta = ZoneMeta(apex, serial, soa_ttl, min(soa_ttl, minimum), soa_rdata, count)
    return ZoneContents(meta, nodes)


def _grouped(records: list[Record], apex_lower: bytes) -> tuple[dict[bytes, Node], int, bytes]:
    """The records as nodes by lower-case owner, and the apex SOA's TTL and rdata."""
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
    for owner, rtype, ttl, rdata, _ in records:
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
    return nodes, soa_ttl, soa_rdata


def _apex_soa(nodes: dict[bytes, Node], apex_lower: bytes) -> tuple[int, bytes]:
    """The apex SOA's TTL and rdata (0 and b"" when there is none)."""
    entry = nodes.get(apex_lower, {}).get(SOA)
    if entry is None or not entry[1]:
        return 0, b""
    return entry[0], entry[1][0]


def _add_empty_non_terminals(nodes: dict[bytes, Node], apex_size: int) -> None:
    """Every name between a node and the apex exists, as an empty non-terminal if nothing else."""
    for owner in list(nodes):
        pos = owner[0] + 1
        while len(owner) - pos > apex_size:
            parent = owner[pos:]
            if parent in nodes:
                break
            nodes[parent] = {}
            pos += owner[pos] + 1
