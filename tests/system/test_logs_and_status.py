"""What an operator reads: log lines with zoned ISO 8601 times, to stderr or a log file that
can change live, and `status` as a table or JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from testkit.server import ServerProcess, StartServer

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d "
                  r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) \S")
ZONE = ("$TTL 300\n@ SOA ns hostmaster 7 3600 600 86400 60\n@ NS ns\nns A 192.0.2.53\n"
        "www A 192.0.2.1\n")


def dnsbackend(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dnsbackend", *args], capture_output=True,
                          text=True, timeout=60)


def wait_for(path: Path, text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        assert time.monotonic() < deadline, f"{text!r} not in {path}:\n{content}"
        time.sleep(0.02)


def test_log_lines_carry_a_zoned_time_and_say_one_zone(tmp_path: Path,
                                                       server_factory: StartServer) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "one.test.zone").write_text(ZONE)
    first = server_factory(zones)
    first.wait_served("one.test.")
    first.stop()
    again = server_factory(zones)  # the same store: one zone held from the start
    again.wait_served("one.test.")
    out = again.output()
    assert "serving 1 zone from the store" in out, out
    lines = [line for line in out.splitlines() if line]
    assert lines and all(LINE.match(line) for line in lines), out


def test_log_file_setting_and_its_live_change(tmp_path: Path,
                                              server_factory: StartServer) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "one.test.zone").write_text(ZONE)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    config = tmp_path / "dnsbackend.toml"
    config.write_text(f'log_file = "{first_log}"\n')
    srv = server_factory(zones, config=config)
    srv.wait_served("one.test.")
    text = wait_for(first_log, "zone one.test. loaded: serial 7")
    assert all(LINE.match(line) for line in text.splitlines() if line), text
    assert "loaded" not in srv.output()  # not on stderr as well
    config.write_text(f'log_file = "{second_log}"\n')
    wait_for(first_log, f"logging to {second_log} from now on")
    wait_for(second_log, f"logging here from now on (was {first_log})")
    (zones / "one.test.zone").write_text(ZONE.replace(" 7 3600", " 8 3600"))
    wait_for(second_log, "zone one.test. loaded: serial 8")
    assert "serial 8" not in first_log.read_text()


def test_an_unwritable_log_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "dnsbackend.toml"
    config.write_text(f'log_file = "{tmp_path / "no" / "such" / "dir.log"}"\n')
    proc = dnsbackend("serve", "--config", str(config), "--zones", str(tmp_path),
                      "--data", str(tmp_path / "db"), "--port", "0", "--listen", "127.0.0.1")
    assert proc.returncode == 2
    assert "setting 'log_file': cannot open" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_status_as_json(tmp_path: Path, server_factory: StartServer) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "one.test.zone").write_text(ZONE)
    (zones / "bad.test.zone").write_text(ZONE.replace("192.0.2.1", "192.0.2.300"))
    srv: ServerProcess = server_factory(zones)
    srv.wait_served("one.test.")
    deadline = time.monotonic() + 20
    while "zone bad.test. rejected" not in srv.output():
        assert time.monotonic() < deadline, srv.output()
        time.sleep(0.02)
    proc = dnsbackend("status", "--data", str(srv.data), "--json")
    assert proc.returncode == 0, proc.stderr
    zones_listed = {z["origin"]: z for z in json.loads(proc.stdout)["zones"]}
    one, bad = zones_listed["one.test."], zones_listed["bad.test."]
    assert (one["served"], one["status"], one["serial"], one["records"]) == (True, "ok", 7, 4)
    assert one["file"] == os.path.join(str(zones.resolve()), "one.test.zone")
    assert one["loaded_at_iso"] and one["version"] > 0
    assert (bad["served"], bad["status"], bad["version"]) == (False, "error", 0)
    assert bad["error"].startswith(f"{zones.resolve() / 'bad.test.zone'}:5: ")


def test_status_help_says_what_it_does() -> None:
    proc = dnsbackend("status", "--help")
    assert proc.returncode == 0
    assert "works while the server runs" in " ".join(proc.stdout.split())
    assert "--json" in proc.stdout
