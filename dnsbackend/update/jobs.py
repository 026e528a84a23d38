"""Write jobs of the two watchers, run in writer processes: parse first, then one transaction.

A parse holds the GIL for as long as it takes (seconds for a large zone), so it never runs
in the serving process. Each job parses before it takes any lock; its transaction (catalog
lock, then zones lock, through store.transaction.Transaction) re-reads the stored zone
policy and the zone's entry, so two writers racing on one zone cannot undo each other: a
result read from an older file than the one already applied is dropped as superseded.
These jobs are the one write path: the server, the tests and the benchmarks all call them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace

import dns.name

from ..store.database import POLICY_KEY, SERVED_KEY, Store, open_shared
from ..store.delta import diff_nodes
from ..store.format import (
    STATUS_ERROR,
    STATUS_OK,
    Node,
    ServedSettings,
    ZoneContents,
    ZoneEntry,
    with_serial,
)
from ..store.testpause import pause_at
from ..store.transaction import Diff, Transaction, read_version
from ..wire.codes import SOA
from ..zone.build import Built, FileChanged, build_zone
from ..zone.files import Stamp, digest_files, file_stamp, include_root, origin_key
from ..zone.incremental import Memo, Rebuilt, full_build, rebuild
from ..zone.records import ZoneFileError
from . import catalogzone, signing
from .outcome import Action, Outcome, Read
from .policy import SERIAL_STRICT, WantedZone, ZonePolicy
from .process import release_memory

READ_ATTEMPTS = 5  # reads of a file that keeps changing under us before we take what we got


@dataclass
class Parsed:
    """One read of a zone file, done before any lock is taken."""

    built: Built | None  # None when the file was rejected
    error: str  # `file:line: message` when it was
    stamp: Stamp | None  # file_stamp() before reading
    digest: str  # of the content read
    diff: Diff | None = None  # against the version served when it was read (see with_diff)
    includes: list[str] = field(default_factory=list)  # of a rejected file: what it included
    rebuilt: Rebuilt | None = None  # when read to be remembered (zone.incremental)
    plain_diff: bool = False  # the diff is against the served version's nodes as read (the
    # memo), not as stored: for a signed zone, the owners whose unsigned content changed


def warm_up(data_dir: str) -> None:
    """Open the store ahead of the first job."""
    open_shared(data_dir)


def _origin_lower(origin: str) -> bytes:
    return origin_key(dns.name.from_text(origin))


def parse_zone(wanted: WantedZone, zones_dir: str, memo: Memo | None = None,
               remember: bool = False) -> Parsed:
    """Read one zone file (again, while it changes under us; at most READ_ATTEMPTS times);
    to be remembered, only what changed since the memo's text when it can
    (zone.incremental)."""
    origin = dns.name.from_text(wanted.origin)
    for attempt in range(READ_ATTEMPTS):
        stamp = file_stamp(wanted.file)
        try:
            root = include_root(wanted.file, zones_dir)
            rebuilt = None
            if memo is not None:
                rebuilt = rebuild(memo, wanted.file, origin, root)
            elif remember:
                rebuilt = full_build(wanted.file, origin, root)
            built = build_zone(wanted.file, origin, root) if rebuilt is None else rebuilt.built
            pause_at("parse")  # test-only, off by default (store/testpause.py)
            return Parsed(built, "", stamp, built.digest, rebuilt=rebuilt)
        except FileChanged:
            if attempt == READ_ATTEMPTS - 1:
                return Parsed(None, f"{wanted.file}:1: file keeps changing while it is read",
                              stamp, digest_files([wanted.file]))
            time.sleep(0.01 * (attempt + 1))
        except ZoneFileError as exc:
            return Parsed(None, str(exc), stamp, digest_files([wanted.file, *exc.includes]),
                          includes=exc.includes)
    raise AssertionError("unreachable")


def needs_load(entry: ZoneEntry | None, path: str) -> bool:
    """Whether a file differs from what the store holds for it."""
    if entry is None:
        return True
    digest = digest_files([path, *entry.includes])
    if entry.status == STATUS_ERROR and entry.failed_hash == digest and digest:
        return False  # the same broken content: nothing new to say
    return not (entry.version and entry.hash == digest and entry.file == path)


def apply_parsed(txn: Transaction, policy: ZonePolicy, origin_lower: bytes,
                 wanted: WantedZone, parsed: Parsed) -> Outcome:
    """Inside the transaction: put a parsed zone (or its error) if it is still wanted and new."""
    origin = wanted.origin
    if (refused := catalogzone.clash(policy, origin_lower, wanted.file)) is not None:
        return refused
    decided = policy.decide(origin_lower, wanted.file)
    if decided is None:
        return Outcome(origin, Action.IGNORED, wanted.file)
    entry = txn.entry(origin_lower)
    if entry is not None and _stale(entry, wanted, parsed):
        return Outcome(origin, Action.SUPERSEDED, wanted.file)
    disabled = not decided.enabled
    built = parsed.built
    if built is None:
        failed = entry or ZoneEntry(origin)
        failed.file = wanted.file
        failed.status = STATUS_ERROR
        failed.error = parsed.error
        failed.failed_hash = parsed.digest
        failed.disabled = disabled
        if parsed.includes:  # watched from now on, so that creating a missing one counts
            failed.includes = parsed.includes
        txn.set_entry(origin_lower, failed)
        return Outcome(origin, Action.FAILED, wanted.file, failed.serial, error=parsed.error,
                       version=failed.version)
    if entry and entry.version and entry.hash == built.digest:
        return _kept(txn, origin_lower, entry, wanted, parsed, disabled)
    return _put(txn, policy, origin_lower, entry, decided, wanted, parsed, built, disabled)


def _stale(entry: ZoneEntry, wanted: WantedZone, parsed: Parsed) -> bool:
    """Whether a newer read of the file is served already. Two jobs may read one file at
    once (the zone watcher's and the policy sync's) and commit in either order. File
    times come from a coarse clock: two saves within one tick have the same ctime, so at
    the same ctime the read is stale if the file has changed since (a newer read, or one
    to come, has it; the serial policy would otherwise serve the older text as new)."""
    changed_at = parsed.stamp[0] if parsed.stamp else 0
    if entry.ctime_ns != changed_at:
        return entry.ctime_ns > changed_at
    return parsed.stamp is not None and file_stamp(wanted.file) != parsed.stamp


def _kept(txn: Transaction, origin_lower: bytes, entry: ZoneEntry, wanted: WantedZone,
          parsed: Parsed, disabled: bool) -> Outcome:
    """The file holds what is served: say so in the entry, serve on."""
    built = parsed.built
    entry.status = STATUS_OK
    entry.error = ""
    entry.disabled = disabled
    entry.ctime_ns = parsed.stamp[0] if parsed.stamp else 0
    entry.file = wanted.file
    if built is not None:  # the same records in other words (comments, spacing, order)
        entry.hash = built.digest
        entry.includes = built.includes
        entry.file_serial = built.contents.meta.serial
    txn.set_entry(origin_lower, entry)
    return Outcome(wanted.origin, Action.KEPT, wanted.file, entry.serial, entry.records,
                   version=entry.version)


def _put(txn: Transaction, policy: ZonePolicy, origin_lower: bytes, entry: ZoneEntry | None,
         decided: WantedZone, wanted: WantedZone, parsed: Parsed, built: Built,
         disabled: bool) -> Outcome:
    """A new version of the zone: written as a delta against the served one, under the
    serial policy, its changeset kept in the journal."""
    contents = built.contents
    if decided.signing is not None:  # signed as a copy: what was read stays as read (memo)
        contents = ZoneContents(replace(contents.meta), contents.nodes)
    meta = contents.meta
    file_serial = meta.serial
    warnings = list(built.warnings)
    diff = None
    try:
        if entry is not None and entry.version and entry.zone_id:
            diff = _new_diff(txn, entry, contents, decided, parsed, warnings)
            if not diff.changes:
                return _kept(txn, origin_lower, entry, wanted, parsed, disabled)
            if not serial_gt(file_serial, entry.serial):
                if policy.serial_policy(decided) == SERIAL_STRICT:
                    return _refused_serial(txn, origin_lower, entry, wanted, parsed, disabled)
                served = next_serial(entry.serial)
                _serve_serial(txn, contents, diff, served, entry, decided)
                warnings.append(f"{wanted.file}: SOA serial {file_serial} is not above the "
                                f"served {entry.serial}; serving {served} (serial policy auto)")
        elif decided.signing is not None:
            signing.sign_contents(txn, contents, decided.signing, None, warnings)
    except signing.SigningFailed as exc:
        return _failed(txn, origin_lower, entry, wanted, parsed, disabled,
                       f"{wanted.file}: cannot sign the zone: {exc}")
    limits = policy.journal_limits(decided)
    version = txn.put_zone(contents, ZoneEntry(
        wanted.origin, file=wanted.file, includes=built.includes, hash=built.digest,
        status=STATUS_OK, loaded_at=time.time(), load_seconds=built.seconds,
        ctime_ns=parsed.stamp[0] if parsed.stamp else 0, disabled=disabled,
        file_serial=file_serial), diff, limits)
    if decided.signing is not None:
        signing.written(txn.store.path, origin_lower, version, contents, decided.signing)
    return Outcome(wanted.origin, Action.LOADED, wanted.file, meta.serial, meta.records,
                   built.seconds, version=version, warnings=warnings, read=_how_read(parsed))


def _how_read(parsed: Parsed) -> Read:
    rebuilt = parsed.rebuilt
    if rebuilt is not None and rebuilt.base:
        return Read(rebuilt.lines)
    return Read(0, full=True)


def _new_diff(txn: Transaction, entry: ZoneEntry, contents: ZoneContents,
              decided: WantedZone, parsed: Parsed, warnings: list[str]) -> Diff:
    """How the new version differs from the served one: for a signed zone, once signed
    (the served version's signatures reused where they hold)."""
    if decided.signing is not None:
        plain = parsed.diff if parsed.plain_diff and parsed.diff is not None and \
            parsed.diff.base == entry.version else None
        return signing.signed_diff(txn, entry, contents, decided.signing, warnings,
                                   plain=plain)
    diff = parsed.diff
    if diff is None or diff.base != entry.version:
        diff = txn.diff(entry.zone_id, entry.version, contents)
    return diff


def _serve_serial(txn: Transaction, contents: ZoneContents, diff: Diff, served: int,
                  entry: ZoneEntry, decided: WantedZone, now: int | None = None) -> None:
    """The serial policy's serial instead of the file's (the apex signed again if signed)."""
    apex = contents.meta.origin.lower()
    previous = dict(contents.nodes[apex])
    _set_serial(contents, diff, served, txn.node_at(entry.zone_id, entry.version, apex))
    if decided.signing is not None:
        signing.resign_apex(txn, contents, decided.signing, previous, now)


def _failed(txn: Transaction, origin_lower: bytes, entry: ZoneEntry | None,
            wanted: WantedZone, parsed: Parsed, disabled: bool, error: str) -> Outcome:
    """A zone that cannot be served as it is now: the last good version stays."""
    failed = entry or ZoneEntry(wanted.origin)
    failed.file = wanted.file
    failed.status = STATUS_ERROR
    failed.error = error
    failed.failed_hash = parsed.digest
    failed.disabled = disabled
    txn.set_entry(origin_lower, failed)
    return Outcome(wanted.origin, Action.FAILED, wanted.file, failed.serial, error=error,
                   version=failed.version)


def _refused_serial(txn: Transaction, origin_lower: bytes, entry: ZoneEntry,
                    wanted: WantedZone, parsed: Parsed, disabled: bool) -> Outcome:
    """Serial policy strict: a change without a higher serial is a bad edit."""
    assert parsed.built is not None
    file_serial = parsed.built.contents.meta.serial
    return _failed(txn, origin_lower, entry, wanted, parsed, disabled,
                   f"{wanted.file}: SOA serial {file_serial} is not above the served "
                   f"{entry.serial}; raise it (serial policy strict)")


def next_serial(serial: int) -> int:
    """The serial after `serial` (RFC 1982: it wraps around 2**32)."""
    return (serial + 1) & 0xFFFFFFFF


def _set_serial(contents: ZoneContents, diff: Diff, serial: int, old_apex: Node | None) -> None:
    """Serve `contents` under another SOA serial: its apex changes, in the diff too."""
    meta = contents.meta
    apex = meta.origin.lower()
    node = contents.nodes[apex]
    ttl, (rdata,) = node[SOA]
    meta.soa_rdata = with_serial(rdata, serial)
    meta.serial = serial
    node[SOA] = (ttl, (meta.soa_rdata,))
    diff.changes[apex] = node
    if apex not in diff.before and old_apex is not None:
        diff.before[apex] = old_apex


def with_diff(store: Store, origin_lower: bytes, parsed: Parsed) -> Parsed:
    """The diff against the served version, computed before the transaction (no lock) so
    that the transaction only checks that this version is still the one served. Against the
    nodes this process wrote last for the zone when it still serves them (no read at all),
    else against the store."""
    if parsed.built is None:
        return parsed
    if parsed.rebuilt is not None and parsed.rebuilt.base:  # read against a version: its diff
        rebuilt = parsed.rebuilt
        parsed.diff = Diff(rebuilt.base, rebuilt.changes, rebuilt.before)
        parsed.plain_diff = True
        return parsed
    entry = store.entries().get(origin_lower)
    if entry is None or not entry.version or not entry.zone_id or \
            entry.hash == parsed.built.digest:
        return parsed
    new = parsed.built.contents.nodes
    recent = _recent.get((store.path, entry.zone_id))
    if recent is not None and recent.version == entry.version:
        changes, before = diff_nodes(recent.nodes, new)
        parsed.plain_diff = True
    else:
        with store.zones_env.begin() as rtxn:
            changes, before = diff_nodes(read_version(rtxn, entry.zone_id, entry.version), new)
    parsed.diff = Diff(entry.version, changes, before)
    return parsed


# The nodes of the versions this writer process wrote last, by (store, zone id), and the
# text they were read from: the next edit of a big zone is then read again only where it
# changed (zone.incremental) and diffed in memory, not against a read of the whole zone.
# The zone watcher sends a zone's jobs to the writer that did its last one when it is free.
RECENT_RECORDS = 2_000_000  # kept at most (some 870 bytes of RSS a record: 830 MiB at 1M mixed)
WARM_RECORDS = 10_000  # zones from this size on are read at start to keep their memo
_recent: dict[tuple[str, int], Memo] = {}


def worth_warming(entries: list[ZoneEntry]) -> list[tuple[str, str]]:
    """The zones to read at start so that their next edit finds a memo (load_zone_job,
    warm): (origin, file) of those served from a file with WARM_RECORDS or more, the
    largest first, as many as a writer keeps; a smaller zone parses fast enough, and a
    file with includes is always read in full (zone.incremental)."""
    chosen: list[tuple[str, str]] = []
    total = 0
    for entry in sorted(entries, key=lambda e: e.records, reverse=True):
        if entry.records < WARM_RECORDS:
            break
        if entry.version and entry.status == STATUS_OK and entry.file and \
                not entry.includes and total + entry.records <= RECENT_RECORDS:
            chosen.append((entry.origin, entry.file))
            total += entry.records
    return chosen


def _remember(store: Store, entry: ZoneEntry | None, contents: ZoneContents,
              rebuilt: Rebuilt | None = None) -> None:
    if entry is None or not entry.zone_id:
        return
    key = (store.path, entry.zone_id)
    _recent.pop(key, None)
    if contents.meta.records > RECENT_RECORDS:
        return
    _recent[key] = Memo(entry.version, contents.nodes, contents.meta.records,
                        rebuilt.text if rebuilt is not None else None)
    while sum(r.records for r in _recent.values()) > RECENT_RECORDS:
        del _recent[next(iter(_recent))]  # the oldest first


def _adopt(store: Store, entry: ZoneEntry, parsed: Parsed) -> None:
    """A full read of the text the served version was made from (the same digest), kept as
    the memo of that version if the version holds exactly what was read, but for the SOA
    serial, which the serial policy may have set: checked owner by owner against the
    store (the parser may have changed since the version was written). A signed version
    holds more than the text (its signatures): no memo; its next edit is read in full."""
    rebuilt, built = parsed.rebuilt, parsed.built
    if rebuilt is None or rebuilt.base or rebuilt.text is None or built is None or \
            built.contents.meta.records != entry.records:
        return
    nodes = built.contents.nodes
    apex = built.contents.meta.origin.lower()
    ttl, (soa,) = nodes[apex][SOA]
    served_apex = {**nodes[apex], SOA: (ttl, (with_serial(soa, entry.serial),))}
    owners = 0
    with store.zones_env.begin() as rtxn:
        for owner, node in read_version(rtxn, entry.zone_id, entry.version):
            if node != (served_apex if owner == apex else nodes.get(owner)):
                return
            owners += 1
    if owners != len(nodes):
        return
    nodes[apex] = served_apex
    _remember(store, entry, built.contents, rebuilt)


def _recalled(store: Store, entry: ZoneEntry | None, path: str) -> Memo | None:
    """What this writer remembers of the zone's served version and its file's text."""
    if entry is None or not entry.zone_id:
        return None
    memo = _recent.get((store.path, entry.zone_id))
    if memo is None or memo.version != entry.version or memo.text is None or \
            memo.text.path != path:
        return None
    return memo


def _forget(store: Store, entry: ZoneEntry | None, parsed: Parsed) -> None:
    """A read against the memo that was not applied: its nodes put back, the memo dropped
    (what it kept of the text was made for the version that was not written)."""
    rebuilt = parsed.rebuilt
    if rebuilt is not None and rebuilt.undo is not None:
        rebuilt.undo()
        if entry is not None:
            _recent.pop((store.path, entry.zone_id), None)


def serial_warnings(path: str, old: int, new: int) -> list[str]:
    """What to say when a zone's content changed but its SOA serial did not go up (in serial
    number arithmetic, RFC 1982): its secondaries would keep the old content."""
    if new == old:
        return [f"{path}: content changed but SOA serial {new} was not raised; secondaries "
                "will not notice this change"]
    if not serial_gt(new, old):
        return [f"{path}: SOA serial went down from {old} to {new}; secondaries will not "
                "notice this change (their serial counts as newer)"]
    return []


def serial_gt(a: int, b: int) -> bool:
    """a > b in serial number arithmetic (RFC 1982, 32 bits)."""
    return a != b and ((a - b) & 0xFFFFFFFF) < 0x80000000


def _stored_policy(txn: Transaction, fallback: ZonePolicy) -> ZonePolicy:
    raw = txn.catalog_value(POLICY_KEY)
    try:
        return ZonePolicy.unpack(raw) if raw is not None else fallback
    except ValueError:  # stored by an older version: the policy job at start replaces it
        return fallback


def load_zone_job(data_dir: str, zones_dir: str, origin: str, path: str,
                  warm: bool = False) -> tuple[list[Outcome], Stamp | None]:
    """The zone watcher's job: a zone file was created or changed (or an include of it).
    `warm` (at start): a file unchanged since the served version is read too, so that this
    writer keeps the memo the zone's next edit is read against (_adopt)."""
    store = open_shared(data_dir)
    origin_lower = _origin_lower(origin)
    wanted = WantedZone(origin, ZonePolicy(zones_dir).zone_file(path))
    if not os.path.exists(path):
        return remove_if_gone(store, origin_lower, wanted), None
    entry = store.entries().get(origin_lower)
    memo = _recalled(store, entry, wanted.file)  # (then the read below says if it is the same)
    if memo is None and _served(entry, wanted) and not warm:
        stamp = file_stamp(path)
        if entry is not None and entry.hash == digest_files([path, *entry.includes]):
            return [Outcome(origin, Action.KEPT, path, entry.serial)], stamp
    signing.begin_job()
    parsed = with_diff(store, origin_lower, parse_zone(wanted, zones_dir, memo, remember=True))
    if parsed.built is not None and _served(entry, wanted) and entry is not None and \
            entry.hash == parsed.built.digest:
        if memo is None:  # read in full: what the served version was made from
            _adopt(store, entry, parsed)
            release_memory(entry.records)
        return [Outcome(origin, Action.KEPT, path, entry.serial)], parsed.stamp
    written = None
    try:
        with Transaction(store) as txn:
            policy = _stored_policy(txn, ZonePolicy(zones_dir))
            outcome = apply_parsed(txn, policy, origin_lower, wanted, parsed)
            outcomes = [outcome, *catalogzone.refresh(txn, policy, origin_lower)]
            txn.collect_garbage()
            written = txn.entry(origin_lower) if outcome.action is Action.LOADED else None
    finally:
        if written is None:
            _forget(store, entry, parsed)
    signing.committed(store.path)
    if written is not None and parsed.built is not None:
        _remember(store, written, parsed.built.contents, parsed.rebuilt)
    if parsed.rebuilt is None or not parsed.rebuilt.base:
        release_memory(outcome.records)  # after a full parse (a re-read frees little)
    return outcomes, parsed.stamp


def _served(entry: ZoneEntry | None, wanted: WantedZone) -> bool:
    """Whether the zone is served from this file (so that the same content is no news)."""
    return bool(entry and entry.version and entry.status == STATUS_OK and
                entry.file == wanted.file)


def remove_if_gone(store: Store, origin_lower: bytes, wanted: WantedZone) -> list[Outcome]:
    """A zone file was deleted: stop serving its zone, if it is still gone (and take it
    out of the catalog zone in the same transaction)."""
    with Transaction(store) as txn:
        entry = txn.entry(origin_lower)
        if entry is None or entry.file != wanted.file or os.path.exists(wanted.file):
            return [Outcome(wanted.origin, Action.IGNORED, wanted.file)]
        policy = _stored_policy(txn, ZonePolicy(os.path.dirname(wanted.file)))
        txn.remove_zone(origin_lower)
        if origin_lower in policy.explicit:
            # Listed in the settings: keep the entry to say why it is not served.
            entry.version = 0
            entry.status = STATUS_ERROR
            entry.error = f"{wanted.file}: file is missing"
            txn.set_entry(origin_lower, entry)
        listed = catalogzone.refresh(txn, policy, origin_lower)
        txn.collect_garbage()
    return [Outcome(entry.origin or wanted.origin, Action.REMOVED, wanted.file), *listed]


def sync_policy_job(data_dir: str, packed_policy: bytes, packed_served: bytes,
                    remember: bool = False) -> list[Outcome]:
    """The settings watcher's job: make the store serve what the zone policy says, and store
    the settings every server answers by.

    Also the start-up reconciliation: zones whose files changed while the server was down
    are parsed again, the rest are kept as stored. `remember` (at start, in the zone
    writer that takes the next edits): the zones loaded are kept as memos, as a zone
    job keeps them.
    """
    store = open_shared(data_dir)
    policy = ZonePolicy.unpack(packed_policy)
    ServedSettings.unpack(packed_served)  # refuse a malformed record before storing it
    wanted = policy.wanted_zones()
    current = store.entries()
    parsed = {origin_lower: with_diff(store, origin_lower,
                                      parse_zone(zone, policy.zones_dir, remember=remember))
              for origin_lower, zone in wanted.items()
              if needs_load(current.get(origin_lower), zone.file)}
    outcomes, loaded = _synced(store, policy, packed_policy, packed_served, wanted, parsed)
    if remember:
        entries = store.entries()
        for origin_lower in loaded:
            built = parsed[origin_lower].built
            assert built is not None
            _remember(store, entries.get(origin_lower), built.contents,
                      parsed[origin_lower].rebuilt)
    release_memory(max((o.records for o in outcomes), default=0))
    return outcomes


def _synced(store: Store, policy: ZonePolicy, packed_policy: bytes, packed_served: bytes,
            wanted: dict[bytes, WantedZone], parsed: dict[bytes, Parsed]) -> tuple[
                list[Outcome], list[bytes]]:
    """The policy sync's transaction: its outcomes, and the zones it put a version of
    as parsed."""
    outcomes: list[Outcome] = []
    loaded: list[bytes] = []
    signing.begin_job()
    with Transaction(store) as txn:
        txn.set_catalog_value(POLICY_KEY, packed_policy)
        txn.set_catalog_value(SERVED_KEY, packed_served)
        catalog = catalogzone.served(txn)
        for origin_lower, entry in txn.entries().items():
            if origin_lower not in wanted and origin_lower != catalog:
                txn.remove_zone(origin_lower)
                outcomes.append(Outcome(entry.origin, Action.REMOVED, entry.file,
                                        error="no longer in the settings"))
        for origin_lower, zone in wanted.items():
            if origin_lower in parsed:
                outcomes.append(apply_parsed(txn, policy, origin_lower, zone,
                                             parsed[origin_lower]))
                if outcomes[-1].action is Action.LOADED:
                    loaded.append(origin_lower)
            else:
                outcomes.append(_set_enabled(txn, origin_lower, zone))
                outcomes += _sign_anew(txn, policy, origin_lower, zone)
        outcomes += catalogzone.refresh(txn, policy)
        txn.collect_garbage()
    signing.committed(store.path)
    return outcomes, loaded


def _sign_anew(txn: Transaction, policy: ZonePolicy, origin_lower: bytes,
               zone: WantedZone) -> list[Outcome]:
    """A served zone whose file did not change but whose signing did (sign = true set now,
    another algorithm or denial): signed from the served version, under the next serial."""
    entry = txn.entry(origin_lower)
    if zone.signing is None or entry is None or not entry.version or \
            not signing.out_of_step(txn, entry, zone.signing):
        return []
    try:
        done = _resign(txn, policy, origin_lower, zone, entry, None, "signed as the settings say")
    except signing.SigningFailed as exc:
        return [Outcome(zone.origin, Action.FAILED, zone.file, entry.serial,
                        error=f"cannot sign the zone: {exc}", version=entry.version)]
    return [] if done is None else [done]


def _set_enabled(txn: Transaction, origin_lower: bytes, zone: WantedZone) -> Outcome:
    entry = txn.entry(origin_lower)
    if entry is None:
        return Outcome(zone.origin, Action.IGNORED, zone.file)
    disabled = not zone.enabled
    if entry.disabled == disabled:
        return Outcome(zone.origin, Action.KEPT, zone.file, entry.serial, entry.records,
                       version=entry.version)
    entry.disabled = disabled
    txn.set_entry(origin_lower, entry)
    return Outcome(zone.origin, Action.DISABLED if disabled else Action.ENABLED, zone.file,
                   entry.serial, entry.records, version=entry.version)


def resign_job(data_dir: str, now: int | None = None) -> list[Outcome]:
    """The periodic refresh of signed zones: the signatures within a quarter of their lifetime
    of expiry are made again, as a new version under the next serial (either serial
    policy: the change is the signer's); a zone with none due is left alone."""
    store = open_shared(data_dir)
    signing.begin_job()
    outcomes: list[Outcome] = []
    with Transaction(store) as txn:
        raw = txn.catalog_value(POLICY_KEY)
        try:
            policy = ZonePolicy.unpack(raw) if raw is not None else None
        except ValueError:
            policy = None
        for origin_lower, wanted in (policy.explicit if policy else {}).items():
            entry = txn.entry(origin_lower)
            if wanted.signing is None or entry is None or not entry.version:
                continue
            assert policy is not None
            try:
                outcome = _resign(txn, policy, origin_lower, wanted, entry, now,
                                  "signatures refreshed")
            except signing.SigningFailed as exc:
                outcome = Outcome(wanted.origin, Action.FAILED, wanted.file, entry.serial,
                                  error=f"cannot refresh its signatures: {exc}",
                                  version=entry.version)
            if outcome is not None:
                outcomes.append(outcome)
        txn.collect_garbage()
    signing.committed(store.path)
    return outcomes


def _resign(txn: Transaction, policy: ZonePolicy, origin_lower: bytes, wanted: WantedZone,
            entry: ZoneEntry, now: int | None, why: str) -> Outcome | None:
    """The served version signed again (what is due, or all of it as `wanted` says), as a
    new version under the next serial; None when that changes nothing."""
    assert wanted.signing is not None
    old = signing.served_nodes(txn, entry)
    contents = signing.served_contents(entry, old)
    warnings: list[str] = []
    diff = signing.signed_diff(txn, entry, contents, wanted.signing, warnings, now, old)
    if not diff.changes:
        return None
    served = next_serial(entry.serial)
    _serve_serial(txn, contents, diff, served, entry, wanted, now)
    fresh = replace(entry, loaded_at=time.time(), load_seconds=0.0)
    version = txn.put_zone(contents, fresh, diff, policy.journal_limits(wanted))
    signing.written(txn.store.path, origin_lower, version, contents, wanted.signing)
    return Outcome(wanted.origin, Action.LOADED, wanted.file, served, contents.meta.records,
                   version=version, warnings=[f"{why}; serving serial {served}"])


def recover_job(data_dir: str) -> tuple[int, bool]:
    """At start: empty a store of another layout (it is rebuilt from the files), and free
    zone versions no catalog entry points at (left by a writer killed between its two
    commits). Returns (versions freed, whether the store was emptied)."""
    with Transaction(open_shared(data_dir)) as txn:
        emptied = txn.reset_if_old_layout()
        freed = txn.free_orphans()
        txn.collect_garbage()
    return freed, emptied
