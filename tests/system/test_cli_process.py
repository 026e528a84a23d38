"""The `dnsbackend` command line as a real process: usage and settings errors, check of
several files, status. A real process shows exactly what a user sees: no traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dnsbackend.store.database import open_shared
from testkit.store import load_zone
from testkit.zones import EXAMPLE_ZONE

from ..unit.test_cli import BAD, ERROR_LINE, HEAD, bad_file, file_of, no_traceback


def run(*args: str, cwd: Path | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dnsbackend", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=str(cwd) if cwd else None)


def test_unknown_command_is_a_usage_error() -> None:
    proc = run("frobnicate")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    no_traceback(proc)


# ---------------------------------------------------------------------------------------
# check


def test_check_several_files_reports_every_error(tmp_path: Path) -> None:
    bad = [bad_file(tmp_path, case) for case in BAD]
    missing = tmp_path / "absent.example.zone"
    good = EXAMPLE_ZONE
    proc = run("check", str(bad[0]), str(good), *map(str, bad[1:]), str(missing))
    assert proc.returncode == 1
    no_traceback(proc)
    errors = [line for line in proc.stderr.splitlines() if ERROR_LINE.match(line)]
    # One `file:line: message` for each bad file, in the order given, and nothing for the good.
    assert [file_of(e) for e in errors] == [str(p) for p in bad] + [str(missing)]
    assert re.search(r"cannot read", errors[-1])
    assert "zone example.com.: loaded serial 2026112601" in proc.stdout
    assert f"{len(bad) + 1} of {len(bad) + 2} zone files have errors" in proc.stderr


# ---------------------------------------------------------------------------------------
# Settings


# Through the real command: one line, naming the file and the key, nothing started.
@pytest.mark.parametrize(("toml", "key"), [
    ('port = "x"\n', "port"),
    ("colour = 1\n", "colour"),
    ('listen = "127.0.0.1"\n', "listen"),
])
def test_bad_setting_names_the_key(tmp_path: Path, toml: str, key: str) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(toml)
    # Flags win over the file, so the flag for the key under test is left out.
    flags = {"--listen": "127.0.0.1", "--port": "0"}
    flags.pop(f"--{key}", None)
    proc = run("serve", "--config", str(config), "--zones", str(tmp_path), "--data",
               str(tmp_path / "db"), *(x for kv in flags.items() for x in kv), cwd=tmp_path,
               timeout=20)
    assert proc.returncode != 0
    no_traceback(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"'{key}'" in lines[0] and str(config) in lines[0]
    assert not (tmp_path / "db").exists()  # nothing was started


def test_every_bad_setting_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text('port = "x"\ncolour = 1\nworkers = 0\n')
    proc = run("serve", "--config", str(config), "--listen", "127.0.0.1", cwd=tmp_path,
               timeout=20)
    assert proc.returncode != 0
    no_traceback(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3, proc.stderr
    assert all(line.startswith(f"dnsbackend: {config}: setting '") for line in lines)
    assert {line.split("'")[1] for line in lines} == {"port", "colour", "workers"}


def test_settings_file_that_is_not_toml(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text("port = = 5\n")
    proc = run("serve", "--config", str(config), cwd=tmp_path)
    assert proc.returncode != 0
    no_traceback(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not valid TOML" in lines[0] and "line 1" in lines[0]


def test_missing_settings_file(tmp_path: Path) -> None:
    proc = run("serve", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert proc.returncode != 0
    no_traceback(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope.toml" in lines[0] and "cannot read" in lines[0]


# ---------------------------------------------------------------------------------------
# status


def test_status_lists_zones(tmp_path: Path) -> None:
    data = tmp_path / "db"
    versions = {}
    for name, text in [("example.com.", EXAMPLE_ZONE.read_text()),
                       ("example.org.", HEAD.replace("1 7200", "42 7200"))]:
        path = tmp_path / f"{name}zone"
        path.write_text(text)
        outcome = load_zone(data, path, name)
        versions[name] = (outcome.serial, outcome.records, outcome.version)
    open_shared(str(data)).close()
    proc = run("status", "--data", str(data))
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc)
    header, *rows = proc.stdout.strip().splitlines()
    assert header.split()[:5] == ["zone", "status", "serial", "records", "version"]
    listed = {row.split()[0]: row.split()[1:5] for row in rows}
    assert listed == {name: ["ok", str(serial), str(records), str(version)]
                      for name, (serial, records, version) in versions.items()}
    assert versions["example.org."][:2] == (42, 3)


def test_status_without_store(tmp_path: Path) -> None:
    proc = run("status", "--data", str(tmp_path / "nothing"))
    assert proc.returncode == 1
    no_traceback(proc)
    assert proc.stderr.strip() == f"dnsbackend: no store in {tmp_path / 'nothing'}"
