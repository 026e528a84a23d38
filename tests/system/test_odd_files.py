"""Odd things in and around the zones directory: FIFOs, sockets, directories named like zone
files, symbolic links, a zones directory that does not exist yet. None hangs or is silent."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import dns.rcode
import dns.rdatatype

from testkit.server import ServerProcess, StartServer
from testkit.zones import write_atomically, write_in_place


def zone_text(origin: str, address: str, serial: int = 1) -> str:
    return (f"$ORIGIN {origin}\n$TTL 300\n@ SOA ns hostmaster {serial} 3600 600 86400 60\n"
            f"@ NS ns\nns A 192.0.2.53\nwww A {address}\n")


def address_of(srv: ServerProcess, name: str) -> str | None:
    r = srv.query(name, "A")
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.A:
            return str(rrset[0])
    return None


def wait_address(srv: ServerProcess, name: str, address: str) -> None:
    srv.wait_until(name, "A", lambda r: any(rr.rdtype == dns.rdatatype.A and
                                            str(rr[0]) == address for rr in r.answer))


def test_fifos_sockets_and_directories_are_skipped_with_one_line_and_never_hang(
        tmp_path: Path, server_factory: StartServer) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "good.test.zone").write_text(zone_text("good.test.", "192.0.2.1"))
    os.mkfifo(zones / "fifo.test.zone")
    (zones / "dir.test.zone").mkdir()
    srv = server_factory(zones)
    srv.wait_served("good.test.")
    # Made while serving: a FIFO and a socket (a writer opening a FIFO would block for ever).
    os.mkfifo(zones / "late-fifo.test.zone")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        unix.bind(str(zones / "sock.test.zone"))
        # Edits to a real zone still go through: no writer is stuck on the odd files.
        write_atomically(str(zones / "good.test.zone"), zone_text("good.test.", "192.0.2.2", 2))
        wait_address(srv, "www.good.test.", "192.0.2.2")
        write_in_place(str(zones / "good.test.zone"), zone_text("good.test.", "192.0.2.3", 3))
        wait_address(srv, "www.good.test.", "192.0.2.3")
        for origin in ("fifo.test.", "late-fifo.test.", "sock.test.", "dir.test."):
            assert srv.query(origin, "SOA").rcode() == dns.rcode.REFUSED
        out = srv.output()
        for name, kind in [("fifo.test.zone", "a FIFO"), ("late-fifo.test.zone", "a FIFO"),
                           ("sock.test.zone", "a socket"), ("dir.test.zone", "a directory")]:
            line = f"{zones.resolve() / name}: {kind}, not a regular file; skipped"
            assert out.count(line) == 1, out
        assert "Traceback" not in out
        started = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(timeout=15)  # raises if shutdown hangs
    assert srv.proc.returncode == 0
    assert time.monotonic() - started < 15


def test_a_zones_directory_created_after_start_is_served(
        tmp_path: Path, server_factory: StartServer) -> None:
    missing = tmp_path / "later"
    srv = server_factory(tmp_path / "zones", extra=["--zones", str(missing)])
    wait_for_log(srv, f"{missing}: the zones directory does not exist")
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "late.test.zone").write_text(zone_text("late.test.", "192.0.2.9"))
    shutil.copytree(staging, missing)
    srv.wait_served("late.test.")
    assert address_of(srv, "www.late.test.") == "192.0.2.9"


def test_symlinked_zone_files_are_served_and_their_targets_followed(
        tmp_path: Path, server_factory: StartServer) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    elsewhere = tmp_path / "srv" / "dns"
    elsewhere.mkdir(parents=True)
    (elsewhere / "abs.db").write_text(zone_text("abs.test.", "192.0.2.10"))
    (elsewhere / "rel.db").write_text(zone_text("rel.test.", "192.0.2.20"))
    (zones / "abs.test.zone").symlink_to(elsewhere / "abs.db")
    (zones / "rel.test.zone").symlink_to(Path("..") / "srv" / "dns" / "rel.db")
    srv = server_factory(zones)
    srv.wait_served("abs.test.")
    srv.wait_served("rel.test.")
    assert address_of(srv, "www.abs.test.") == "192.0.2.10"
    assert address_of(srv, "www.rel.test.") == "192.0.2.20"
    # Edits to the targets, in place and by rename, are followed.
    write_in_place(str(elsewhere / "abs.db"), zone_text("abs.test.", "192.0.2.11", 2))
    wait_address(srv, "www.abs.test.", "192.0.2.11")
    write_atomically(str(elsewhere / "rel.db"), zone_text("rel.test.", "192.0.2.21", 2))
    wait_address(srv, "www.rel.test.", "192.0.2.21")
    # A link made while serving, to a directory not watched before.
    other = tmp_path / "other"
    other.mkdir()
    (other / "new.db").write_text(zone_text("new.test.", "192.0.2.30"))
    (zones / "new.test.zone").symlink_to(other / "new.db")
    srv.wait_served("new.test.")
    write_in_place(str(other / "new.db"), zone_text("new.test.", "192.0.2.31", 2))
    wait_address(srv, "www.new.test.", "192.0.2.31")
    status = subprocess.run(["dnsbackend", "status", "--data", str(srv.data)],
                            capture_output=True, text=True, check=True,
                            env=dict(os.environ, PATH=_venv_path())).stdout
    for origin in ("abs.test.", "rel.test.", "new.test."):
        assert any(line.split()[:2] == [origin, "ok"] for line in status.splitlines()), status
    # The target removed: the link dangles, the zone stops being served, said once.
    (elsewhere / "abs.db").unlink()
    srv.wait_until("abs.test.", "SOA", lambda r: r.rcode() == dns.rcode.REFUSED)
    wait_for_log(srv, f"{zones.resolve() / 'abs.test.zone'}: a dangling symbolic link, not a "
                      "regular file; skipped")


def wait_for_log(srv: ServerProcess, text: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in srv.output():
        assert time.monotonic() < deadline, f"not logged: {text}\n{srv.output()}"
        time.sleep(0.02)


def _venv_path() -> str:
    import sys

    return os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")


def test_an_include_that_did_not_exist_is_watched_until_it_does(
        tmp_path: Path, server_factory: StartServer) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    head = "$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 192.0.2.53\n"
    (zones / "inc.test.zone").write_text(head + "$INCLUDE later.inc\n")
    (zones / "sub.test.zone").write_text(head + "$INCLUDE parts/hosts.inc\n")
    (zones / "fifo-inc.test.zone").write_text(head + "$INCLUDE pipe.inc\n")
    os.mkfifo(zones / "pipe.inc")
    srv = server_factory(zones)
    srv.wait_logged("zone inc.test. rejected: ")
    srv.wait_logged("zone sub.test. rejected: ")
    srv.wait_logged("zone fifo-inc.test. rejected: ")
    assert "not a regular file (a FIFO)" in srv.output()  # refused, never opened to block
    (zones / "later.inc").write_text("www A 192.0.2.40\n")  # the zone file is not touched
    wait_address(srv, "www.inc.test.", "192.0.2.40")
    (zones / "parts").mkdir()  # a directory that did not exist either
    (zones / "parts" / "hosts.inc").write_text("www A 192.0.2.41\n")
    wait_address(srv, "www.sub.test.", "192.0.2.41")
    (zones / "later.inc").write_text("www A 192.0.2.42\n")  # and followed from then on
    wait_address(srv, "www.inc.test.", "192.0.2.42")
