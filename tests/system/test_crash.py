"""Crashes while a zone is being applied, each at a known point: the store keeps serving the
old version whole, and recovers.

A writer is stopped at a point of the write path by the test-only hook of
dnsbackend/store/testpause.py (parse: the file parsed, no lock taken; write: the changes
made, both locks held, nothing committed; between: the zones database committed, the
catalog not), then killed with SIGKILL. While it is stopped there, the test checks that it
is where it says: the process is stopped, the writer locks it should hold are held and the
others free, and what is committed (nothing, or the new version's data that no catalog
entry points at). After the kill the old version is served whole; the orphan of a kill
between the commits is freed at the next start, the others leave nothing to free.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import dns.message
import lmdb
import pytest

from dnsbackend.query.engine import answer
from dnsbackend.store.database import (
    META_PREFIX,
    NODE_PREFIX,
    RETIRED_PREFIX,
    open_shared,
    read_entries,
    unpack_version,
)
from dnsbackend.store.format import ServedSettings, unpack_history
from dnsbackend.store.snapshot import Reader
from dnsbackend.store.testpause import POINTS
from dnsbackend.update.jobs import load_zone_job, recover_job, sync_policy_job
from dnsbackend.update.policy import ZonePolicy
from testkit.procs import process_tree
from testkit.server import StartServer
from testkit.zones import only_version, versioned_zone, versions_in, write_atomically

ORIGIN = "crash.test."
PADDING = 20_000
SAMPLE = [(ORIGIN, "SOA"), ("www." + ORIGIN, "A"), ("x.child." + ORIGIN, "A"),
          ("host7." + ORIGIN, "A"), (f"host{PADDING - 1}." + ORIGIN, "A"), (ORIGIN, "MX")]
# The writer locks each point holds (LMDB's writer mutex of each environment).
HELD = {"parse": set(), "write": {"catalog", "zones"}, "between": {"catalog"}}


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


def _keys(txn: lmdb.Transaction, prefix: bytes) -> list[tuple[bytes, bytes]]:
    cursor = txn.cursor()
    out = []
    if cursor.set_range(prefix):
        for key, value in cursor:
            if not bytes(key).startswith(prefix):
                break
            out.append((bytes(key), bytes(value)))
    return out


def orphans(data: Path) -> set[int]:
    """Versions in the zones database that no catalog entry or retirement record knows."""
    store = open_shared(str(data))
    with store.catalog_env.begin() as txn:
        known = {entry.version for entry in read_entries(txn).values()}
        known |= {unpack_version(key[len(RETIRED_PREFIX):])
                  for key, _ in _keys(txn, RETIRED_PREFIX)}
    with store.zones_env.begin() as txn:
        stored = {unpack_version(key[len(META_PREFIX):]) for key, _ in _keys(txn, META_PREFIX)}
    return stored - known


def in_histories(data: Path) -> set[int]:
    """Every version some owner's history in the zones database holds an entry of."""
    with open_shared(str(data)).zones_env.begin() as txn:
        return {version for _, raw in _keys(txn, NODE_PREFIX)
                for version, _ in unpack_history(raw)}


PROBE = """
import sys, lmdb
env = lmdb.open(sys.argv[1], map_size=1 << 30, max_readers=1024, create=False)
print("ready", flush=True)
env.begin(write=True).abort()
print("taken", flush=True)
"""


def _read_until(fd: int, buf: bytes, want: bytes, seconds: float) -> bytes:
    deadline = time.monotonic() + seconds
    while want not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 64)
        if not chunk:
            break
        buf += chunk
    return buf


def writer_lock_free(env_dir: Path) -> bool:
    """Whether another process can take the environment's writer lock (within 2 s of
    asking). The probe is killed while it waits, which leaves the lock as it was."""
    probe = subprocess.Popen([sys.executable, "-c", PROBE, str(env_dir)],
                             stdout=subprocess.PIPE)
    try:
        assert probe.stdout is not None
        fd = probe.stdout.fileno()
        buf = _read_until(fd, b"", b"ready\n", 30)
        assert b"ready\n" in buf, "the lock probe did not start"
        return b"taken\n" in _read_until(fd, buf, b"taken\n", 2.0)
    finally:
        probe.kill()
        probe.wait()


def arm(tmp_path: Path, point: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Ask writers started from now on to stop at `point`, once the returned file exists."""
    armed = tmp_path / "pause"
    monkeypatch.setenv("DNSBACKEND_TEST_PAUSE_AT", point)
    monkeypatch.setenv("DNSBACKEND_TEST_PAUSE_FILE", str(armed))
    return armed


def wait_paused(armed: Path, point: str, timeout: float = 60.0) -> int:
    """The pid of the writer that stopped at `point`, once it has."""
    reached = Path(f"{armed}.reached")
    deadline = time.monotonic() + timeout
    while True:
        text = reached.read_text() if reached.exists() else ""
        if text.endswith("\n"):
            said, pid = text.split()
            assert said == point
            return int(pid)
        assert time.monotonic() < deadline, f"no writer reached {point}"
        time.sleep(0.01)


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def assert_stopped_at(point: str, pid: int, data: Path, old: int) -> None:
    """The writer is stopped at `point`: its locks, and what is committed (old: the version
    number the store serves)."""
    deadline = time.monotonic() + 10
    while _state(pid) != "T":  # it writes the file, then stops itself
        assert time.monotonic() < deadline, f"writer {pid} did not stop at {point}"
        time.sleep(0.01)
    held = {name for name in ("catalog", "zones") if not writer_lock_free(data / name)}
    assert held == HELD[point], (point, held)
    assert store_versions(data) == {old}  # the old version answers, whole
    if point == "between":  # the new version's data is committed, pointed at by nothing
        assert len(orphans(data)) == 1
        assert orphans(data) <= in_histories(data)
    else:
        assert orphans(data) == set()


def test_exactly_three_points() -> None:
    assert set(POINTS) == set(HELD)


def _sync(data: Path, zones: Path) -> None:
    sync_policy_job(str(data), ZonePolicy(str(zones.resolve())).pack(), ServedSettings().pack())


@pytest.mark.parametrize("point", POINTS)
def test_writer_killed_at_a_point_leaves_the_old_version_whole(
        point: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    path = zones / f"{ORIGIN}zone"
    path.write_text(versioned_zone(ORIGIN, 1, padding=PADDING))
    data = tmp_path / "db"
    _sync(data, zones)
    assert store_versions(data) == {1}

    armed = arm(tmp_path, point, monkeypatch)
    path.write_text(versioned_zone(ORIGIN, 2, padding=PADDING))
    armed.touch()
    # The zone watcher's job, in a process of its own, as in the server's writers.
    child = multiprocessing.get_context("spawn").Process(
        target=load_zone_job, args=(str(data), str(zones.resolve()), ORIGIN,
                                    str(path.resolve())))
    child.start()
    assert child.pid is not None
    try:
        assert wait_paused(armed, point) == child.pid
        assert_stopped_at(point, child.pid, data, 1)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
    assert child.exitcode == -signal.SIGKILL
    monkeypatch.delenv("DNSBACKEND_TEST_PAUSE_AT")

    assert store_versions(data) == {1}
    orphan = orphans(data)
    freed, _ = recover_job(str(data))  # what a start does first
    if point == "between":
        assert freed == 1
        assert not orphan & in_histories(data)  # taken out of every owner's history
    else:
        assert freed == 0
    assert orphans(data) == set()
    assert store_versions(data) == {1}
    _sync(data, zones)  # the start's reconciliation: the file is read again
    assert store_versions(data) == {2}


@pytest.mark.parametrize("point", POINTS)
def test_server_killed_at_a_point_of_a_reload_restarts_whole_and_converges(
        point: str, server_factory: StartServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    path = zones / f"{ORIGIN}zone"
    path.write_text(versioned_zone(ORIGIN, 1, padding=PADDING))
    armed = arm(tmp_path, point, monkeypatch)  # the server's writers inherit it
    srv = server_factory(zones)
    srv.wait_until(ORIGIN, "SOA", only_version(1), timeout=60)

    armed.touch()
    write_atomically(str(path), versioned_zone(ORIGIN, 2, padding=PADDING))
    pid = wait_paused(armed, point)
    assert pid in process_tree(srv.proc.pid)[1:]  # one of the server's writers
    assert_stopped_at(point, pid, srv.data, 1)
    for name, rdtype in SAMPLE:  # the server answers meanwhile, from the old version
        assert versions_in(srv.query(name, rdtype)) == {1}
    srv.kill_all()
    assert store_versions(srv.data) == {1}

    monkeypatch.delenv("DNSBACKEND_TEST_PAUSE_AT")
    srv = server_factory(zones)
    assert len(versions_in(srv.query(ORIGIN, "SOA"))) == 1
    srv.wait_until(ORIGIN, "SOA", only_version(2), timeout=60)
    for name, rdtype in SAMPLE:
        assert versions_in(srv.query(name, rdtype)) == {2}
    # Recovery runs before the start's reconciliation, which loaded version 2: its line, if
    # any, is logged by now.
    freed = [line for line in srv.output().splitlines() if "left by an unclean stop" in line]
    if point == "between":
        assert len(freed) == 1 and "freed 1 zone versions" in freed[0], freed
    else:
        assert freed == []
    assert orphans(srv.data) == set()
