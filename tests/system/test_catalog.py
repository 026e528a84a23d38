"""The RFC 9432 catalog zone served by the real server: it lists the zone files as they come
and go, is transferred (AXFR, IXFR) like any zone, follows the setting live, shows in
`dnsbackend status`; and real Knot 3.2 and BIND 9.18 consumers provision our zones from it."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.zone
import pytest

from testkit.catalogpeers import BindConsumer, Catalog, KnotConsumer, wait_gone
from testkit.peers import Nsd, Zone
from testkit.ports import free_port
from testkit.server import ServerProcess, StartServer
from testkit.zones import versioned_zone, write_atomically

CATALOG = "catalog.example."
ALLOW_LOOPBACK = '[transfer]\nallow = [{ address = "127.0.0.0/8" }]\n'
Record = tuple[str, str, str]


def _settings(catalog: str | None, extra: str = "") -> str:
    return ALLOW_LOOPBACK + extra + (f'[catalog]\nzone = "{catalog}"\n' if catalog else "")


def _start(tmp_path: Path, server_factory: StartServer, origins: list[str],
           settings: str) -> tuple[ServerProcess, Path, Path]:
    zones = tmp_path / "zones"
    zones.mkdir()
    for origin in origins:
        (zones / f"{origin}zone").write_text(versioned_zone(origin, 1))
    config = tmp_path / "dnsbackend.toml"
    config.write_text(settings)
    srv = server_factory(zones, config=config)
    for origin in origins:
        srv.wait_served(origin)
    return srv, zones, config


def _records(msgs: list[dns.message.Message]) -> list[Record]:
    return [(rrset.name.to_text().lower(), dns.rdatatype.to_text(rrset.rdtype),
             rdata.to_text()) for m in msgs for rrset in m.answer for rdata in rrset]


def _xfr(port: int, origin: str, serial: int | None = None) -> list[Record]:
    kind = dns.rdatatype.AXFR if serial is None else dns.rdatatype.IXFR
    return _records(list(dns.query.xfr("127.0.0.1", origin, rdtype=kind, serial=serial or 0,
                                       port=port, lifetime=30, relativize=False)))


def _members(records: list[Record]) -> dict[str, str]:
    """member -> id, from an AXFR of the catalog."""
    return {rdata: owner.split(".")[0] for owner, rtype, rdata in records
            if rtype == "PTR" and owner.endswith(f".zones.{CATALOG}")}


def _serial(srv: ServerProcess, origin: str) -> int:
    r = srv.query(origin, "SOA")
    assert r.rcode() == dns.rcode.NOERROR and r.answer, r
    return int(r.answer[0][0].serial)


def _wait_members(srv: ServerProcess, members: set[str]) -> None:
    """Wait until an AXFR of the catalog lists exactly `members`."""
    def listed(_: dns.message.Message) -> bool:
        return set(_members(_xfr(srv.port, CATALOG))) == members
    srv.wait_until(CATALOG, "SOA", listed)


def test_the_catalog_lists_the_zone_files_and_transfers_like_a_zone(
        tmp_path: Path, server_factory: StartServer) -> None:
    srv, zones, _ = _start(tmp_path, server_factory, ["a.test.", "b.test."],
                           _settings(CATALOG))
    srv.wait_served(CATALOG)
    records = _xfr(srv.port, CATALOG)
    assert (CATALOG, "NS", "invalid.") in records
    assert (f"version.{CATALOG}", "TXT", '"2"') in records
    assert records[0][1] == records[-1][1] == "SOA"
    ids = _members(records)
    assert set(ids) == {"a.test.", "b.test."}
    first = _serial(srv, CATALOG)
    # A member's PTR is answered like any record.
    r = srv.query(f"{ids['a.test.']}.zones.{CATALOG}", "PTR")
    assert [rr.target.to_text() for rrset in r.answer for rr in rrset] == ["a.test."]
    # A new zone file: listed, with a new serial; IXFR from the old serial is that one PTR.
    (zones / "c.test.zone").write_text(versioned_zone("c.test.", 1))
    _wait_members(srv, {"a.test.", "b.test.", "c.test."})
    second = _serial(srv, CATALOG)
    diff = _xfr(srv.port, CATALOG, first)
    added = [r for r in diff if r[1] == "PTR"]
    assert [r[2] for r in added] == ["c.test."] and len(diff) == 5  # SOA, SOA, SOA, PTR, SOA
    assert srv.wait_logged(f"zone {CATALOG} loaded: serial {second}")
    # An edit of a member is no change of the catalog.
    write_atomically(str(zones / "a.test.zone"), versioned_zone("a.test.", 2))
    srv.wait_until("a.test.", "SOA", lambda r: bool(r.answer) and r.answer[0][0].serial == 2)
    assert _serial(srv, CATALOG) == second
    # A deleted file: its member goes; the ids of the others never change.
    (zones / "b.test.zone").unlink()
    _wait_members(srv, {"a.test.", "c.test."})
    assert _members(_xfr(srv.port, CATALOG))["a.test."] == ids["a.test."]
    status = json.loads(subprocess.run(
        [sys.executable, "-m", "dnsbackend", "status", "--json", "--data", str(srv.data)],
        capture_output=True, text=True, check=True).stdout)
    catalog = [z for z in status["zones"] if z["origin"] == CATALOG]
    assert len(catalog) == 1 and catalog[0]["served"] and catalog[0]["serial"] == \
        _serial(srv, CATALOG)
    assert catalog[0]["journal"]["changes"] == 2


def test_the_setting_turns_the_catalog_on_off_and_renames_it_live(
        tmp_path: Path, server_factory: StartServer) -> None:
    srv, zones, config = _start(tmp_path, server_factory, ["a.test."], _settings(None))
    assert srv.query(CATALOG, "SOA").rcode() == dns.rcode.REFUSED
    config.write_text(_settings(CATALOG))
    srv.wait_logged(f"setting 'catalog.zone': the catalog zone is now {CATALOG} (was off)")
    srv.wait_served(CATALOG)
    assert set(_members(_xfr(srv.port, CATALOG))) == {"a.test."}
    # A zone file of its name: rejected, naming the setting; the catalog serves on, and the
    # settings still change.
    (zones / f"{CATALOG}zone").write_text(versioned_zone(CATALOG, 1))
    srv.wait_logged(f"{CATALOG} is the catalog zone (setting 'catalog.zone'); a zone file "
                    "of that name is not served")
    assert srv.query(CATALOG, "NS").answer[0][0].target.to_text() == "invalid."
    config.write_text("udp_payload = 1400\n" + _settings(CATALOG))
    srv.wait_logged("EDNS payload size is now 1400")
    (zones / f"{CATALOG}zone").unlink()
    config.write_text(_settings("other.example."))
    srv.wait_logged(f"the catalog zone is now other.example. (was {CATALOG})")
    srv.wait_served("other.example.")
    srv.wait_until(CATALOG, "SOA", lambda r: r.rcode() == dns.rcode.REFUSED)
    config.write_text(_settings(None))
    srv.wait_logged("the catalog zone is now off (was other.example.)")
    srv.wait_until("other.example.", "SOA", lambda r: r.rcode() == dns.rcode.REFUSED)
    # A catalog whose name a zone file serves is refused, naming the setting.
    config.write_text(_settings("a.test."))
    out = srv.wait_logged("settings not applied")
    assert "setting 'catalog.zone': a.test. has a zone file, " in out
    assert _serial(srv, "a.test.") == 1


def test_the_catalogs_own_table_wants_a_key_the_members_do_not(
        tmp_path: Path, server_factory: StartServer) -> None:
    secret = base64.b64encode(hashlib.sha256(b"catalog test key").digest()).decode()
    srv, _, _ = _start(tmp_path, server_factory, ["a.test."], _settings(CATALOG, (
        f'[key.cat]\nsecret = "{secret}"\n[zone."{CATALOG}"]\n'
        'allow_transfer = [{ address = "127.0.0.1", key = "cat" }]\n')))
    srv.wait_served(CATALOG)
    r = dns.query.tcp(dns.message.make_query(CATALOG, "AXFR"), "127.0.0.1", port=srv.port,
                      timeout=10)
    assert r.rcode() == dns.rcode.REFUSED
    ring = dns.tsigkeyring.from_text({"cat.": ("hmac-sha256", secret)})
    msgs = list(dns.query.xfr("127.0.0.1", CATALOG, port=srv.port, keyring=ring,
                              keyname="cat.", lifetime=30, relativize=False))
    assert all(m.had_tsig for m in msgs) and set(_members(_records(msgs))) == {"a.test."}
    assert _xfr(srv.port, "a.test.")  # a member: [transfer].allow, no key


def _consumer_zone(srv: ServerProcess, origin: str) -> Zone:
    return Zone(origin.rstrip("."), srv.zones / f"{origin}zone", 1)


@pytest.mark.interop
@pytest.mark.parametrize("consumer", [KnotConsumer, BindConsumer], ids=["knot", "bind"])
def test_consumers_provision_our_zones_from_the_catalog(
        tmp_path: Path, server_factory: StartServer,
        consumer: type[KnotConsumer] | type[BindConsumer]) -> None:
    """Knot 3.2 and BIND 9.18, told only of our catalog: a new zone file here is served
    there, record for record; a deleted one is gone there."""
    peer_port = free_port()
    notify = f'notify = [{{ address = "127.0.0.1", port = {peer_port} }}]\n'
    srv, zones, _ = _start(tmp_path, server_factory, ["a.test."], _settings(CATALOG, notify))
    srv.wait_served(CATALOG)
    kind = consumer(Catalog(CATALOG, f"127.0.0.1@{srv.port}"))
    if (why := kind.missing()) is not None:
        pytest.fail(why)
    workdir = tmp_path / "consumer"
    running = kind.start(workdir, [], port=peer_port, check=True)
    try:
        running.wait_ready([_consumer_zone(srv, "a.test.")], timeout=60)
        (zones / "b.test.zone").write_text(versioned_zone("b.test.", 1, padding=50))
        running.wait_ready([_consumer_zone(srv, "b.test.")], timeout=60)
        # Told by our NOTIFY, the consumer took the new catalog version as a diff.
        serial = _serial(srv, CATALOG)
        srv.wait_logged(f"NOTIFY of {CATALOG} serial {serial} acknowledged by 127.0.0.1 port "
                        f"{peer_port}")
        srv.wait_logged(f"transfer of {CATALOG} to 127.0.0.1: IXFR")
        assert sorted(set(_xfr(peer_port, "b.test."))) == sorted(set(_xfr(srv.port, "b.test.")))
        (zones / "a.test.zone").unlink()
        wait_gone(peer_port, "a.test.", timeout=60)
        assert _xfr(peer_port, "b.test.")  # the other one stays
    finally:
        running.stop()


@pytest.mark.interop
def test_nsd_here_cannot_consume_a_catalog() -> None:
    """NSD consumes catalog zones from 4.9.0 on; this machine's NSD is checked."""
    version = Nsd().version()
    number = tuple(int(p) for p in version.split()[-1].split(".")[:2])
    if number < (4, 9):
        pytest.skip(f"{version}: catalog zones are consumed by NSD 4.9.0 and later")
    pytest.fail(f"{version} consumes catalog zones: add it to "
                "test_consumers_provision_our_zones_from_the_catalog")
