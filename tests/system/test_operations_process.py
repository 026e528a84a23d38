"""The server process as an operator runs it: signals (SIGTERM, SIGINT, SIGHUP), systemd's
readiness protocol, the metrics endpoint and the query log."""

from __future__ import annotations

import mmap
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dns.rcode
import pytest

from testkit.procs import process_tree
from testkit.server import ServerProcess, StartServer

ZONE = ("$TTL 300\n@ SOA ns hostmaster 7 3600 600 86400 60\n@ NS ns\nns A 192.0.2.53\n"
        "www A 192.0.2.1\n")


def serial(srv: ServerProcess, origin: str) -> int:
    return int(srv.query(origin, "SOA").answer[0][0].serial)


def edit_unseen(path: Path, old: bytes, new: bytes) -> None:
    """Change bytes of a file in place through a shared mapping: inotify reports no change
    made this way (as with edits on some network file systems), so the watchers miss it."""
    assert len(old) == len(new)
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0) as mapped:
        at = mapped.find(old)
        assert at >= 0
        mapped[at:at + len(old)] = new
        mapped.flush()


def exit_code(srv: ServerProcess) -> int:
    return srv.proc.wait(30)


def pids_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
        except OSError:
            pass
    return alive


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_every_process_cleanly(tmp_path: Path, server_factory: StartServer,
                                                   sig: signal.Signals) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "one.test.zone").write_text(ZONE)
    srv = server_factory(zones, extra=["--workers", "2"])
    srv.wait_served("one.test.")
    srv.wait_logged("zone one.test. loaded")
    tree = process_tree(srv.proc.pid)
    assert len(tree) >= 4  # the server, its worker, its writers (and their helpers)
    if sig is signal.SIGINT:
        os.killpg(srv.proc.pid, sig)  # as Ctrl-C in a terminal: to the whole group
    else:
        srv.proc.send_signal(sig)  # as systemd's KillMode=mixed: to the server alone
    assert exit_code(srv) == 0, srv.output()
    out = srv.output()
    assert out.count("stopping") == 1 and f"stopping ({sig.name})" in out, out
    assert not [line for line in out.splitlines()
                if " WARNING " in line or " ERROR " in line or "Traceback" in line], out
    assert pids_alive(tree) == []


def test_sighup_reads_every_zone_file_and_the_settings_now(tmp_path: Path,
                                                           server_factory: StartServer) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "one.test.zone").write_text(ZONE)
    (zones / "two.test.zone").write_text(ZONE)
    config = tmp_path / "dnsbackend.toml"
    config.write_text('[zone."two.test"]\nenabled = true \n')
    srv = server_factory(zones, config=config)
    srv.wait_served("one.test.")
    srv.wait_served("two.test.")
    edit_unseen(zones / "one.test.zone", b" 7 3600", b" 8 3600")
    edit_unseen(config, b"true ", b"false")
    srv.proc.send_signal(signal.SIGHUP)
    said = "SIGHUP: re-read the settings; re-reading 1 zone file\n"  # two.test. is disabled
    srv.wait_logged(said)
    srv.wait_logged("zone one.test. loaded: serial 8")
    assert serial(srv, "one.test.") == 8
    srv.wait_until("two.test.", "SOA", lambda r: r.rcode() == dns.rcode.REFUSED)
    loaded = srv.output().count(" loaded: ")
    srv.proc.send_signal(signal.SIGHUP)  # nothing changed since: nothing loaded again
    wait_for_count(srv, said, 2)
    assert serial(srv, "one.test.") == 8
    srv.stop()
    assert srv.output().count(" loaded: ") == loaded


def wait_for_count(srv: ServerProcess, text: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while srv.output().count(text) < count:
        assert time.monotonic() < deadline, srv.output()
        time.sleep(0.02)


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A socket in the abstract namespace where the server sends its sd_notify states."""
    name = f"@dnsbackend-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:])
    sock.settimeout(30)
    monkeypatch.setenv("NOTIFY_SOCKET", name)
    yield sock
    sock.close()


def test_systemd_hears_ready_reloading_and_stopping(tmp_path: Path, server_factory: StartServer,
                                                    notify_socket: socket.socket) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "one.test.zone").write_text(ZONE)
    srv = server_factory(zones)
    ready = notify_socket.recv(4096).decode().split("\n")
    assert ready == ["READY=1", f"STATUS=serving on port {srv.port}"]
    srv.wait_served("one.test.")  # READY=1 comes once the zones are reconciled
    srv.proc.send_signal(signal.SIGHUP)
    reloading = notify_socket.recv(4096).decode().split("\n")
    assert reloading[0] == "RELOADING=1" and reloading[1].startswith("MONOTONIC_USEC=")
    assert notify_socket.recv(4096) == b"READY=1"
    srv.proc.send_signal(signal.SIGTERM)
    assert notify_socket.recv(4096) == b"STOPPING=1"
    assert exit_code(srv) == 0
