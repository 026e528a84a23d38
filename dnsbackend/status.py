"""`dnsbackend status`: the zones in the store, as a table or as JSON, read while serving."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

from .store.database import Store, StoreError
from .store.format import ZoneEntry
from .store.transaction import journal_sizes, read_journal

# What `status --json` gives per zone: the catalog entry's fields, with `served` (not
# disabled and a version in the store), `loaded_at` as ISO 8601 besides the raw time, and
# the journal (changes kept, bytes, the serials they span).
JSON_FIELDS = ("origin", "served", "status", "serial", "file_serial", "records", "version",
               "file", "includes", "error", "disabled", "loaded_at", "loaded_at_iso",
               "load_seconds", "journal")


def open_store(data: str) -> Store | None:
    """The store of a data directory, opened to read while a server may be writing it; None
    (said why on stderr) if there is none."""
    if not os.path.isdir(os.path.join(data, "catalog")):
        print(f"dnsbackend: no store in {data}", file=sys.stderr)
        return None
    try:
        return Store(data)
    except StoreError as exc:
        print(f"dnsbackend: {exc}", file=sys.stderr)
        return None


def main(data: str, as_json: bool = False) -> int:
    store = open_store(data)
    if store is None:
        return 1
    try:
        entries = sorted(store.entries().values(), key=lambda e: e.origin)
        journals = {e.origin: _journal_summary(store, e.zone_id) for e in entries}
    finally:
        store.close()
    notified = notify_acks(data)
    if as_json:
        records = [as_record(e, journals[e.origin]) for e in entries]
        for record in records:
            record["notify"] = notified.get(str(record["origin"]).lower(), [])
        print(json.dumps({"zones": records}, indent=2))
        return 0
    print(f"{'zone':<32} {'status':<8} {'serial':>10} {'records':>9} {'version':>8}  "
          f"{'loaded at':<24}  journal")
    for entry in entries:
        loaded = entry.loaded_at
        when = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(loaded)) if loaded else "-"
        status = "disabled" if entry.disabled else entry.status
        depth, size, first, last = journals[entry.origin]
        journal = f"{depth} changes, serials {first}-{last}, {size} bytes" if depth else "-"
        print(f"{entry.origin:<32} {status:<8} {entry.serial:>10} "
              f"{entry.records:>9} {entry.version:>8}  {when:<24}  {journal}")
        if entry.file_serial and entry.file_serial != entry.serial:
            print(f"    serial in the file: {entry.file_serial} (serving {entry.serial})")
        for ack in notified.get(entry.origin.lower(), []):
            when = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(float(str(ack["at"]))))
            print(f"    NOTIFY {ack['address']} port {ack['port']}: acknowledged serial "
                  f"{ack['serial']} at {when}")
        if entry.error:
            print(f"    last error: {entry.error}")
    return 0


def notify_acks(data: str) -> dict[str, list[dict[str, object]]]:
    """What each NOTIFY target last acknowledged, by zone (kept by the server in the data
    directory); nothing when the server has not written it."""
    try:
        with open(os.path.join(data, "notify.json")) as f:
            acks = json.load(f)["acknowledged"]
    except (OSError, ValueError, KeyError):
        return {}
    out: dict[str, list[dict[str, object]]] = {}
    for ack in acks:
        out.setdefault(str(ack["zone"]).lower(), []).append(ack)
    return out


def as_record(entry: ZoneEntry, journal: tuple[int, int, int, int]) -> dict[str, object]:
    """One zone for `status --json` (the fields of JSON_FIELDS)."""
    fields = dataclasses.asdict(entry)
    depth, size, first, last = journal
    fields["journal"] = {"changes": depth, "bytes": size, "from_serial": first,
                         "to_serial": last}
    fields["served"] = bool(entry.version) and not entry.disabled
    fields["loaded_at_iso"] = (time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(entry.loaded_at))
                               if entry.loaded_at else None)
    return {key: fields[key] for key in JSON_FIELDS}


def _journal_summary(store: Store, zone_id: int) -> tuple[int, int, int, int]:
    """(changesets, bytes, first serial, last serial) of a zone's journal; zeros if empty."""
    with store.zones_env.begin() as txn:
        sizes = journal_sizes(txn, zone_id)
        journal = read_journal(txn, zone_id)
    if not journal:
        return 0, 0, 0, 0
    return len(journal), sum(sizes), journal[0].from_serial, journal[-1].to_serial
