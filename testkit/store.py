"""Zones put in a store through the production write jobs, for in-process tests and benches."""

from __future__ import annotations

import os
from pathlib import Path

from dnsbackend.store.database import Store, open_shared
from dnsbackend.store.snapshot import Reader, Snapshot
from dnsbackend.update.jobs import load_zone_job
from dnsbackend.update.outcome import Action, Outcome


def load_zone(data_dir: str | Path, path: str | Path, origin: str) -> Outcome:
    """Load one zone file as the zone watcher's job does; fail unless it was loaded or kept."""
    path = os.path.realpath(path)
    outcomes, _ = load_zone_job(str(data_dir), os.path.dirname(path), origin, path)
    outcome = outcomes[0]
    if outcome.action not in (Action.LOADED, Action.KEPT):
        raise AssertionError(f"{path}: {outcome.action.value}: {outcome.error}")
    return outcome


def store_with_zones(root: Path, zones: dict[str, str]) -> tuple[Store, Snapshot]:
    """Write zone texts to `root/zones/<origin>zone`, load them into a fresh store under
    `root/db` and take a snapshot."""
    zone_dir = root / "zones"
    zone_dir.mkdir()
    data = root / "db"
    for origin, text in zones.items():
        path = zone_dir / f"{origin}zone"
        path.write_text(text)
        load_zone(data, path, origin)
    store = open_shared(str(data))
    return store, Reader(store).snapshot()
