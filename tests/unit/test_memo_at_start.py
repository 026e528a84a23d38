"""The memo at start: a writer started afresh reads an unchanged zone file once (a warm job)
and keeps it as the memo of the served version only when that version holds exactly what
the file says; the next edit is then read where it changed and stored as from scratch."""

from __future__ import annotations

import os
from pathlib import Path

import dns.name

from dnsbackend.store.database import open_shared
from dnsbackend.store.format import STATUS_OK, Node, ServedSettings, ZoneEntry, soa_fields
from dnsbackend.store.transaction import Transaction, read_journal, read_version
from dnsbackend.update import jobs, signing
from dnsbackend.update.outcome import Action, Outcome, Read
from dnsbackend.update.policy import ZonePolicy
from dnsbackend.zone.files import digest_files, origin_key

from .test_delta import Zone, nodes_of, render
from .test_sign_jobs import SignedZone, zone_text

ORIGIN = "delta.test."
APEX = origin_key(dns.name.from_text(ORIGIN))
HOSTS = 300


Journal = list[tuple[int, int, set[bytes], set[bytes]]]


def hosts(changed: int = -1, address: str = "10.9.9.9", extra: int = 0) -> Zone:
    zone = {f"h{i}": [("A", 300, f"10.0.{i // 250}.{i % 250 + 1}")] for i in range(HOSTS)}
    if changed >= 0:
        zone[f"h{changed}"] = [("A", 300, address)]
    for i in range(extra):
        zone[f"x{i}"] = [("A", 300, f"192.0.2.{i + 1}")]
    return zone


class Writer:
    """A zone file, its store, and the jobs of one zone writer process (restartable)."""

    def __init__(self, root: Path) -> None:
        self.zones = root / "zones"
        self.zones.mkdir(parents=True)
        self.path = os.path.realpath(self.zones / f"{ORIGIN}zone")
        self.data = str(root / "db")

    def job(self, text: str | None = None, warm: bool = False) -> Outcome:
        if text is not None:
            Path(self.path).write_text(text)
        outcomes, _ = jobs.load_zone_job(self.data, os.path.dirname(self.path), ORIGIN,
                                         self.path, warm)
        assert outcomes[0].action in (Action.LOADED, Action.KEPT), outcomes[0]
        return outcomes[0]

    def restart(self) -> None:
        """What a writer process started afresh knows: nothing."""
        jobs._recent.clear()
        signing._signed.clear()

    def entry(self) -> ZoneEntry:
        return open_shared(self.data).entries()[APEX]

    def memo(self) -> jobs.Memo | None:
        return jobs._recalled(open_shared(self.data), self.entry(), self.path)

    def served(self) -> dict[bytes, Node]:
        entry = self.entry()
        with open_shared(self.data).zones_env.begin() as rtxn:
            return dict(read_version(rtxn, entry.zone_id, entry.version))

    def journal(self) -> Journal:
        """(from serial, to serial, removed owners, added owners) of each changeset."""
        entry = self.entry()
        with open_shared(self.data).zones_env.begin() as rtxn:
            return [(c.from_serial, soa_fields(c.new_soa[1])[0], {r[0] for r in c.removed},
                     {r[0] for r in c.added}) for c in read_journal(rtxn, entry.zone_id)]

    def close(self) -> None:
        open_shared(self.data).close()
        self.restart()


def test_a_restarted_writer_reads_the_first_edit_where_it_changed(tmp_path: Path) -> None:
    writer = Writer(tmp_path)
    try:
        assert writer.job(render(hosts(), 1)).read == Read(0, full=True)
        writer.restart()
        assert writer.memo() is None
        assert writer.job().action is Action.KEPT  # unchanged: not read, nothing kept
        assert writer.memo() is None
        kept = writer.job(warm=True)
        assert kept.action is Action.KEPT
        memo = writer.memo()
        assert memo is not None and memo.version == writer.entry().version
        text = render(hosts(7), 2)
        loaded = writer.job(text)
        assert loaded.action is Action.LOADED and loaded.read is not None
        assert not loaded.read.full and 0 < loaded.read.lines < 100
        assert writer.served() == nodes_of(text)
        h7 = b"\x02h7" + APEX
        assert writer.journal()[-1][:2] == (1, 2)
        assert h7 in writer.journal()[-1][2] and h7 in writer.journal()[-1][3]
    finally:
        writer.close()


def _serial_policy_run(root: Path, warm: bool) -> tuple[dict[bytes, Node], Journal]:
    """Serial 5 in the file; a change without raising it is served as 6; a restart; an
    append, still serial 5: served as 7."""
    writer = Writer(root)
    try:
        writer.job(render(hosts(), 5))
        assert writer.job(render(hosts(3), 5)).serial == 6
        writer.restart()
        if warm:
            writer.job(warm=True)
            assert writer.memo() is not None  # the served serial taken into the memo
        loaded = writer.job(render(hosts(3, extra=1), 5))
        assert loaded.serial == 7 and loaded.read is not None and loaded.read.full != warm
        return writer.served(), writer.journal()
    finally:
        writer.close()


def test_the_memo_holds_the_serial_the_serial_policy_served(tmp_path: Path) -> None:
    served, journal = _serial_policy_run(tmp_path / "warm", warm=True)
    assert (served, journal) == _serial_policy_run(tmp_path / "cold", warm=False)
    assert [j[:2] for j in journal] == [(5, 6), (6, 7)]


def test_a_version_unlike_its_file_is_not_taken_as_its_memo(tmp_path: Path) -> None:
    writer = Writer(tmp_path)
    try:
        writer.job(render(hosts(), 1))
        # What the store holds no longer matches what the file reads as (as after a
        # change of the parser): the entry says the file is the one the version came from.
        Path(writer.path).write_text(render(hosts(9), 1))
        with Transaction(open_shared(writer.data)) as txn:
            entry = txn.entry(APEX)
            assert entry is not None
            entry.hash = digest_files([writer.path])
            txn.set_entry(APEX, entry)
        writer.restart()
        assert writer.job(warm=True).action is Action.KEPT
        assert writer.memo() is None
        text = render(hosts(9, extra=1), 2)
        assert writer.job(text).read == Read(0, full=True)
        assert writer.served() == nodes_of(text)  # h9 too: diffed against the store
    finally:
        writer.close()


def test_a_signed_version_is_not_taken_as_its_memo(tmp_path: Path) -> None:
    zone = SignedZone(tmp_path, "nsec")
    try:
        zone.save(zone_text(1, {f"h{i}": 300 for i in range(10)}))
        jobs._recent.clear()
        signing._signed.clear()
        outcomes, _ = jobs.load_zone_job(zone.data, zone.policy.zones_dir, "signed.test.",
                                         str(zone.path), True)
        assert outcomes[0].action is Action.KEPT
        store = open_shared(zone.data)
        entry = store.entries()[origin_key(dns.name.from_text("signed.test."))]
        assert jobs._recalled(store, entry, str(zone.path)) is None
    finally:
        open_shared(zone.data).close()
        jobs._recent.clear()
        signing._signed.clear()


def test_worth_warming_takes_the_largest_served_zones_a_writer_keeps() -> None:
    def entry(origin: str, records: int, version: int = 1) -> ZoneEntry:
        return ZoneEntry(origin, file=f"/z/{origin}zone", status=STATUS_OK, version=version,
                         records=records)

    included = entry("included.", 60_000)
    included.includes = ["/z/part"]
    entries = [entry("small.", jobs.WARM_RECORDS - 1), entry("big.", 1_500_000),
               entry("gone.", 50_000, version=0), entry("mid.", 400_000), included,
               entry("more.", 300_000), entry("fits.", jobs.WARM_RECORDS)]
    # 1,500,000 + 400,000 kept; 300,000 more would not fit; the next one does (a zone
    # with includes is read in full anyway)
    assert jobs.worth_warming(entries) == [("big.", "/z/big.zone"), ("mid.", "/z/mid.zone"),
                                           ("fits.", "/z/fits.zone")]


def test_the_start_up_sync_keeps_what_it_loads_when_asked(tmp_path: Path) -> None:
    writer = Writer(tmp_path)
    policy = ZonePolicy(os.path.dirname(writer.path)).pack()
    try:
        Path(writer.path).write_text(render(hosts(), 1))
        jobs.sync_policy_job(writer.data, policy, ServedSettings().pack())  # the catalog's
        assert writer.memo() is None
        Path(writer.path).write_text(render(hosts(5), 2))  # changed while down
        writer.restart()
        (outcome,) = jobs.sync_policy_job(writer.data, policy, ServedSettings().pack(), True)
        assert outcome.action is Action.LOADED and outcome.read == Read(0, full=True)
        memo = writer.memo()
        assert memo is not None and memo.version == writer.entry().version
        text = render(hosts(5, extra=1), 3)
        loaded = writer.job(text)
        assert loaded.read is not None and not loaded.read.full
        assert writer.served() == nodes_of(text)
    finally:
        writer.close()
