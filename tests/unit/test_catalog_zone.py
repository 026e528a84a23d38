"""The RFC 9432 catalog zone: its records, its member ids, and its members following the
zones served, in the same write transaction, through the production write jobs."""

from __future__ import annotations

import os
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnsbackend.settings import SettingsError, load_settings, policy_from_settings
from dnsbackend.store.database import Store, meta_key, open_shared
from dnsbackend.store.format import ServedSettings, ZoneMeta
from dnsbackend.store.transaction import read_journal
from dnsbackend.transfer.xfr import zone_rrs
from dnsbackend.update.catalogzone import catalog_contents, member_id, member_owner
from dnsbackend.update.jobs import load_zone_job, serial_gt, sync_policy_job
from dnsbackend.update.outcome import Action, Outcome
from dnsbackend.update.policy import WantedZone, ZonePolicy
from dnsbackend.zone.files import origin_key

CATALOG = "catalog.example."
Record = tuple[str, str, str]  # owner, type, rdata, as text (lower-case owner)


def _key(name: str) -> bytes:
    return origin_key(dns.name.from_text(name))


def _zone_text(serial: int = 1, address: str = "192.0.2.1") -> str:
    return (f"$TTL 300\n@ SOA ns hostmaster {serial} 3600 600 86400 60\n@ NS ns\n"
            f"ns A 192.0.2.53\nwww A {address}\n")


def _as_text(rrs: list[tuple[bytes, int, int, bytes]]) -> list[Record]:
    out = []
    for owner, rtype, _, rdata in rrs:
        name = dns.name.from_wire(owner, 0)[0].to_text()
        value = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RdataType.make(rtype),
                                    rdata, 0, len(rdata))
        out.append((name, dns.rdatatype.to_text(value.rdtype), value.to_text()))
    return out


def _read_catalog(store: Store, name: str = CATALOG) -> tuple[int, list[Record]]:
    """(serial, records but the closing SOA) of the catalog zone as an AXFR sends it."""
    entry = store.entries()[_key(name)]
    with store.zones_env.begin() as txn:
        raw = txn.get(meta_key(entry.version))
        assert raw is not None
        meta = ZoneMeta.unpack(bytes(raw))
        rrs = list(zone_rrs(txn, meta, entry.version))
    return meta.serial, _as_text(rrs[:-1])


def _members(records: list[Record], catalog: str = CATALOG) -> dict[str, str]:
    """member zone -> id label, from the PTRs under zones.<catalog>."""
    suffix = f".zones.{catalog}"
    found = {}
    for owner, rtype, rdata in records:
        if rtype == "PTR":
            assert owner.endswith(suffix) and "." not in owner[:-len(suffix)], owner
            found[rdata.lower()] = owner[:-len(suffix)]
    return found


# -- the records and the ids ------------------------------------------------------------

def test_catalog_records_are_those_rfc_9432_asks_for() -> None:
    members = {_key(n): dns.name.from_text(n).to_wire() or b""
               for n in ("a.test.", "B.Example.")}
    contents = catalog_contents(dns.name.from_text(CATALOG).to_wire() or b"", members, 7)
    rrs = [(owner, rtype, ttl, rdata) for owner, node in sorted(contents.nodes.items())
           for rtype, (ttl, rdatas) in node.items() for rdata in rdatas]
    records = set(_as_text(rrs))
    assert (CATALOG, "SOA", "invalid. invalid. 7 3600 600 2147483646 0") in records
    assert (CATALOG, "NS", "invalid.") in records
    assert (f"version.{CATALOG}", "TXT", '"2"') in records
    assert {r for r in records if r[1] == "PTR"} == {
        (f"{member_id(_key('a.test.'))}.zones.{CATALOG}", "PTR", "a.test."),
        (f"{member_id(_key('b.example.'))}.zones.{CATALOG}", "PTR", "B.Example.")}
    assert len(records) == contents.meta.records == 5
    assert contents.nodes[b"\x05zones" + _key(CATALOG)] == {}  # an empty non-terminal
    assert contents.meta.serial == 7


@given(st.lists(st.from_regex(r"[a-z0-9]{1,20}(\.[a-z0-9]{1,20}){0,3}\.", fullmatch=True),
                unique=True, min_size=1, max_size=30))
def test_ids_are_stable_unique_labels_of_the_name(names: list[str]) -> None:
    ids = [member_id(_key(n)) for n in names]
    assert len(set(ids)) == len(ids)
    for name, label in zip(names, ids, strict=True):
        assert len(label) == 16 and all(c in "0123456789abcdef" for c in label)
        assert member_id(_key(name.upper())) == label  # letter case is not part of a name
        owner = member_owner(_key(name), _key(CATALOG))
        assert dns.name.from_wire(owner, 0)[0] == dns.name.from_text(
            f"{label}.zones.{CATALOG}")


# -- following the zones served ---------------------------------------------------------

class Files:
    """A zones directory, a store and a policy with a catalog zone."""

    def __init__(self, tmp_path: Path, catalog: str = CATALOG) -> None:
        self.zones = tmp_path / "zones"
        self.zones.mkdir(exist_ok=True)
        self.data = str(tmp_path / "db")
        self.policy = self.with_catalog(catalog)

    def with_catalog(self, catalog: str, **explicit: WantedZone) -> ZonePolicy:
        lower = _key(catalog) if catalog else b""
        return ZonePolicy(os.path.realpath(self.zones), catalog=catalog, catalog_lower=lower,
                          explicit={_key(k): v for k, v in explicit.items()})

    def write(self, origin: str, text: str | None = None) -> Path:
        path = self.zones / f"{origin}zone"
        path.write_text(text or _zone_text())
        return path

    def sync(self, policy: ZonePolicy | None = None) -> list[Outcome]:
        self.policy = policy or self.policy
        return sync_policy_job(self.data, self.policy.pack(), ServedSettings().pack())

    def load(self, origin: str) -> list[Outcome]:
        path = os.path.realpath(self.zones / f"{origin}zone")
        return load_zone_job(self.data, self.policy.zones_dir, origin, path)[0]

    def catalog(self, name: str = CATALOG) -> tuple[int, dict[str, str]]:
        serial, records = _read_catalog(open_shared(self.data), name)
        return serial, _members(records, name)


def _actions(outcomes: list[Outcome], origin: str = CATALOG) -> list[Action]:
    return [o.action for o in outcomes if o.origin == origin]


def test_members_follow_zones_added_edited_and_removed(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.write("a.test.")
    files.write("b.test.")
    assert _actions(files.sync()) == [Action.LOADED]
    serial, members = files.catalog()
    assert members == {"a.test.": member_id(_key("a.test.")),
                       "b.test.": member_id(_key("b.test."))}
    # A new zone file: the zone and its member in one job (one transaction).
    files.write("c.test.")
    outcomes = files.load("c.test.")
    assert [o.action for o in outcomes] == [Action.LOADED, Action.LOADED]
    added, members = files.catalog()
    assert set(members) == {"a.test.", "b.test.", "c.test."}
    assert serial_gt(added, serial)
    # An edit of a member: no new catalog version.
    files.write("a.test.", _zone_text(2, "192.0.2.9"))
    assert _actions(files.load("a.test.")) == []
    assert files.catalog()[0] == added
    # The file gone: the zone and its member go together.
    (files.zones / "b.test.zone").unlink()
    outcomes = files.load("b.test.")
    assert [(o.origin, o.action) for o in outcomes] == [("b.test.", Action.REMOVED),
                                                       (CATALOG, Action.LOADED)]
    removed, members = files.catalog()
    assert set(members) == {"a.test.", "c.test."}
    assert members["a.test."] == member_id(_key("a.test."))  # ids never move
    # Each change is in the catalog's journal, for IXFR: one PTR added, then one removed.
    store = open_shared(files.data)
    entry = store.entries()[_key(CATALOG)]
    with store.zones_env.begin() as txn:
        journal = read_journal(txn, entry.zone_id)
    assert [(c.from_serial, c.to_serial) for c in journal] == [(serial, added), (added, removed)]
    assert [len(c.added) for c in journal] == [1, 0]
    assert [len(c.removed) for c in journal] == [0, 1]


def test_the_same_zones_give_the_same_catalog_after_a_restart(tmp_path: Path) -> None:
    files = Files(tmp_path)
    for name in ("a.test.", "b.test."):
        files.write(name)
    files.sync()
    before = files.catalog()
    assert _actions(files.sync()) == []  # a start with nothing changed: no new version
    assert files.catalog() == before
    # A store built again from the same files: the same members under the same ids.
    again = Files(tmp_path)
    again.data = str(tmp_path / "db2")
    again.sync()
    assert again.catalog()[1] == before[1]


def test_disabled_and_broken_zones_are_not_members(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.write("a.test.")
    files.write("b.test.")
    files.write("bad.test.", "@ SOA broken\n")
    files.sync()
    assert set(files.catalog()[1]) == {"a.test.", "b.test."}
    path = os.path.realpath(files.zones / "b.test.zone")
    files.sync(files.with_catalog(CATALOG, **{"b.test.": WantedZone("b.test.", path, False)}))
    assert set(files.catalog()[1]) == {"a.test."}


def test_turning_the_catalog_off_on_and_renaming_it(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.write("a.test.")
    files.sync()
    first, _ = files.catalog()
    outcomes = files.sync(files.with_catalog("other.catalog."))
    assert [(o.origin, o.action) for o in outcomes if o.origin != "a.test."] == [
        (CATALOG, Action.REMOVED), ("other.catalog.", Action.LOADED)]
    assert _key(CATALOG) not in open_shared(files.data).entries()
    assert set(files.catalog("other.catalog.")[1]) == {"a.test."}
    outcomes = files.sync(files.with_catalog(""))
    assert _actions(outcomes, "other.catalog.") == [Action.REMOVED]
    assert set(open_shared(files.data).entries()) == {_key("a.test.")}
    outcomes = files.sync(files.with_catalog(CATALOG))
    assert _actions(outcomes) == [Action.LOADED]
    again, _ = files.catalog()
    assert serial_gt(again, first)  # back with a higher serial


def test_a_zone_file_of_the_catalogs_name_is_not_served(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.write("a.test.")
    files.sync()
    before = files.catalog()
    files.write(CATALOG)  # appears while the catalog is served
    [outcome] = files.load(CATALOG)
    assert outcome.action is Action.FAILED
    assert outcome.error == (f"{files.zones.resolve() / 'catalog.example.zone'}:1: "
                             f"{CATALOG} is the catalog zone (setting 'catalog.zone'); a zone "
                             "file of that name is not served")
    assert files.catalog() == before
    (files.zones / "catalog.example.zone").unlink()
    assert [o.action for o in files.load(CATALOG)] == [Action.IGNORED]
    assert files.catalog() == before


def _settings(tmp_path: Path, text: str, served: str | None = None) -> ZonePolicy:
    config = tmp_path / "dnsbackend.toml"
    config.write_text(f'zones = "{tmp_path / "zones"}"\n' + text)
    return policy_from_settings(load_settings(str(config), {}), str(tmp_path), served)


def test_settings_name_the_catalog_and_refuse_a_clash(tmp_path: Path) -> None:
    (tmp_path / "zones").mkdir()
    policy = _settings(tmp_path, f'[catalog]\nzone = "{CATALOG}"\n[zone."{CATALOG}"]\n'
                       'notify = [{ address = "192.0.2.7" }]\n')
    assert (policy.catalog, policy.catalog_lower) == (CATALOG, _key(CATALOG))
    assert policy.explicit == {}  # its table says how it is transferred, not a file
    assert _settings(tmp_path, "").catalog == ""
    with pytest.raises(SettingsError, match="setting 'catalog.zone': not a domain name"):
        _settings(tmp_path, '[catalog]\nzone = "a..b"\n')
    with pytest.raises(SettingsError, match=r"setting 'catalog.zone': catalog.example. is the "
                       r"catalog zone.*'zone.catalog.example..file'"):
        _settings(tmp_path, f'[catalog]\nzone = "{CATALOG}"\n[zone."{CATALOG}"]\nfile = "x"\n')
    (tmp_path / "zones" / "catalog.example.zone").write_text(_zone_text())
    with pytest.raises(SettingsError, match="setting 'catalog.zone': catalog.example. has "
                       "a zone file, .*catalog.example.zone; the catalog zone needs a name "
                       "of its own"):
        _settings(tmp_path, f'[catalog]\nzone = "{CATALOG}"\n')
    # The same name in force already: the file is the file's error, the settings apply.
    assert _settings(tmp_path, f'[catalog]\nzone = "{CATALOG}"\n', CATALOG).catalog == CATALOG
