"""`dnsbackend ds ZONE`: the DS records (SHA-256) of a signed zone's keys, for its parent."""

from __future__ import annotations

import struct
import sys

import dns.exception
import dns.name

from .sign.keys import ds_text
from .status import open_store
from .store.database import node_prefix
from .store.format import unpack_history
from .wire.codes import DNSKEY
from .zone.files import origin_key

SEP = 0x0001  # the DNSKEY flag of a key the parent points at (our CSK has it)


def main(data: str, zone: str) -> int:
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
        if entry is None or not entry.version:
            print(f"dnsbackend: zone {origin} is not in the store", file=sys.stderr)
            return 1
        apex = origin_key(origin)
        with store.zones_env.begin() as txn:
            raw = txn.get(node_prefix(entry.zone_id) + apex)
        history = unpack_history(bytes(raw)) if raw is not None else ()
        node = next((n for at, n in history if at <= entry.version), None)
    finally:
        store.close()
    dnskeys = node.get(DNSKEY) if node else None
    if dnskeys is None:
        print(f"dnsbackend: zone {origin} is not signed (set sign = true in its "
              f"[zone.\"{origin}\"] table)", file=sys.stderr)
        return 1
    ttl, rdatas = dnskeys
    for rdata in rdatas:
        if struct.unpack_from("!H", rdata)[0] & SEP:
            print(ds_text(origin, rdata, ttl))
    return 0
