"""Edits of a big zone file with the real server: each is answered (the writer reads only
what changed, zone.incremental), a bad edit deep in the file keeps the last good version
and names its line, and the fix is served."""

from __future__ import annotations

import re
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype

from testkit.procs import children_map
from testkit.server import ServerProcess, StartServer
from testkit.zones import generate, write_atomically, write_in_place

ORIGIN = "big.test."
RECORDS = 50_000
SERIAL = "\t\t2026112601 ; serial"


def _addresses(response: dns.message.Message) -> set[str]:
    return {rdata.to_text() for rrset in response.answer if rrset.rdtype == dns.rdatatype.A
            for rdata in rrset}


def _serial(text: str, serial: int) -> str:
    return re.sub(r"\t\t\d+ ; serial", f"\t\t{serial} ; serial", text, count=1)


def _loaded(srv: ServerProcess, count: int) -> tuple[int, int]:
    """(serial, records) of load number `count` (from 1) of the zone, when it is logged."""
    found: list[tuple[str, str]] = []

    def logged(_: dns.message.Message) -> bool:
        found[:] = re.findall(rf"zone {re.escape(ORIGIN)} loaded: serial (\d+), (\d+) records",
                              srv.output())
        return len(found) >= count

    srv.wait_until(ORIGIN, "SOA", logged, timeout=120)
    serial, records = found[count - 1]
    return int(serial), int(records)


def _lines_reread(srv: ServerProcess, serial: int) -> int:
    """How many lines the load of `serial` says it read again (not `file read in full`)."""
    [read] = re.findall(rf"zone {re.escape(ORIGIN)} loaded: serial {serial}, .*\), (.*)",
                        srv.output())
    reread = re.fullmatch(r"([\d,]+) lines? re-read", read)
    assert reread is not None, read
    return int(reread[1].replace(",", ""))


def _first_edit(srv: ServerProcess, path: Path, text: str, host: str, records: int,
                load: int) -> str:
    """Raise the serial to 2026112602 and move `host` from 10.x to 11.x; once answered,
    check that it was load number `load` and read only where it changed. The new text."""
    text = _serial(text, 2026112602).replace(f"{host}\tIN\tA\t10.", f"{host}\tIN\tA\t11.")
    write_atomically(str(path), text)
    srv.wait_until(f"{host}.{ORIGIN}", "A", lambda r: any(
        a.startswith("11.") for a in _addresses(r)), timeout=120)
    assert _loaded(srv, load) == (2026112602, records)
    assert _lines_reread(srv, 2026112602) < 200  # the SOA's and the host's stretches
    return text


def _big_zone(tmp_path: Path) -> tuple[Path, Path, int]:
    """The zones directory, the zone file of RECORDS records, and the records written."""
    zones = tmp_path / "zones"
    zones.mkdir()
    path = zones / f"{ORIGIN}zone"
    return zones, path, generate(str(path), ORIGIN, RECORDS)


def _host_line(lines: list[str], fraction: float) -> int:
    """The index of the last `host IN A 10.x.y.z` line in the first `fraction` of lines."""
    return max(i for i in range(int(len(lines) * fraction))
               if re.fullmatch(r"[a-z]+\d+\tIN\tA\t10\.[0-9.]+", lines[i]))


def test_big_zone_edits_deep_in_the_file(server_factory: StartServer, tmp_path: Path) -> None:
    zones, path, written = _big_zone(tmp_path)
    text = path.read_text()
    lines = text.split("\n")
    deep = _host_line(lines, 0.8)
    host = lines[deep].split("\t")[0]
    srv = server_factory(zones)
    srv.wait_until(ORIGIN, "SOA", lambda r: r.rcode() == dns.rcode.NOERROR and bool(r.answer),
                   timeout=120)
    assert _loaded(srv, 1) == (2026112601, written)

    # The start-up sync ran in the zone writer, which kept the text: every edit is read
    # only where it changed.
    text = _first_edit(srv, path, text, host, written, 2)

    text = _serial(text, 2026112603) + "appended\tIN\tA\t192.0.2.77\n"
    write_atomically(str(path), text)
    srv.wait_until(f"appended.{ORIGIN}", "A", lambda r: _addresses(r) == {"192.0.2.77"})
    assert _loaded(srv, 3) == (2026112603, written + 1)

    text = text.replace(f"{host}\tIN\tA\t11.", f"{host}\tIN\tA\t12.")
    write_in_place(str(path), _serial(text, 2026112604))  # no rename, as `>` writes
    srv.wait_until(f"{host}.{ORIGIN}", "A", lambda r: any(
        a.startswith("12.") for a in _addresses(r)))
    assert _loaded(srv, 4) == (2026112604, written + 1)

    # A bad line at nine tenths of the file: rejected at its line, the last version serves.
    lines = text.split("\n")
    bad = _host_line(lines, 0.9)
    good = lines[bad]
    lines[bad] = good + ".1"
    write_atomically(str(path), _serial("\n".join(lines), 2026112605))
    srv.wait_until(ORIGIN, "SOA", lambda r: f"zone {ORIGIN} rejected" in srv.output(),
                   timeout=120)  # the bad record alone is read by dnspython's reader
    rejected = [line for line in srv.output().splitlines() if "rejected" in line]
    assert f"{path}:{bad + 1}: " in rejected[0], rejected
    assert "still serving serial 2026112604" in rejected[0]
    assert any(a.startswith("12.") for a in _addresses(srv.query(f"{host}.{ORIGIN}", "A")))
    assert _addresses(srv.query(f"appended.{ORIGIN}", "A")) == {"192.0.2.77"}

    lines[bad] = good
    lines[deep] = lines[deep].replace("\tIN\tA\t12.", "\tIN\tA\t13.")
    write_atomically(str(path), _serial("\n".join(lines), 2026112606))
    srv.wait_until(f"{host}.{ORIGIN}", "A", lambda r: any(
        a.startswith("13.") for a in _addresses(r)))
    assert _loaded(srv, 5) == (2026112606, written + 1)
    assert "Traceback" not in srv.output()


def test_the_first_edit_after_a_restart_is_read_where_it_changed(
        server_factory: StartServer, tmp_path: Path) -> None:
    zones, path, written = _big_zone(tmp_path)
    text = path.read_text()
    lines = text.split("\n")
    middle = _host_line(lines, 0.5)
    host = lines[middle].split("\t")[0]
    first = server_factory(zones)
    assert _loaded(first, 1) == (2026112601, written)
    old = lines[middle].split("\t")[3]
    before = _addresses(first.query(f"{host}.{ORIGIN}", "A"))
    assert old in before
    first.stop()

    again = server_factory(zones)
    again.wait_logged(f"zone {ORIGIN} serving serial 2026112601 from the store (file "
                      "unchanged)", timeout=60)
    # Then the file is read by the writer that takes the next edit (an edit made before
    # it is read would be read in full, as what the store serves is not what it reads).
    again.wait_logged("read 1 large zone file in the writers for their next edits",
                      timeout=60)
    _first_edit(again, path, text, host, written, 1)
    assert _addresses(again.query(f"{host}.{ORIGIN}", "A")) == \
        before - {old} | {old.replace("10.", "11.", 1)}
    assert "Traceback" not in again.output()


def test_a_large_zone_the_settings_add_is_read_where_it_changes_from_its_first_edit(
        server_factory: StartServer, tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "small.test.zone").write_text("$TTL 300\n@ SOA ns h 1 3600 600 86400 60\n"
                                          "@ NS ns\nns A 192.0.2.1\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = elsewhere / "big-zone.txt"
    written = generate(str(path), ORIGIN, RECORDS)
    text = path.read_text()
    lines = text.split("\n")
    host = lines[_host_line(lines, 0.3)].split("\t")[0]
    srv = server_factory(zones)
    srv.wait_served("small.test.")  # (the start-up sync done, the settings watched)
    write_atomically(str(tmp_path / "dnsbackend.toml"), f'[zone."{ORIGIN}"]\nfile = "{path}"\n')
    # Loaded by the settings' sync in the catalog writer, then read by a zone writer.
    srv.wait_logged("read 1 large zone file in the writers for their next edits", timeout=120)
    assert _loaded(srv, 1) == (2026112601, written)
    _first_edit(srv, path, text, host, written, 2)


def test_a_zone_read_in_two_processes_is_served_and_edited(server_factory: StartServer,
                                                           tmp_path: Path) -> None:
    """A file of zone.split.SPLIT_LINES lines: the writer's first read of it is in two
    processes (a child forked by the writer, given two CPUs or more); every part is served,
    the child leaves no process behind, and an edit in the child's half is read only where
    it changed (from the marks the child kept)."""
    from dnsbackend.zone.split import SPLIT_LINES

    zones = tmp_path / "zones"
    zones.mkdir()
    path = zones / f"{ORIGIN}zone"
    hosts = SPLIT_LINES
    text = "".join(["$TTL 3600\n@\tIN\tSOA\tns hostmaster (\n", SERIAL, "\n\t\t7200 1800 "
                    "1209600 300 )\n@\tIN\tNS\tns\nns\tIN\tA\t192.0.2.1\n",
                    *(f"h{n}\tIN\tA\t10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}\n"
                      for n in range(hosts))])
    path.write_text(text)
    srv = server_factory(zones)
    assert _loaded(srv, 1) == (2026112601, hosts + 3)
    for n in (0, hosts // 3, hosts - 1):
        assert _addresses(srv.query(f"h{n}.{ORIGIN}", "A")) == \
            {f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}
    _first_edit(srv, path, text, f"h{hosts - 1000}", hosts + 3, 2)
    kids = children_map()  # the server, its fork server, the writers it forked: no more
    assert not [grandchild for child in kids.get(srv.proc.pid, [])
                for grandchild in kids.get(child, []) if kids.get(grandchild)]
    assert "Traceback" not in srv.output()
