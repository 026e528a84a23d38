"""Live updates against the real server: edits, adds, renames, deletes, includes, catalogue."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype

from testkit.server import ServerProcess, StartServer
from testkit.zones import versioned_zone, versions_in, write_atomically, write_in_place

DEBOUNCE_MS = 50
# The limit: an edit is answered within the debounce plus 250 ms.
VISIBLE_WITHIN = (DEBOUNCE_MS + 250) / 1000


def _serial(response: dns.message.Message) -> int | None:
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return int(rrset[0].serial)
    return None


def _has_serial(n: int) -> Callable[[dns.message.Message], bool]:
    return lambda r: _serial(r) == n


def _refused(r: dns.message.Message) -> bool:
    return r.rcode() == dns.rcode.REFUSED


def _start(server_factory: StartServer, tmp_path: Path,
           zones: dict[str, int]) -> tuple[ServerProcess, Path]:
    zdir = tmp_path / "zones"
    zdir.mkdir(exist_ok=True)
    for origin, n in zones.items():
        (zdir / f"{origin}zone").write_text(versioned_zone(origin, n))
    srv = server_factory(zdir)
    for origin, n in zones.items():
        srv.wait_until(origin, "SOA", _has_serial(n), timeout=30)
    return srv, zdir


def test_edit_is_answered_within_the_limit(server_factory: StartServer, tmp_path: Path) -> None:
    srv, zdir = _start(server_factory, tmp_path, {"live.test.": 1})
    path = str(zdir / "live.test.zone")
    for n in range(2, 7):
        writer = write_atomically if n % 2 else write_in_place
        writer(path, versioned_zone("live.test.", n))
        srv.wait_until("live.test.", "SOA", _has_serial(n), timeout=VISIBLE_WITHIN)
        assert versions_in(srv.query("www.live.test.", "A")) == {n}


def test_add_rename_delete(server_factory: StartServer, tmp_path: Path) -> None:
    srv, zdir = _start(server_factory, tmp_path, {"one.test.": 1})
    write_atomically(str(zdir / "two.test.zone"), versioned_zone("two.test.", 5))
    srv.wait_until("two.test.", "SOA", _has_serial(5), timeout=VISIBLE_WITHIN)
    os.rename(zdir / "two.test.zone", zdir / "three.test.zone")
    # The renamed file holds two.test. names: as three.test. it is rejected (SOA outside).
    srv.wait_until("two.test.", "SOA", _refused, timeout=VISIBLE_WITHIN)
    write_atomically(str(zdir / "three.test.zone"), versioned_zone("three.test.", 6))
    srv.wait_until("three.test.", "SOA", _has_serial(6), timeout=VISIBLE_WITHIN)
    os.unlink(zdir / "three.test.zone")
    srv.wait_until("three.test.", "SOA", _refused, timeout=VISIBLE_WITHIN)
    assert _serial(srv.query("one.test.", "SOA")) == 1
    # Logged once the writer reports back, which may be after the zone is already REFUSED.
    srv.wait_logged("zone three.test. removed")


def test_sed_in_place_and_cp(server_factory: StartServer, tmp_path: Path) -> None:
    srv, zdir = _start(server_factory, tmp_path, {"sed.test.": 10})
    path = zdir / "sed.test.zone"
    subprocess.run(["sed", "-i", "s/10\\.0\\.10\\.3/10.0.10.99/", str(path)], check=True)
    srv.wait_until("www.sed.test.", "A",
                   lambda r: "10.0.10.99" in r.to_text(), timeout=VISIBLE_WITHIN)
    backup = tmp_path / "backup.zone"
    backup.write_text(versioned_zone("sed.test.", 3))
    os.utime(backup, (1_000_000, 1_000_000))  # an old file restored over the new one
    shutil.copy2(backup, tmp_path / "restore.tmp")
    os.replace(tmp_path / "restore.tmp", path)
    # Its content is served; its serial (3) is below the served one (11), so under the serial
    # policy "auto" it is served with the next serial instead.
    srv.wait_until("www.sed.test.", "A", lambda r: "10.0.3.3" in r.to_text(),
                   timeout=VISIBLE_WITHIN)
    assert _serial(srv.query("sed.test.", "SOA")) == 12


def test_include_change_reloads_the_zone(server_factory: StartServer, tmp_path: Path) -> None:
    zdir = tmp_path / "zones"
    (zdir / "inc").mkdir(parents=True)
    (zdir / "inc" / "hosts.inc").write_text("www IN A 192.0.2.1\n")
    (zdir / "inc.test.zone").write_text(
        "$TTL 60\n@ SOA ns hm 1 1 1 1 1\n@ NS ns\nns A 192.0.2.53\n$INCLUDE inc/hosts.inc\n")
    srv = server_factory(zdir)
    srv.wait_until("www.inc.test.", "A", lambda r: "192.0.2.1" in r.to_text())
    write_atomically(str(zdir / "inc" / "hosts.inc"), "www IN A 192.0.2.2\n")
    srv.wait_until("www.inc.test.", "A", lambda r: "192.0.2.2" in r.to_text(),
                   timeout=VISIBLE_WITHIN)


def test_serial_not_raised_is_served_with_the_next_serial(server_factory: StartServer,
                                                          tmp_path: Path) -> None:
    srv, zdir = _start(server_factory, tmp_path, {"same.test.": 7})
    text = versioned_zone("same.test.", 7).replace("10.0.7.3", "10.0.7.77")
    write_atomically(str(zdir / "same.test.zone"), text)
    srv.wait_until("www.same.test.", "A", lambda r: "10.0.7.77" in r.to_text(),
                   timeout=VISIBLE_WITHIN)
    # The same version answers: the new record comes with the serial after the served one.
    assert _serial(srv.query("same.test.", "SOA")) == 8
    # The log line is written by the server once the writer reports back, which may come
    # after the new version already answers: wait for it rather than look at once.
    srv.wait_logged("SOA serial 7 is not above the served 7; serving 8 (serial policy auto)")


def test_catalogue_changes(server_factory: StartServer, tmp_path: Path) -> None:
    srv, zdir = _start(server_factory, tmp_path, {"a.test.": 1, "b.test.": 2})
    config = tmp_path / "dnsbackend.toml"
    write_atomically(str(config), '[zone."a.test."]\nenabled = false\n')
    srv.wait_until("a.test.", "SOA", _refused, timeout=VISIBLE_WITHIN)
    assert _serial(srv.query("b.test.", "SOA")) == 2
    # Stop discovering: only listed zones are served, from any file name.
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "c-zone.txt").write_text(versioned_zone("c.test.", 3))
    write_atomically(str(config), 'discover = false\n[zone."c.test."]\n'
                                  f'file = "{other / "c-zone.txt"}"\n')
    srv.wait_until("c.test.", "SOA", _has_serial(3), timeout=VISIBLE_WITHIN)
    srv.wait_until("b.test.", "SOA", _refused, timeout=VISIBLE_WITHIN)
    srv.wait_until("a.test.", "SOA", _refused, timeout=VISIBLE_WITHIN)
    # The listed file outside the zones directory is watched too.
    write_atomically(str(other / "c-zone.txt"), versioned_zone("c.test.", 4))
    srv.wait_until("c.test.", "SOA", _has_serial(4), timeout=VISIBLE_WITHIN)
    # A bad catalogue is rejected, naming the key, and the last good one stays.
    write_atomically(str(config), 'discover = "maybe"\n')
    srv.wait_until("c.test.", "SOA", lambda r: "setting 'discover'" in srv.output(),
                   timeout=VISIBLE_WITHIN)
    assert _serial(srv.query("c.test.", "SOA")) == 4
    config.unlink()
    srv.wait_until("a.test.", "SOA", _has_serial(1), timeout=VISIBLE_WITHIN)
    srv.wait_until("b.test.", "SOA", _has_serial(2), timeout=VISIBLE_WITHIN)
    srv.wait_until("c.test.", "SOA", _refused, timeout=VISIBLE_WITHIN)


def test_live_and_restart_only_settings(server_factory: StartServer, tmp_path: Path) -> None:
    srv, zdir = _start(server_factory, tmp_path, {"s.test.": 1})
    config = tmp_path / "dnsbackend.toml"
    write_atomically(str(config), "udp_payload = 4096\nworkers = 3\n")
    srv.wait_until("s.test.", "SOA", lambda r: "EDNS payload size is now 4096" in srv.output(),
                   timeout=VISIBLE_WITHIN + 1)
    assert "setting 'workers' changed; it takes effect after a restart" in srv.output()
    response = srv.query("s.test.", "SOA", edns=True)
    assert response.payload == 4096


def test_restart_serves_the_store_then_reconciles(server_factory: StartServer,
                                                  tmp_path: Path) -> None:
    srv, zdir = _start(server_factory, tmp_path, {"r.test.": 1, "gone.test.": 1})
    srv.stop()
    write_in_place(str(zdir / "r.test.zone"), versioned_zone("r.test.", 2))
    os.unlink(zdir / "gone.test.zone")
    srv2 = server_factory(zdir)
    srv2.wait_until("r.test.", "SOA", _has_serial(2))
    srv2.wait_until("gone.test.", "SOA", _refused)
    assert "serving 2 zones from the store" in srv2.output()


def test_status_while_serving(server_factory: StartServer, tmp_path: Path) -> None:
    srv, zdir = _start(server_factory, tmp_path, {"st.test.": 9})
    (zdir / "broken.test.zone").write_text("$TTL 60\n@ SOA ns hm 1 1 1 1 1\n@ NS ns\nbad line\n")
    srv.wait_until("st.test.", "SOA", lambda r: "broken.test.zone:" in srv.output())
    out = subprocess.run(["dnsbackend", "status", "--data", str(srv.data)], capture_output=True,
                         text=True, check=True, env=_venv_env()).stdout
    assert "st.test." in out and " 9 " in out
    assert re.search(r"last error: .*broken.test.zone:\d+: ", out)


def _venv_env() -> dict[str, str]:
    import sys

    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env
