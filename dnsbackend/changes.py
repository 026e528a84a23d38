"""`dnsbackend changes ZONE`: the changesets a zone's journal keeps, as text, read while serving."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import lmdb

from .status import open_store
from .store.format import RR, Changeset, ZoneEntry
from .store.transaction import read_journal
from .zone.files import origin_key

T = TypeVar("T")


def read_zone(data: str, zone: str,
              read: Callable[[lmdb.Transaction, ZoneEntry], T]) -> tuple[dns.name.Name, T] | int:
    """What `read` takes from a served zone of the store (in one read transaction), or the
    exit status after saying why it cannot (2: not a name, 1: no store or no such zone)."""
    try:
        origin = dns.name.from_text(zone)
    except dns.exception.DNSException as exc:
        print(f"dnsbackend: {zone}: not a domain name: {exc}", file=sys.stderr)
        return 2
    store = open_store(data)
    if store is None:
        return 1
    try:
        entry = store.entries().get(origin_key(origin))
        if entry is None or not entry.zone_id:
            print(f"dnsbackend: zone {origin} is not in the store", file=sys.stderr)
            return 1
        with store.zones_env.begin() as txn:
            return origin, read(txn, entry)
    finally:
        store.close()


def main(data: str, zone: str, from_serial: int | None = None) -> int:
    found = read_zone(data, zone, lambda txn, entry: read_journal(txn, entry.zone_id))
    if isinstance(found, int):
        return found
    origin, journal = found
    if from_serial is not None:
        starts = [i for i, c in enumerate(journal) if c.from_serial == from_serial]
        if not starts:
            print(f"dnsbackend: zone {origin}: the journal has no change from serial "
                  f"{from_serial}", file=sys.stderr)
            return 1
        journal = journal[starts[0]:]
    for change in journal:
        print("\n".join(render(change, origin)))
    return 0


def render(change: Changeset, origin: dns.name.Name) -> list[str]:
    """A changeset as text: one `-` or `+` RR a line, the SOAs first, under its serials."""
    apex = origin.to_wire()
    assert apex is not None
    lines = [f"; serial {change.from_serial} -> {change.to_serial}"]
    lines.append("-" + _rr((apex.lower(), dns.rdatatype.SOA, *change.old_soa)))
    lines += ["-" + _rr(rr) for rr in change.removed]
    lines.append("+" + _rr((apex.lower(), dns.rdatatype.SOA, *change.new_soa)))
    lines += ["+" + _rr(rr) for rr in change.added]
    return lines


def _rr(rr: RR) -> str:
    owner, rtype, ttl, rdata = rr
    name = dns.name.from_wire(owner, 0)[0]
    kind = dns.rdatatype.RdataType.make(rtype)
    data = dns.rdata.from_wire(dns.rdataclass.IN, kind, rdata, 0, len(rdata))
    return f"{name} {ttl} IN {dns.rdatatype.to_text(kind)} {data}"
