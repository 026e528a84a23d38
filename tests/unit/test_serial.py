"""A reload whose SOA serial did not go up (RFC 1982 arithmetic) is applied with a warning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dnsbackend.store.database import open_shared
from dnsbackend.update.jobs import load_zone_job, serial_gt, serial_warnings
from dnsbackend.update.outcome import Action

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


def test_no_warning_when_the_serial_goes_up_even_across_the_wrap() -> None:
    assert serial_warnings("z", 0xFFFFFFFF, 3) == []
    assert serial_warnings("z", 7, 8) == []


@pytest.mark.parametrize(("old", "new", "words"), [
    (10, 10, "SOA serial 10 was not raised"),
    (10, 5, "SOA serial went down from 10 to 5"),
    (3, 0xFFFFFFFF, "SOA serial went down from 3 to 4294967295"),
])
def test_a_reload_without_a_higher_serial_warns(tmp_path: Path, old: int, new: int,
                                                 words: str) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    path = zones / f"{ORIGIN}zone"
    path.write_text(zone_text(old, "192.0.2.1"))
    data = str(tmp_path / "db")
    [first], _ = load_zone_job(data, os.path.realpath(zones), ORIGIN, str(path))
    assert first.action is Action.LOADED and first.warnings == []
    path.write_text(zone_text(new, "192.0.2.2"))
    [second], _ = load_zone_job(data, os.path.realpath(zones), ORIGIN, str(path))
    assert second.action is Action.LOADED and second.serial == new
    assert len(second.warnings) == 1 and words in second.warnings[0]
    open_shared(data).close()
