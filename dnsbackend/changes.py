"""`dnsbackend changes ZONE`: the changesets a zone's journal keeps, as text, read while serving."""

from __future__ import annotations

import os
import sys

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from .store.database import Store, StoreError
from .store.format import RR, Changeset
from .store.transaction import journal_sizes, read_journal
from .zone.files import origin_key


def main(data: str, zone: str, from_serial: int | None = None) -> int:
    try:
        origin = dns.name.from_text(zone)
    except dns.exception.DNSException as exc:
        print(f"dnsbackend: {zone}: not a domain name: {exc}", file=sys.stderr)
        return 2
    if not os.path.isdir(os.path.join(data, "catalog")):
        print(f"dnsbackend: no store in {data}", file=sys.stderr)
        return 1
    try:
        store = Store(data)
    except StoreError as exc:
        print(f"dnsbackend: {exc}", file=sys.stderr)
        return 1
    try:
        entry = store.entries().get(origin_key(origin))
        if entry is None or not entry.zone_id:
            print(f"dnsbackend: zone {origin} is not in the store", file=sys.stderr)
            return 1
        with store.zones_env.begin() as txn:
            journal = read_journal(txn, entry.zone_id)
    finally:
        store.close()
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


def journal_summary(store: Store, zone_id: int) -> tuple[int, int, int, int]:
    """(changesets, bytes, first serial, last serial) of a zone's journal; zeros if empty."""
    with store.zones_env.begin() as txn:
        sizes = journal_sizes(txn, zone_id)
        journal = read_journal(txn, zone_id)
    if not journal:
        return 0, 0, 0, 0
    return len(journal), sum(sizes), journal[0].from_serial, journal[-1].to_serial
