"""The journal and the serial policy through the real server: changes kept across restarts and
edits made while it was down, shown by `status` and `changes`; strict refuses, auto counts on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dns.rdatatype

from testkit.server import ServerProcess, StartServer, serve_one_zone

ORIGIN = "journal.test."


def zone_text(serial: int, address: str) -> str:
    return (f"$ORIGIN {ORIGIN}\n$TTL 300\n@ SOA ns hostmaster {serial} 3600 600 86400 60\n"
            f"@ NS ns\nns A 192.0.2.53\nwww A {address}\n")


def dnsbackend(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dnsbackend", *args], capture_output=True,
                          text=True, timeout=60)


def serial(srv: ServerProcess) -> int:
    r = srv.query(ORIGIN, "SOA")
    return int(r.answer[0][0].serial)


def wait_www(srv: ServerProcess, address: str) -> None:
    srv.wait_until("www." + ORIGIN, "A", lambda r: any(
        rr.rdtype == dns.rdatatype.A and str(rr[0]) == address for rr in r.answer))


def journal(data: Path) -> dict[str, int]:
    proc = dnsbackend("status", "--data", str(data), "--json")
    assert proc.returncode == 0, proc.stderr
    [zone] = [z for z in json.loads(proc.stdout)["zones"] if z["origin"] == ORIGIN]
    kept: dict[str, int] = zone["journal"]
    return kept


def test_the_journal_lives_across_restarts_and_edits_made_while_down(
        tmp_path: Path, server_factory: StartServer) -> None:
    srv, path = serve_one_zone(server_factory, tmp_path, ORIGIN, zone_text(1, "192.0.2.1"))
    zones = path.parent
    path.write_text(zone_text(2, "192.0.2.2"))
    wait_www(srv, "192.0.2.2")
    path.write_text(zone_text(2, "192.0.2.3"))  # the serial not raised: served as 3
    wait_www(srv, "192.0.2.3")
    assert serial(srv) == 3
    srv.wait_logged("SOA serial 2 is not above the served 2; serving 3 (serial policy auto)")
    srv.stop()
    path.write_text(zone_text(2, "192.0.2.4"))  # while down, still serial 2 in the file
    again = server_factory(zones)
    wait_www(again, "192.0.2.4")
    assert serial(again) == 4  # the served serial was remembered
    kept = journal(again.data)
    assert (kept["changes"], kept["from_serial"], kept["to_serial"]) == (3, 1, 4)
    assert kept["bytes"] > 0
    shown = dnsbackend("changes", ORIGIN, "--data", str(again.data))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "; serial 1 -> 2"
    assert f"-www.{ORIGIN} 300 IN A 192.0.2.1" in lines
    assert f"+www.{ORIGIN} 300 IN A 192.0.2.2" in lines
    assert any(line.startswith(f"+{ORIGIN} 300 IN SOA ns.{ORIGIN} hostmaster.{ORIGIN} 4 ")
               for line in lines)
    later = dnsbackend("changes", ORIGIN, "--data", str(again.data), "--from", "3")
    assert later.stdout.splitlines()[0] == "; serial 3 -> 4"
    missing = dnsbackend("changes", ORIGIN, "--data", str(again.data), "--from", "9")
    assert missing.returncode == 1 and "no change from serial 9" in missing.stderr
    table = dnsbackend("status", "--data", str(again.data)).stdout
    assert "3 changes, serials 1-4" in table
    assert "serial in the file: 2 (serving 4)" in table


def test_strict_serials_reject_an_edit_that_does_not_raise_it(
        tmp_path: Path, server_factory: StartServer) -> None:
    path = tmp_path / "zones" / f"{ORIGIN}zone"
    srv, _ = serve_one_zone(server_factory, tmp_path, ORIGIN, zone_text(5, "192.0.2.1"),
                            f'[zone."{ORIGIN}"]\nserial = "strict"\nfile = "{path}"\n')
    path.write_text(zone_text(5, "192.0.2.2"))
    srv.wait_logged(f"zone {ORIGIN} rejected: {path.resolve()}: SOA serial 5 is not above the "
                    "served 5; raise it (serial policy strict); still serving serial 5")
    wait_www(srv, "192.0.2.1")
    status = dnsbackend("status", "--data", str(srv.data)).stdout
    assert "raise it (serial policy strict)" in status
    path.write_text(zone_text(6, "192.0.2.2"))
    wait_www(srv, "192.0.2.2")
    assert serial(srv) == 6
