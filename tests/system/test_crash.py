"""Crashes while a zone is being applied: the store serves the old or the new version whole."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import dns.message
import dns.name
import pytest

from dnsbackend.query.engine import answer
from dnsbackend.store.database import Store, open_shared
from dnsbackend.store.format import ServedSettings, ZoneEntry
from dnsbackend.store.snapshot import Reader
from dnsbackend.store.transaction import Transaction
from dnsbackend.update.jobs import recover_job, sync_policy_job
from dnsbackend.update.policy import ZonePolicy
from dnsbackend.zone.build import build_zone
from testkit.server import StartServer
from testkit.zones import only_version, versioned_zone, versions_in, write_atomically

ORIGIN = "crash.test."
PADDING = 20_000
SAMPLE = [(ORIGIN, "SOA"), ("www." + ORIGIN, "A"), ("x.child." + ORIGIN, "A"),
          ("host7." + ORIGIN, "A"), (f"host{PADDING - 1}." + ORIGIN, "A"), (ORIGIN, "MX")]


def store_versions(data: Path) -> set[int]:
    """Every version number the store's current snapshot answers with, for the sample."""
    snapshot = Reader(open_shared(str(data))).snapshot()
    found: set[int] = set()
    for name, rdtype in SAMPLE:
        q = dns.message.make_query(name, rdtype, use_edns=False)
        raw = answer(q.to_wire(), snapshot)
        assert raw is not None
        found |= versions_in(dns.message.from_wire(raw))
    return found


def _die_while_applying(data: str, zone_path: str, stage: str) -> None:
    """In a child process: apply a zone and SIGKILL ourselves at `stage` of the commit."""
    store = Store(data)
    built = build_zone(zone_path, dns.name.from_text(ORIGIN), os.path.dirname(zone_path))
    txn = Transaction(store).begin()
    txn.put_zone(built.contents, ZoneEntry(ORIGIN, file=zone_path, hash=built.digest))
    if stage == "between-commits":
        zones_txn = txn._zones
        assert zones_txn is not None
        zones_txn.commit()  # zone data durable, catalog not yet
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("stage", ["before-commit", "between-commits"])
def test_killed_writer_leaves_the_old_version_whole(stage: str, tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    path = zones / f"{ORIGIN}zone"
    path.write_text(versioned_zone(ORIGIN, 1, padding=PADDING))
    data = tmp_path / "db"
    policy = ZonePolicy(str(zones.resolve()))
    sync_policy_job(str(data), policy.pack(), ServedSettings().pack())
    assert store_versions(data) == {1}

    path.write_text(versioned_zone(ORIGIN, 2, padding=PADDING))
    child = multiprocessing.get_context("spawn").Process(
        target=_die_while_applying, args=(str(data), str(path), stage))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    assert store_versions(data) == {1}

    freed, _ = recover_job(str(data))
    assert freed == (1 if stage == "between-commits" else 0)
    sync_policy_job(str(data), policy.pack(), ServedSettings().pack())
    assert store_versions(data) == {2}


def test_server_killed_mid_reload_restarts_whole_and_converges(server_factory: StartServer,
                                                               tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    path = zones / f"{ORIGIN}zone"
    path.write_text(versioned_zone(ORIGIN, 1, padding=PADDING))
    srv = server_factory(zones)
    srv.wait_until(ORIGIN, "SOA", lambda r: versions_in(r) == {1}, timeout=60)
    n = 1
    # Kill at several points of the reload: during the parse, the write, the commit.
    for delay in (0.05, 0.2, 0.4, 0.8):
        n += 1
        write_atomically(str(path), versioned_zone(ORIGIN, n, padding=PADDING))
        srv.wait_until(ORIGIN, "SOA", lambda r: True, timeout=5)  # serving meanwhile
        time.sleep(delay)
        srv.kill_all()
        found = store_versions(srv.data)
        assert len(found) == 1 and found <= {n - 1, n}, (delay, found)
        srv = server_factory(zones)
        first = srv.query(ORIGIN, "SOA")
        assert len(versions_in(first)) == 1
        srv.wait_until(ORIGIN, "SOA", only_version(n), timeout=60)
        for name, rdtype in SAMPLE:
            assert versions_in(srv.query(name, rdtype)) == {n}
