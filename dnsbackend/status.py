"""`dnsbackend status`: the zones in the store as a table, read while the server runs."""

from __future__ import annotations

import os
import sys
import time

from .store.database import Store, StoreError


def main(data: str) -> int:
    if not os.path.isdir(os.path.join(data, "catalog")):
        print(f"dnsbackend: no store in {data}", file=sys.stderr)
        return 1
    try:
        store = Store(data)
    except StoreError as exc:
        print(f"dnsbackend: {exc}", file=sys.stderr)
        return 1
    entries = store.entries()
    print(f"{'zone':<32} {'status':<8} {'serial':>10} {'records':>9} {'version':>8}  loaded at")
    for entry in sorted(entries.values(), key=lambda e: e.origin):
        loaded = entry.loaded_at
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(loaded)) if loaded else "-"
        status = "disabled" if entry.disabled else entry.status
        print(f"{entry.origin:<32} {status:<8} {entry.serial:>10} "
              f"{entry.records:>9} {entry.version:>8}  {when}")
        if entry.error:
            print(f"    last error: {entry.error}")
    store.close()
    return 0
