"""The serial policy: a changed zone whose SOA serial did not go up (RFC 1982 arithmetic) is
served with the next serial ("auto", the default) or rejected ("strict"); a serial ahead is
served as it is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dnsbackend.store.database import open_shared
from dnsbackend.store.format import STATUS_ERROR
from dnsbackend.update.jobs import load_zone_job, next_serial, serial_gt
from dnsbackend.update.outcome import Action, Outcome
from dnsbackend.update.policy import SERIAL_STRICT, ZonePolicy

ORIGIN = "serial.test."


def zone_text(serial: int, address: str) -> str:
    return (f"$TTL 300\n@ SOA ns hostmaster {serial} 3600 600 86400 60\n@ NS ns\n"
            f"ns A 192.0.2.53\nwww A {address}\n")


@pytest.mark.parametrize(("a", "b", "greater"), [
    (2, 1, True), (1, 2, False), (1, 1, False),
    (0, 0xFFFFFFFF, True),  # wraps around: 4294967295 + 1 is 0
    (5, 0xFFFFFFF0, True), (0xFFFFFFF0, 5, False),
    (0x80000000, 0, False), (0, 0x80000000, False),  # 2^31 apart: undefined, not greater
    (0x7FFFFFFF, 0, True),
])
def test_serial_arithmetic(a: int, b: int, greater: bool) -> None:
    assert serial_gt(a, b) is greater


def test_the_next_serial_wraps() -> None:
    assert next_serial(7) == 8
    assert next_serial(0xFFFFFFFF) == 0


class Zone:
    """One zone file, loaded through the zone watcher's job under a given policy."""

    def __init__(self, tmp_path: Path, serial_policy: str | None = None) -> None:
        self.zones = tmp_path / "zones"
        self.zones.mkdir()
        self.path = self.zones / f"{ORIGIN}zone"
        self.data = str(tmp_path / "db")
        self.policy = ZonePolicy(os.path.realpath(self.zones))
        if serial_policy:
            self.policy.serial = serial_policy

    def load(self, serial: int, address: str) -> Outcome:
        from dnsbackend.store.database import POLICY_KEY
        from dnsbackend.store.transaction import Transaction

        with Transaction(open_shared(self.data)) as txn:
            txn.set_catalog_value(POLICY_KEY, self.policy.pack())
        self.path.write_text(zone_text(serial, address))
        [outcome], _ = load_zone_job(self.data, self.policy.zones_dir, ORIGIN, str(self.path))
        return outcome

    def served_serial(self) -> int:
        return open_shared(self.data).entries()[b"\x06serial\x04test\x00"].serial

    def close(self) -> None:
        open_shared(self.data).close()


@pytest.mark.parametrize(("old", "new", "served"), [
    (10, 10, 11), (10, 5, 11), (3, 0xFFFFFFFF, 4), (0xFFFFFFFF, 0xFFFFFFFF, 0),
])
def test_auto_serves_the_next_serial(tmp_path: Path, old: int, new: int, served: int) -> None:
    zone = Zone(tmp_path)
    try:
        first = zone.load(old, "192.0.2.1")
        assert first.action is Action.LOADED and first.warnings == []
        second = zone.load(new, "192.0.2.2")
        assert second.action is Action.LOADED and second.serial == served
        assert second.warnings == [
            f"{zone.path}: SOA serial {new} is not above the served {old}; serving {served} "
            "(serial policy auto)"]
        assert zone.served_serial() == served
        # Remembered: the file unchanged in serial again, the next edit goes on from there.
        third = zone.load(new, "192.0.2.3")
        assert third.serial == next_serial(served)
    finally:
        zone.close()


def test_a_serial_ahead_is_served_as_it_is(tmp_path: Path) -> None:
    zone = Zone(tmp_path)
    try:
        zone.load(10, "192.0.2.1")
        zone.load(10, "192.0.2.2")  # served as 11
        ahead = zone.load(50, "192.0.2.3")
        assert (ahead.serial, ahead.warnings) == (50, [])
        across = zone.load(2, "192.0.2.4")  # 50 -> 2 is down: served as 51
        assert across.serial == 51
    finally:
        zone.close()


def test_strict_rejects_a_change_without_a_higher_serial(tmp_path: Path) -> None:
    zone = Zone(tmp_path, SERIAL_STRICT)
    try:
        first = zone.load(10, "192.0.2.1")
        refused = zone.load(10, "192.0.2.2")
        assert refused.action is Action.FAILED
        assert refused.error == (f"{zone.path}: SOA serial 10 is not above the served 10; "
                                 "raise it (serial policy strict)")
        assert (refused.serial, refused.version) == (10, first.version)
        entry = open_shared(zone.data).entries()[b"\x06serial\x04test\x00"]
        assert (entry.status, entry.version, entry.error) == (STATUS_ERROR, first.version,
                                                              refused.error)
        raised = zone.load(11, "192.0.2.2")
        assert raised.action is Action.LOADED and raised.serial == 11
    finally:
        zone.close()


def test_a_change_of_comments_only_is_no_new_version(tmp_path: Path) -> None:
    zone = Zone(tmp_path)
    try:
        first = zone.load(10, "192.0.2.1")
        zone.path.write_text("; a comment\n" + zone_text(10, "192.0.2.1"))
        [same], _ = load_zone_job(zone.data, zone.policy.zones_dir, ORIGIN, str(zone.path))
        assert same.action is Action.KEPT and same.version == first.version
        assert zone.served_serial() == 10
    finally:
        zone.close()
