"""Delta versions and the journal: an edit writes only what changed, every version answers as a
store loaded from scratch with the same file, and the journal's changesets replay the zone."""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsbackend.query.engine import answer
from dnsbackend.store.database import POLICY_KEY, Store, node_prefix, open_shared
from dnsbackend.store.delta import apply_changeset
from dnsbackend.store.format import Changeset, Node, unpack_history
from dnsbackend.store.snapshot import Reader, StaleSnapshot
from dnsbackend.store.transaction import JournalLimits, Transaction, read_journal, read_version
from dnsbackend.update import jobs
from dnsbackend.update.jobs import RECENT_RECORDS
from dnsbackend.update.outcome import Action
from dnsbackend.update.policy import ZonePolicy
from dnsbackend.zone.bindreader import parse_text
from dnsbackend.zone.files import origin_key
from dnsbackend.zone.nodes import zone_nodes
from testkit.store import load_zone

ORIGIN = "delta.test."
APEX = origin_key(dns.name.from_text(ORIGIN))

# A zone as a dict: owner (relative) -> list of (type, TTL, rdata text).
Zone = dict[str, list[tuple[str, int, str]]]


def render(zone: Zone, serial: int) -> str:
    lines = [f"$ORIGIN {ORIGIN}", "$TTL 300",
             f"@ 300 SOA ns hostmaster {serial} 3600 600 86400 60", "@ 300 NS ns",
             "ns 300 A 192.0.2.53"]
    for owner in sorted(zone):
        for rtype, ttl, rdata in zone[owner]:
            lines.append(f"{owner} {ttl} {rtype} {rdata}")
    return "\n".join(lines) + "\n"


def nodes_of(text: str) -> dict[bytes, Node]:
    return zone_nodes(parse_text(text, dns.name.from_text(ORIGIN), "z")).nodes


def rr_set(nodes: dict[bytes, Node]) -> set[tuple[bytes, int, int, bytes]]:
    return {(owner, rtype, ttl, rdata) for owner, node in nodes.items()
            for rtype, (ttl, rdatas) in node.items() for rdata in rdatas}


class Files:
    """A zone file in a zones directory and the store it is loaded into (under a zone policy
    with the given journal limits, stored as the settings job stores it)."""

    def __init__(self, root: Path, limits: JournalLimits | None = None) -> None:
        self.zones = root / "zones"
        self.zones.mkdir(parents=True)
        self.path = self.zones / f"{ORIGIN}zone"
        self.data = root / "db"
        if limits is not None:
            policy = ZonePolicy(str(self.zones.resolve()), journal_depth=limits.depth,
                                journal_size=limits.size)
            with Transaction(self.store()) as txn:
                txn.set_catalog_value(POLICY_KEY, policy.pack())

    def load(self, text: str) -> int:
        self.path.write_text(text)
        outcome = load_zone(self.data, self.path, ORIGIN)
        return outcome.version

    def store(self) -> Store:
        return open_shared(str(self.data))

    def restart_warm(self) -> None:
        """A writer started afresh, given the memo of the served version by a warm job."""
        jobs._recent.clear()
        path = str(self.path.resolve())
        outcomes, _ = jobs.load_zone_job(str(self.data), os.path.dirname(path), ORIGIN, path,
                                         warm=True)
        assert outcomes[0].action is Action.KEPT
        assert jobs._recalled(self.store(), self.store().entries()[APEX], path) is not None


def big_zone(names: int) -> str:
    return render({f"host{i}": [("A", 300, f"10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}")]
                   for i in range(names)}, 1)


def history_lengths(store: Store, zone_id: int) -> dict[bytes, int]:
    prefix = node_prefix(zone_id)
    out = {}
    with store.zones_env.begin() as txn:
        cursor = txn.cursor()
        cursor.set_range(prefix)
        for key, value in cursor:
            if not key.startswith(prefix):
                break
            out[bytes(key[len(prefix):])] = len(unpack_history(bytes(value)))
    return out


def test_a_one_record_edit_writes_only_what_changed(tmp_path: Path) -> None:
    files = Files(tmp_path)
    first = files.load(big_zone(2000))
    text = big_zone(2000).replace("host7 300 A 10.0.0.8", "host7 300 A 10.9.9.9")
    second = files.load(text.replace(" 1 3600 ", " 2 3600 "))
    store = files.store()
    try:
        entry = store.entries()[APEX]
        lengths = history_lengths(store, entry.zone_id)
        longer = {owner for owner, n in lengths.items() if n > 1}
        assert longer == {APEX, b"\x05host7" + APEX}  # the SOA's serial and the record
        assert len(lengths) == 2000 + 2  # one history per owner: hosts, ns, apex
        # Both versions read whole: the old one until it is freed.
        with store.zones_env.begin() as txn:
            old = dict(read_version(txn, entry.zone_id, first))
            new = dict(read_version(txn, entry.zone_id, second))
        assert old == nodes_of(big_zone(2000))
        assert new == nodes_of(text.replace(" 1 3600 ", " 2 3600 "))
    finally:
        store.close()


def test_a_freed_version_is_trimmed_and_its_readers_start_again(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.load(render({"www": [("A", 300, "192.0.2.1")], "old": [("A", 300, "192.0.2.9")]}, 1))
    store = files.store()
    try:
        before = Reader(store).snapshot()
        files.load(render({"www": [("A", 300, "192.0.2.2")]}, 2))
        after = Reader(store).snapshot()
        view_old = before.find_zone(APEX)
        view_new = after.find_zone(APEX)
        assert view_old is not None and view_new is not None
        assert view_old.node(b"\x03www" + APEX) == {1: (300, (b"\xc0\x00\x02\x01",))}
        assert view_new.node(b"\x03old" + APEX) is None
        with Transaction(store) as txn:
            assert txn.collect_garbage(grace=0) == 1
        zone_id = store.entries()[APEX].zone_id
        assert set(history_lengths(store, zone_id).values()) == {1}
        assert b"\x03old" + APEX not in history_lengths(store, zone_id)  # gone for good
        view_old.nodes.clear()
        with pytest.raises(StaleSnapshot):
            view_old.node(b"\x03www" + APEX)
        assert view_new.node(b"\x03www" + APEX) == {1: (300, (b"\xc0\x00\x02\x02",))}
    finally:
        store.close()


def test_a_removed_zone_leaves_nothing_once_freed(tmp_path: Path) -> None:
    files = Files(tmp_path)
    files.load(render({"www": [("A", 300, "192.0.2.1")]}, 1))
    files.load(render({"www": [("A", 300, "192.0.2.2")]}, 2))
    store = files.store()
    try:
        with Transaction(store) as txn:
            txn.remove_zone(APEX)
        with Transaction(store) as txn:
            txn.collect_garbage(grace=0)
        with store.zones_env.begin() as txn:
            left = [bytes(k) for k, _ in txn.cursor()]
        assert left == []
    finally:
        store.close()


# -- the property: every version as from scratch, and the journal replays it ------------

NAMES = ["www", "mail", "a.b.c", "b.c", "*.wild", "x.wild", "child", "ns.child", "deep.e.f.g"]
TYPES = {"A": ["192.0.2.1", "192.0.2.2", "198.51.100.7"], "TXT": ['"one"', '"two"'],
         "MX": ["10 mail", "20 www"], "AAAA": ["2001:db8::1", "2001:db8::2"]}
edit = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(NAMES), st.sampled_from(sorted(TYPES)),
              st.sampled_from([60, 300]), st.integers(0, 1)),
    st.tuples(st.just("remove"), st.sampled_from(NAMES), st.sampled_from(sorted(TYPES)),
              st.just(0), st.integers(0, 1)),
    st.tuples(st.just("ttl"), st.sampled_from(NAMES), st.sampled_from(sorted(TYPES)),
              st.sampled_from([60, 300, 3600]), st.just(0)),
    st.tuples(st.just("drop-name"), st.sampled_from(NAMES), st.just("A"), st.just(0),
              st.just(0)),
    st.tuples(st.just("delegate"), st.just("child"), st.just("NS"), st.just(300),
              st.integers(0, 1)),
)


def apply_edit(zone: Zone, op: tuple[str, str, str, int, int]) -> None:
    kind, owner, rtype, ttl, pick = op
    records = zone.setdefault(owner, [])
    if kind == "add":
        values = TYPES[rtype]
        rdata = values[pick % len(values)]
        same = [r for r in records if r[0] == rtype]
        ttl = same[0][1] if same else ttl  # one TTL per RRset, as the file would have
        if (rtype, ttl, rdata) not in records:
            records.append((rtype, ttl, rdata))
    elif kind == "remove":
        same = [r for r in records if r[0] == rtype]
        if same:
            records.remove(same[pick % len(same)])
    elif kind == "ttl":
        zone[owner] = [(t, ttl if t == rtype else old, r) for t, old, r in records]
    elif kind == "drop-name":
        zone.pop(owner, None)
    elif kind == "delegate":
        zone["child"] = [("NS", 300, "ns.child")] if pick else []
        zone["ns.child"] = [("A", 300, "192.0.2.77")] if pick else []
    if not zone.get(owner):
        zone.pop(owner, None)


QUESTIONS = [(f"{name}.{ORIGIN}", rtype) for name in NAMES + ["nothing", "q.wild", "e.f.g"]
             for rtype in ("A", "TXT", "MX", "NS", "ANY", "SOA")] + [(ORIGIN, "SOA")]


def answers(store: Store) -> list[bytes | None]:
    snap = Reader(store).snapshot()
    out = []
    for name, rtype in QUESTIONS:
        q = dns.message.make_query(name, rtype, use_edns=False)
        q.id = 1
        out.append(answer(q.to_wire(), snap))
    return out


@pytest.mark.parametrize("diffed_against", ["memory", "store", "memory after a restart"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(edit, min_size=1, max_size=8))
def test_every_version_answers_as_from_scratch_and_the_journal_replays(
        diffed_against: str, edits: list[tuple[str, str, str, int, int]]) -> None:
    """The same edits, diffed against the nodes the writer kept or against the store, or
    with the writer restarted before each edit and given the memo by a warm job."""
    if diffed_against == "store":
        jobs.RECENT_RECORDS = 0  # keep nothing: every diff reads the served version
    try:
        _every_version_as_from_scratch(edits, diffed_against == "memory after a restart")
    finally:
        jobs.RECENT_RECORDS = RECENT_RECORDS
        jobs._recent.clear()


def _every_version_as_from_scratch(edits: list[tuple[str, str, str, int, int]],
                                   restarts: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        zone: Zone = {"www": [("A", 300, "192.0.2.1")]}
        files = Files(root / "delta")
        first_text = render(zone, 1)
        files.load(first_text)
        for step, op in enumerate(edits, start=2):
            apply_edit(zone, op)
            text = render(zone, step)
            if restarts:
                files.restart_warm()
            files.load(text)
            scratch = Files(root / f"scratch{step}")
            scratch.load(text)
            try:
                assert answers(files.store()) == answers(scratch.store()), (step, op)
            finally:
                scratch.store().close()
        store = files.store()
        try:
            entry = store.entries()[APEX]
            with store.zones_env.begin() as txn:
                journal = read_journal(txn, entry.zone_id)
            replayed = nodes_of(first_text)
            serial = 1
            for change in journal:
                assert change.from_serial == serial
                apply_changeset(replayed, change, APEX)
                serial = change.to_serial
            assert serial == entry.serial
            assert rr_set(replayed) == rr_set(nodes_of(render(zone, len(edits) + 1)))
        finally:
            store.close()


# -- the journal's limits and chain --------------------------------------------------------

def _journal(files: Files) -> list[tuple[int, int]]:
    store = files.store()
    entry = store.entries()[APEX]
    with store.zones_env.begin() as txn:
        return [(c.from_serial, c.to_serial) for c in read_journal(txn, entry.zone_id)]


def test_the_journal_keeps_its_depth(tmp_path: Path) -> None:
    files = Files(tmp_path, JournalLimits(depth=3))
    for serial in range(1, 7):
        files.load(render({"www": [("A", 300, f"192.0.2.{serial}")]}, serial))
    assert _journal(files) == [(3, 4), (4, 5), (5, 6)]
    files.store().close()


def test_the_journal_keeps_its_size(tmp_path: Path) -> None:
    files = Files(tmp_path, JournalLimits(size=1500))
    for serial in range(1, 7):
        files.load(render({"www": [("TXT", 300, '"' + "x" * 200 + f'{serial}"')]}, serial))
    kept = _journal(files)
    assert kept and kept[-1] == (5, 6) and len(kept) < 5
    files.store().close()


def test_the_journal_survives_a_reopen(tmp_path: Path) -> None:
    files = Files(tmp_path)
    for serial in (1, 2, 3):
        files.load(render({"www": [("A", 300, f"192.0.2.{serial}")]}, serial))
    files.store().close()
    assert _journal(files) == [(1, 2), (2, 3)]
    files.store().close()


def test_no_journal_with_depth_zero(tmp_path: Path) -> None:
    files = Files(tmp_path, JournalLimits(depth=0))
    for serial in (1, 2, 3):
        files.load(render({"www": [("A", 300, f"192.0.2.{serial}")]}, serial))
    assert _journal(files) == []
    files.store().close()


def _soa(serial: int) -> tuple[int, bytes]:
    return (300, b"\x02ns\x00\x0ahostmaster\x00" + struct.pack("!IIIII", serial, 1, 2, 3, 4))


@pytest.mark.parametrize(("stored", "new", "kept"), [
    ([(1, 2), (2, 3)], (3, 4), [(1, 2), (2, 3), (3, 4)]),  # the chain goes on
    ([(1, 2), (2, 3)], (7, 8), [(7, 8)]),  # a gap: the journal starts again
    ([(1, 2), (2, 3)], (3, 1), [(2, 3), (3, 1)]),  # back to serial 1: no cycle kept
    ([(5, 6), (6, 7), (7, 5)], (5, 6), [(7, 5), (5, 6)]),
])
def test_the_chain_guard(tmp_path: Path, stored: list[tuple[int, int]], new: tuple[int, int],
                         kept: list[tuple[int, int]]) -> None:
    store = open_shared(str(tmp_path / "db"))
    try:
        with Transaction(store) as txn:
            for version, (a, b) in enumerate([*stored, new], start=1):
                txn.keep_changeset(42, Changeset(version, _soa(a), _soa(b)), JournalLimits())
        with store.zones_env.begin() as txn:
            assert [(c.from_serial, c.to_serial) for c in read_journal(txn, 42)] == kept
    finally:
        store.close()


def test_an_edit_while_down_is_a_changeset_at_start(tmp_path: Path) -> None:
    from dnsbackend.store.format import ServedSettings
    from dnsbackend.update.jobs import sync_policy_job
    from dnsbackend.update.policy import ZonePolicy

    files = Files(tmp_path)
    files.load(render({"www": [("A", 300, "192.0.2.1")]}, 1))
    files.store().close()
    files.path.write_text(render({"www": [("A", 300, "192.0.2.2")]}, 2))  # "while down"
    outcomes = sync_policy_job(str(files.data), ZonePolicy(str(files.zones.resolve())).pack(),
                               ServedSettings().pack())
    assert [o.action for o in outcomes] == [Action.LOADED]
    assert _journal(files) == [(1, 2)]
    files.store().close()


# -- what an edit of a big zone costs the store -------------------------------------------

def _written_bytes() -> int:
    """Bytes this process has handed to write(2) and friends so far (/proc/self/io wchar):
    what LMDB writes, whether or not it reaches a disk."""
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("wchar:")).split()[1])


def test_a_one_record_edit_of_a_million_records_writes_under_a_mebibyte(tmp_path: Path) -> None:
    from dnsbackend.store.format import STATUS_OK, ZoneEntry, with_serial
    from dnsbackend.store.transaction import Diff
    from dnsbackend.wire.codes import SOA

    records = 1_000_000
    text = big_zone(records)
    contents = zone_nodes(parse_text(text, dns.name.from_text(ORIGIN), "z"))
    del text
    store = open_shared(str(tmp_path / "db"))
    try:
        with Transaction(store) as txn:
            version = txn.put_zone(contents, ZoneEntry(ORIGIN, status=STATUS_OK))
        data_file = tmp_path / "db" / "zones" / "data.mdb"
        size_before = data_file.stat().st_blocks * 512
        apex_node = contents.nodes[APEX]
        per_edit = []
        for serial in range(2, 22):
            owner = bytes([len(f"host{serial}")]) + f"host{serial}".encode() + APEX
            before = {owner: contents.nodes[owner], APEX: apex_node}
            node: Node = {1: (300, (bytes([10, 99, 0, serial]),))}
            ttl, (soa,) = apex_node[SOA]
            apex_node = {**apex_node, SOA: (ttl, (with_serial(soa, serial),))}
            contents.nodes[owner] = node
            contents.nodes[APEX] = apex_node
            contents.meta.serial = serial
            diff = Diff(version, {owner: node, APEX: apex_node}, before)
            start = _written_bytes()
            with Transaction(store) as txn:
                version = txn.put_zone(contents, ZoneEntry(ORIGIN, status=STATUS_OK), diff,
                                       JournalLimits())
                txn.collect_garbage(grace=0)
            per_edit.append(_written_bytes() - start)
        size_after = data_file.stat().st_blocks * 512
        assert max(per_edit) < 1 << 20, per_edit
        assert size_after <= size_before * 1.10, (size_before, size_after)
        with store.zones_env.begin() as txn:
            assert len(read_journal(txn, store.entries()[APEX].zone_id)) == 20
    finally:
        store.close()


def test_the_next_edit_is_diffed_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = Files(tmp_path)
    files.load(render({"www": [("A", 300, "192.0.2.1")]}, 1))

    def no_read(*args: object) -> None:
        raise AssertionError("the served version was read for the diff")

    monkeypatch.setattr(jobs, "read_version", no_read)
    files.load(render({"www": [("A", 300, "192.0.2.2")]}, 2))
    assert _journal(files) == [(1, 2)]
    files.store().close()
    jobs._recent.clear()


# -- the chain index (covering NSEC) over delta versions and their freeing ---------------

CHAIN_NAMES = ["a", "b", "b.a", "z.b.a", "c", "\\000", "\\001", "\\001\\000", "zz", "m.zz",
               "*.w", "x.w", "ns"]
chain_edit = st.tuples(st.sampled_from(CHAIN_NAMES), st.booleans(), st.booleans())


def _chain_zone(nsec: dict[str, bool]) -> Zone:
    """Each name with a TXT record, and an NSEC record where `nsec` says (the apex always)."""
    zone: Zone = {"@": [("NSEC", 300, "a.delta.test. NS SOA NSEC")]}
    for name, has in nsec.items():
        zone[name] = [("TXT", 300, '"x"')] + ([("NSEC", 300, "@ TXT NSEC")] if has else [])
    return zone


def _covering_by_brute_force(text: str, name: dns.name.Name) -> dns.name.Name:
    zone = dns.zone.from_text(text, origin=ORIGIN, relativize=False)
    owners = sorted(n for n, node in zone.nodes.items()
                    if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC))
    below = [owner for owner in owners if owner <= name]
    return below[-1] if below else owners[-1]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(chain_edit, min_size=1, max_size=8))
def test_the_chain_index_covers_as_from_scratch_over_edits_and_freeing(
        edits: list[tuple[str, bool, bool]]) -> None:
    """After each edit (an NSEC record added or removed at a name, the name kept or
    dropped), and again once the version it replaced is freed, covering_nsec gives the
    owner a sort of the version's NSEC owners gives; a removed zone leaves no key."""
    probes = [dns.name.from_text(f"{label}{name}.{ORIGIN}") for name in CHAIN_NAMES
              for label in ("", "0.", "~.")] + [dns.name.from_text(ORIGIN)]
    nsec: dict[str, bool] = {"a": True, "x.w": True}
    with tempfile.TemporaryDirectory() as tmp:
        files = Files(Path(tmp))
        files.load(render(_chain_zone(nsec), 1))
        store = files.store()
        try:
            for step, (name, has, drop) in enumerate(edits, start=2):
                if drop:
                    nsec.pop(name, None)
                else:
                    nsec[name] = has
                text = render(_chain_zone(nsec), step)
                files.load(text)
                for freed in (False, True):
                    if freed:
                        with Transaction(store) as txn:
                            txn.collect_garbage(grace=0)
                    view = Reader(store).snapshot().find_zone(APEX)
                    assert view is not None
                    for probe in probes:
                        wire = probe.to_wire()
                        assert wire is not None
                        got = dns.name.from_wire(view.covering_nsec(wire.lower()), 0)[0]
                        assert got == _covering_by_brute_force(text, probe), (probe, freed)
            with Transaction(store) as txn:
                txn.remove_zone(APEX)
            with Transaction(store) as txn:
                txn.collect_garbage(grace=0)
            with store.zones_env.begin() as txn:
                assert [bytes(k) for k, _ in txn.cursor()] == []
        finally:
            store.close()
