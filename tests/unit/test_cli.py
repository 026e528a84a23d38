"""The `dnsbackend` command line in this process: check, --version, --help and settings.

These call `main()` here, which is faster; the error paths that must be seen exactly as a
user sees them (no traceback), and status, run as a real process in
tests/system/test_cli_process.py.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
from pathlib import Path

import pytest

from dnsbackend import __version__
from dnsbackend.cli import main
from dnsbackend.settings import SettingsError, load_settings
from testkit.zones import EXAMPLE_ZONE

HEAD = "$TTL 1h\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n"
ERROR_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<message>\S.*)$")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`dnsbackend ARGS` through cli.main() in this process; output and exit code captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's --help, --version and usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(["dnsbackend", *args], code, out.getvalue(),
                                       err.getvalue())


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr


def file_of(error: str) -> str:
    """The file named by a `file:line: message` line."""
    m = ERROR_LINE.match(error)
    assert m, error
    return m["file"]


# ---------------------------------------------------------------------------------------
# --version and --help


def test_version() -> None:
    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"dnsbackend {__version__}"


def test_help_lists_commands() -> None:
    proc = cli("--help")
    assert proc.returncode == 0
    for word in ("serve", "check", "status", "--version"):
        assert word in proc.stdout


@pytest.mark.parametrize("command", ["serve", "check", "status"])
def test_command_help(command: str) -> None:
    proc = cli(command, "--help")
    assert proc.returncode == 0 and f"usage: dnsbackend {command}" in proc.stdout


# ---------------------------------------------------------------------------------------
# check


def test_check_good_file() -> None:
    proc = cli("check", str(EXAMPLE_ZONE))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^zone example\.com\.: loaded serial 2026112601, \d+ records",
                     proc.stdout, re.M)
    assert proc.stdout.strip().endswith("OK")
    assert proc.stderr == ""


def test_check_with_origin_option(tmp_path: Path) -> None:
    path = tmp_path / "some-file.txt"
    path.write_text(HEAD + "www A 192.0.2.80\n")
    proc = cli("check", "--origin", "example.org", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "zone example.org.: loaded serial 1, 4 records" in proc.stdout


# (body after the 4 header lines, the line of the error, what the message must mention)
BAD = {
    "unknown-type": ("www BOGUS x\n", 5, "BOGUS"),
    "bad-address": ("ok A 192.0.2.2\nwww A 1.2.3\nlater A 192.0.2.3\n", 6, ""),
    "bad-mx": ("www MX 10\nlater A 192.0.2.3\n", 5, ""),
    "missing-include": ("$INCLUDE nothere.inc\n", 5, "nothere.inc"),
    "soa-not-at-apex": ("www SOA ns1 hostmaster 1 2 3 4 5\n", 5, "SOA"),
}


def bad_file(directory: Path, case: str) -> Path:
    body, _, _ = BAD[case]
    path = directory / f"{case}.example.zone"
    path.write_text(HEAD + body)
    return path


@pytest.mark.parametrize("case", list(BAD))
def test_check_bad_file_reports_file_and_line(tmp_path: Path, case: str) -> None:
    path = bad_file(tmp_path, case)
    _, line, mention = BAD[case]
    proc = cli("check", str(path))
    assert proc.returncode == 1
    no_traceback(proc)
    m = ERROR_LINE.match(proc.stderr.splitlines()[0])
    assert m, proc.stderr
    assert m["file"] == str(path)
    assert mention in m["message"]
    assert int(m["line"]) == line, proc.stderr


def test_check_missing_soa(tmp_path: Path) -> None:
    path = tmp_path / "nosoa.example.zone"
    path.write_text("$TTL 1h\n@ NS ns1\nns1 A 192.0.2.1\n")
    proc = cli("check", str(path))
    assert proc.returncode == 1
    first = proc.stderr.splitlines()[0]
    assert ERROR_LINE.match(first) and first.startswith(f"{path}:") and "SOA" in first


def test_check_rejects_file_name_that_is_not_a_domain(tmp_path: Path) -> None:
    path = tmp_path / ("a" * 70 + ".zone")
    path.write_text(HEAD)
    proc = cli("check", str(path))
    assert proc.returncode == 1
    no_traceback(proc)
    assert ERROR_LINE.match(proc.stderr.splitlines()[0])


# ---------------------------------------------------------------------------------------
# Settings


@pytest.mark.parametrize(("toml", "key"), [
    ("port = 70000\n", "port"),
    ("port = true\n", "port"),
    ('port = "53"\n', "port"),
    ("listen = []\n", "listen"),
    ("tcp_idle_timeout = -1\n", "tcp_idle_timeout"),
    ("tcp_idle_timeout = inf\n", "tcp_idle_timeout"),
    ("tcp_max_connections = 0\n", "tcp_max_connections"),
    ("udp_payload = 100\n", "udp_payload"),
    ("udp_payload = 65535\n", "udp_payload"),
    ('log_level = "loud"\n', "log_level"),
    ('[zone."example.com"]\nenabled = "yes"\n', "zone.example.com.enabled"),
])
def test_settings_reject_wrong_values(tmp_path: Path, toml: str, key: str) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(toml)
    with pytest.raises(SettingsError) as info:
        load_settings(str(config), {})
    lines = str(info.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{config}: setting '{key}': ")


def test_flags_win_over_the_file(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text("port = 5353\nworkers = 2\n")
    settings = load_settings(str(config), {"port": 0})
    assert settings.port == 0 and settings.workers == 2


def test_bad_flag_value_is_a_usage_error(tmp_path: Path) -> None:
    proc = cli("serve", "--port", "x")
    assert proc.returncode == 2 and "--port" in proc.stderr
    no_traceback(proc)


