"""The write jobs' decisions inside their transaction: loaded, kept, failed, ignored, superseded."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dns.name

from dnsbackend.store.database import open_shared
from dnsbackend.store.format import STATUS_ERROR, STATUS_OK, ZoneEntry
from dnsbackend.store.transaction import Transaction
from dnsbackend.update.jobs import Parsed, apply_parsed, load_zone_job, needs_load, parse_zone
from dnsbackend.update.outcome import Action, Outcome
from dnsbackend.update.policy import WantedZone, ZonePolicy
from dnsbackend.zone.files import origin_key

ORIGIN = "jobs.test."
KEY = origin_key(dns.name.from_text(ORIGIN))


def zone_text(serial: int, address: str = "192.0.2.1") -> str:
    return (f"$TTL 300\n@ SOA ns hostmaster {serial} 3600 600 86400 60\n@ NS ns\n"
            f"ns A 192.0.2.53\nwww A {address}\n")


def _setup(tmp_path: Path) -> tuple[str, Path, ZonePolicy, WantedZone]:
    zones = tmp_path / "zones"
    zones.mkdir()
    path = zones / f"{ORIGIN}zone"
    return (str(tmp_path / "db"), path, ZonePolicy(os.path.realpath(zones)),
            WantedZone(ORIGIN, os.path.realpath(path)))


def _rewrite(path: Path, text: str) -> None:
    """A new version of the file with a later ctime than the last (the clock is coarse)."""
    before = os.stat(path).st_ctime_ns if path.exists() else 0
    while True:
        path.write_text(text)
        if os.stat(path).st_ctime_ns > before:
            return
        time.sleep(0.005)


def _in_turn(data: str, policy: ZonePolicy, wanted: WantedZone,
             reads: list[Parsed]) -> tuple[list[Outcome], ZoneEntry]:
    """Each read applied in its own transaction, in this order: outcomes, final entry."""
    store = open_shared(data)
    try:
        outcomes = []
        for parsed in reads:
            with Transaction(store) as txn:
                outcomes.append(apply_parsed(txn, policy, KEY, wanted, parsed))
        return outcomes, store.entries()[KEY]
    finally:
        store.close()


def test_an_older_read_applied_after_a_newer_one_is_superseded(tmp_path: Path) -> None:
    data, path, policy, wanted = _setup(tmp_path)
    _rewrite(path, zone_text(1))
    older = parse_zone(wanted, policy.zones_dir)
    _rewrite(path, zone_text(2))
    newer = parse_zone(wanted, policy.zones_dir)
    (first, late), entry = _in_turn(data, policy, wanted, [newer, older])
    assert first.action is Action.LOADED and first.serial == 2
    assert late.action is Action.SUPERSEDED
    assert (entry.serial, entry.version, entry.status) == (2, first.version, STATUS_OK)


def test_an_older_read_with_the_same_file_time_is_superseded(tmp_path: Path) -> None:
    """Two saves within one tick of the kernel's coarse file clock have the same ctime: the
    older read, committed after the newer one (the policy sync and the zone watcher read
    the same file at once), must not be served as the newer, under a serial the serial
    policy raised (a version no file ever held)."""
    data, path, policy, wanted = _setup(tmp_path)
    _rewrite(path, zone_text(1))
    older = parse_zone(wanted, policy.zones_dir)
    moved = path.with_name(".save")
    moved.write_text(zone_text(2, "192.0.2.2"))
    os.replace(moved, path)  # as editors save: a new inode
    newer = parse_zone(wanted, policy.zones_dir)
    assert older.stamp is not None and newer.stamp is not None
    older.stamp = (newer.stamp[0], *older.stamp[1:])  # the same tick of the coarse clock
    (first, late), entry = _in_turn(data, policy, wanted, [newer, older])
    assert first.action is Action.LOADED and first.serial == 2
    assert late.action is Action.SUPERSEDED
    assert (entry.serial, entry.version) == (2, first.version)


def test_a_read_of_the_file_as_it_still_is_applies_at_the_same_file_time(
        tmp_path: Path) -> None:
    """The same ctime as the served version's but the file unchanged since the read: that
    read is the newest, applied (a zone with nothing served yet takes any read)."""
    data, path, policy, wanted = _setup(tmp_path)
    _rewrite(path, zone_text(1))
    older = parse_zone(wanted, policy.zones_dir)
    _rewrite(path, zone_text(2, "192.0.2.2"))
    newer = parse_zone(wanted, policy.zones_dir)
    assert older.stamp is not None and newer.stamp is not None
    older.stamp = (newer.stamp[0], *older.stamp[1:])
    (first, late), entry = _in_turn(data, policy, wanted, [older, newer])
    assert first.action is Action.LOADED and first.serial == 1
    assert late.action is Action.LOADED and late.serial == 2
    assert entry.serial == 2


def test_a_zone_the_policy_does_not_want_is_ignored(tmp_path: Path) -> None:
    data, path, policy, wanted = _setup(tmp_path)
    _rewrite(path, zone_text(1))
    parsed = parse_zone(wanted, policy.zones_dir)
    store = open_shared(data)
    try:
        with Transaction(store) as txn:
            outcome = apply_parsed(txn, ZonePolicy(policy.zones_dir, discover=False), KEY,
                                   wanted, parsed)
        assert outcome.action is Action.IGNORED
        assert store.entries() == {}
    finally:
        store.close()


def test_a_rejected_file_keeps_the_last_version_and_is_not_read_again(tmp_path: Path) -> None:
    data, path, policy, wanted = _setup(tmp_path)
    _rewrite(path, zone_text(7))
    [loaded], _ = load_zone_job(data, policy.zones_dir, ORIGIN, str(path))
    assert loaded.action is Action.LOADED
    _rewrite(path, zone_text(8, address="192.0.2.300"))
    [failed], _ = load_zone_job(data, policy.zones_dir, ORIGIN, str(path))
    assert failed.action is Action.FAILED
    assert failed.error.startswith(f"{wanted.file}:5: ")
    assert (failed.serial, failed.version) == (7, loaded.version)
    store = open_shared(data)
    try:
        entry = store.entries()[KEY]
        assert (entry.status, entry.version, entry.serial) == (STATUS_ERROR, loaded.version, 7)
        assert entry.error == failed.error
        assert not needs_load(entry, wanted.file)  # the same broken content: nothing new
        _rewrite(path, zone_text(9))
        assert needs_load(store.entries()[KEY], wanted.file)
    finally:
        store.close()


def test_an_unchanged_file_is_kept(tmp_path: Path) -> None:
    data, path, policy, _ = _setup(tmp_path)
    _rewrite(path, zone_text(3))
    [loaded], _ = load_zone_job(data, policy.zones_dir, ORIGIN, str(path))
    [kept], _ = load_zone_job(data, policy.zones_dir, ORIGIN, str(path))
    assert (loaded.action, kept.action) == (Action.LOADED, Action.KEPT)
    assert kept.serial == 3
    open_shared(data).close()
