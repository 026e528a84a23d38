"""The writers' warm read at start runs at SCHED_IDLE (update.background) and never holds up
an edit: the writer is lifted when an edit of its zone comes, edits run at SCHED_OTHER, and
a child a lowered writer forks is lowered and lifted with it."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dns.rdatatype
import pytest

from dnsbackend.update import background
from testkit.procs import children_map, process_tree
from testkit.server import ServerProcess, StartServer
from testkit.zones import generate, write_atomically

from .test_crash import arm, wait_paused

ORIGIN = "big.test."
RECORDS = 20_000  # above jobs.WARM_RECORDS: read at start


def policies(pid: int) -> set[int]:
    """The scheduling policy of each thread of a process."""
    return {os.sched_getscheduler(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}


def eventually(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def writers(srv: ServerProcess) -> list[int]:
    """The server's writer processes (the children of its fork server)."""
    kids = children_map()
    return [pid for server in kids.get(srv.proc.pid, []) for pid in kids.get(server, [])]


def _addresses(srv: ServerProcess, name: str) -> set[str]:
    return {r.to_text() for rrset in srv.query(name, "A").answer
            if rrset.rdtype == dns.rdatatype.A for r in rrset}


def _edit(path: Path, serial: int, host: str, address: str) -> None:
    text = re.sub(r"\t\t\d+ ; serial", f"\t\t{serial} ; serial", path.read_text(), count=1)
    text = re.sub(rf"^{host}\tIN\tA\t[0-9.]+$", f"{host}\tIN\tA\t{address}", text,
                  count=1, flags=re.M)
    write_atomically(str(path), text)


def test_the_warm_read_is_idle_an_edit_lifts_it_and_edits_run_as_usual(
        server_factory: StartServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    path = zones / f"{ORIGIN}zone"
    generate(str(path), ORIGIN, RECORDS)
    host = re.findall(r"^([a-z]+\d+)\tIN\tA\t10\.", path.read_text(), flags=re.M)[100]
    first = server_factory(zones)
    first.wait_served(ORIGIN)
    first.stop()

    armed = arm(tmp_path, "parse", monkeypatch)  # the writers inherit it from the server
    armed.touch()
    srv = server_factory(zones)
    srv.wait_served(ORIGIN)  # from the store, at once
    pid = wait_paused(armed, "parse")  # the warm read: the file unchanged, read for its memo
    assert pid in writers(srv)
    lowered = background.can_lift()  # root, CAP_SYS_NICE or RLIMIT_NICE >= 20, as we are
    try:
        assert policies(pid) == ({os.SCHED_IDLE} if lowered else {os.SCHED_OTHER})
        for other in set(writers(srv)) - {pid}:  # the other zone writer, the catalog writer
            assert policies(other) == {os.SCHED_OTHER}
        # An edit of the zone whose warm read is under way lifts its writer at once (the
        # writer is still stopped: nothing but the serving process can have done it).
        _edit(path, 2026112602, host, "11.1.1.1")
        eventually(lambda: policies(pid) == {os.SCHED_OTHER}, "the writer was not lifted")
    finally:
        os.kill(pid, signal.SIGCONT)
    srv.wait_until(f"{host}.{ORIGIN}", "A", lambda r: "11.1.1.1" in str(r))
    assert "11.1.1.1" in _addresses(srv, f"{host}.{ORIGIN}")
    assert policies(pid) == {os.SCHED_OTHER}

    # A later edit, stopped in its read: at SCHED_OTHER.
    Path(f"{armed}.reached").unlink()
    armed.touch()
    _edit(path, 2026112603, host, "12.2.2.2")
    edit_pid = wait_paused(armed, "parse")
    try:
        assert policies(edit_pid) == {os.SCHED_OTHER}
    finally:
        os.kill(edit_pid, signal.SIGCONT)
    srv.wait_until(f"{host}.{ORIGIN}", "A", lambda r: "12.2.2.2" in str(r))
    assert "Traceback" not in srv.output()


def _fork_a_sleeper() -> int:
    """In the writer: fork a child that sleeps (as zone.split forks its reader); its pid."""
    child = os.fork()
    if child == 0:
        time.sleep(60)
        os._exit(0)
    return child


def test_a_child_forked_while_lowered_is_lowered_and_lifted_with_its_writer() -> None:
    pool = ProcessPoolExecutor(max_workers=1)
    child = 0
    try:
        pid = pool.submit(os.getpid).result()
        assert background.writer_pid(pool) == pid
        lowered = background.lower(pool)
        if not background.can_lift():  # then nothing is lowered, never to be brought back
            assert lowered is None
            assert policies(pid) == {os.SCHED_OTHER}
            return
        assert lowered is not None
        assert policies(pid) == {os.SCHED_IDLE}
        child = pool.submit(_fork_a_sleeper).result()
        assert child in process_tree(pid)
        assert policies(child) == {os.SCHED_IDLE}  # inherited at the fork
        background.lift(lowered)
        assert policies(pid) == {os.SCHED_OTHER}
        assert policies(child) == {os.SCHED_OTHER}
    finally:
        if child:
            os.kill(child, signal.SIGKILL)
        pool.shutdown()


def test_nothing_is_lowered_where_it_could_not_be_lifted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An unprivileged server (RLIMIT_NICE below 20, no CAP_SYS_NICE) could lower a writer
    but never bring it back: the warm read then runs as it always did."""
    pool = ProcessPoolExecutor(max_workers=1)
    try:
        pid = pool.submit(os.getpid).result()
        monkeypatch.setattr(background, "_LIFTABLE", False)
        assert background.lower(pool) is None
        assert policies(pid) == {os.SCHED_OTHER}
    finally:
        pool.shutdown()
