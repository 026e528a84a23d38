"""`dnsbackend check` and the server decide alike: a zone file listed from another directory
reads its `$INCLUDE`s beside it in both, and `check --config` says what the server would say
of the settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dns.rdatatype

from testkit.server import StartServer

HEAD = ("$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 192.0.2.53\n")


def dnsbackend(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dnsbackend", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd)


def test_a_listed_zone_elsewhere_includes_from_its_own_directory(
        tmp_path: Path, server_factory: StartServer) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "org-extra.inc").write_text("www A 192.0.2.80\n")
    (elsewhere / "abs-extra.inc").write_text("mail A 192.0.2.25\n")
    zone = elsewhere / "example-org.db"
    zone.write_text(HEAD + "$INCLUDE org-extra.inc\n"
                    f"$INCLUDE {elsewhere / 'abs-extra.inc'}\n")
    config = tmp_path / "dnsbackend.toml"
    config.write_text(f'[zone."example.org"]\nfile = "{zone}"\n')

    checked = dnsbackend("check", "--origin", "example.org", str(zone), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "zone example.org.: loaded serial 1, 5 records" in checked.stdout
    with_config = dnsbackend("check", "--config", str(config), cwd=tmp_path)
    assert with_config.returncode == 0, with_config.stderr
    assert "settings OK" in with_config.stdout
    assert "zone example.org.: loaded serial 1, 5 records" in with_config.stdout

    srv = server_factory(zones, config=config)
    srv.wait_served("example.org.")
    for name, address in [("www.example.org.", "192.0.2.80"), ("mail.example.org.",
                                                                "192.0.2.25")]:
        r = srv.query(name, "A")
        assert [str(rr[0]) for rr in r.answer if rr.rdtype == dns.rdatatype.A] == [address]
    # An edit of the included file beside it is followed too.
    (elsewhere / "org-extra.inc").write_text("www A 192.0.2.81\n")
    srv.wait_until("www.example.org.", "A", lambda r: "192.0.2.81" in r.to_text())


def test_check_config_names_a_bad_setting_as_the_server_does(tmp_path: Path) -> None:
    config = tmp_path / "dnsbackend.toml"
    config.write_text('udp_payload = 100\n[zone."bad..name"]\n')
    checked = dnsbackend("check", "--config", str(config), cwd=tmp_path)
    served = dnsbackend("serve", "--config", str(config), "--port", "0", "--listen",
                        "127.0.0.1", "--data", str(tmp_path / "db"), cwd=tmp_path)
    assert checked.returncode == served.returncode == 2
    assert checked.stderr == served.stderr
    assert "setting 'udp_payload'" in checked.stderr
    assert "Traceback" not in checked.stderr


def test_check_config_checks_every_zone_it_serves(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "good.test.zone").write_text(HEAD)
    (zones / "bad.test.zone").write_text(HEAD + "www A 192.0.2.300\n")
    config = tmp_path / "dnsbackend.toml"
    config.write_text(f'zones = "{zones}"\n')
    checked = dnsbackend("check", "--config", str(config), cwd=tmp_path)
    assert checked.returncode == 1
    assert "zone good.test.: loaded serial 1, 3 records" in checked.stdout
    assert f"{zones / 'bad.test.zone'}:5: " in checked.stderr
    assert "1 of 2 zone files have errors" in checked.stderr
