"""Write jobs of the two watchers, run in writer processes: parse first, then one transaction.

A parse holds the GIL for as long as it takes (seconds for a large zone), so it never runs
in the serving process. Each job parses before it takes any lock; its transaction (catalog
lock, then zones lock, through transaction.Transaction) re-reads the stored catalogue
policy and the zone's entry, so two writers racing on one zone cannot undo each other: a
result read from an older file than the one already applied is dropped as superseded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import faulthandler
import gc
import os
import signal
import time
from typing import Any

import dns.name

from . import loader
from .catalogue import Policy, Wanted
from .loader import Built, FileChanged, Outcome, build_zone, digest_files, file_stamp, needs_load
from .store import POLICY_KEY, Store, open_shared
from .transaction import Transaction
from .zonefile import ZoneFileError

Stamp = tuple[int, int, int]  # loader.file_stamp() of a zone file as it was read
_PR_SET_PDEATHSIG = 1
LARGE_ZONE_RECORDS = 50_000  # zones from this size on are followed by release_memory()
READ_ATTEMPTS = 5  # reads of a file that keeps changing under us before we take what we got


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def die_with_parent(sig: int) -> None:
    """Ask Linux to send `sig` to this process when the process that started it dies."""
    libc = _libc()
    if libc is not None and hasattr(libc, "prctl"):
        libc.prctl(_PR_SET_PDEATHSIG, sig)
    # elsewhere the server stops its writers itself on a clean exit


def release_memory(records: int) -> None:
    """After a large zone, hand the parse's freed memory back to the system (glibc keeps
    it otherwise, and an idle writer would hold hundreds of MB)."""
    if records < LARGE_ZONE_RECORDS:
        return
    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def init_writer_process() -> None:
    """Runs first in every writer process: stacks on SIGUSR1, as in the server."""
    # A writer killed with its server is a crash the store survives (see tests/test_crash.py);
    # a writer that outlives its server is a leak.
    die_with_parent(signal.SIGKILL)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops us in order


def warm_up(data_dir: str) -> None:
    """Open the store ahead of the first job."""
    _store(data_dir)


def _store(data_dir: str) -> Store:
    return open_shared(data_dir)


def _origin_lower(origin: str) -> bytes:
    wire = dns.name.from_text(origin).to_wire()
    assert wire is not None
    return wire.lower()


def _parse(wanted: Wanted, zones_dir: str) -> tuple[Built | str, Stamp | None, str]:
    """Parse one zone file: (built zone or error text, stamp before reading, digest)."""
    origin = dns.name.from_text(wanted.origin)
    for attempt in range(READ_ATTEMPTS):
        stamp = file_stamp(wanted.file)
        try:
            built = build_zone(wanted.file, origin, zones_dir)
            return built, stamp, built.digest
        except FileChanged:
            if attempt == READ_ATTEMPTS - 1:
                return (f"{wanted.file}:0: file keeps changing while it is read", stamp,
                        digest_files([wanted.file]))
            time.sleep(0.01 * (attempt + 1))
        except ZoneFileError as exc:
            return str(exc), stamp, digest_files([wanted.file])
    raise AssertionError("unreachable")


def _apply(txn: Transaction, policy: Policy, origin_lower: bytes, wanted: Wanted,
           parsed: Built | str, stamp: Stamp | None, digest: str) -> Outcome:
    """Inside the transaction: put a parsed zone (or its error) if it is still wanted and new."""
    origin = wanted.origin
    decided = policy.decide(origin_lower, wanted.file)
    if decided is None:
        return Outcome(origin, "ignored", wanted.file)
    entry = txn.entry(origin_lower)
    changed_at = stamp[0] if stamp else 0
    if entry is not None and entry.get("ctime_ns", 0) > changed_at:
        return Outcome(origin, "superseded", wanted.file)
    disabled = not decided.enabled
    if isinstance(parsed, str):
        base = entry or {"origin": origin, "version": 0}
        base.update(file=wanted.file, status="error", error=parsed, failed_hash=digest,
                    disabled=disabled)
        txn.set_entry(origin_lower, base)
        return Outcome(origin, "failed", wanted.file, base.get("serial", 0), error=parsed,
                       version=base.get("version", 0))
    meta = parsed.compiled.meta
    warnings = list(parsed.warnings)
    if entry and entry.get("version") and entry.get("hash") == parsed.digest:
        entry.update(status="ok", error="", disabled=disabled, ctime_ns=changed_at,
                     file=wanted.file)
        txn.set_entry(origin_lower, entry)
        return Outcome(origin, "kept", wanted.file, meta.serial, meta.records,
                       version=entry["version"])
    if entry and entry.get("version") and entry.get("serial") == meta.serial:
        warnings.append(f"{wanted.file}: content changed but SOA serial {meta.serial} was not "
                        "raised; secondaries will not notice this change")
    version = txn.put_zone(parsed.compiled, {
        "origin": origin, "file": wanted.file, "includes": parsed.includes,
        "hash": parsed.digest, "status": "ok", "error": "", "loaded_at": time.time(),
        "load_seconds": parsed.seconds, "ctime_ns": changed_at, "disabled": disabled,
    })
    return Outcome(origin, "loaded", wanted.file, meta.serial, meta.records, parsed.seconds,
                   version=version, warnings=warnings)


def _stored_policy(txn: Transaction, fallback: Policy) -> Policy:
    raw = txn.catalog_value(POLICY_KEY)
    return Policy.unpack(raw) if raw is not None else fallback


def load_zone_job(data_dir: str, zones_dir: str, origin: str, path: str) -> tuple[
        list[Outcome], Stamp | None]:
    """The zone watcher's job: a zone file was created or changed (or an include of it)."""
    store = _store(data_dir)
    origin_lower = _origin_lower(origin)
    wanted = Wanted(origin, os.path.realpath(path))
    if not os.path.exists(path):
        return [remove_if_gone(store, origin_lower, wanted)], None
    entry = store.entries().get(origin_lower)
    if entry and entry.get("version") and entry.get("status") == "ok" and \
            entry.get("file") == wanted.file:
        stamp = file_stamp(path)
        if entry.get("hash") == digest_files([path, *entry.get("includes", [])]):
            return [Outcome(origin, "kept", path, entry.get("serial", 0))], stamp
    parsed, stamp, digest = _parse(wanted, zones_dir)
    with Transaction(store) as txn:
        policy = _stored_policy(txn, Policy(zones_dir))
        outcome = _apply(txn, policy, origin_lower, wanted, parsed, stamp, digest)
        txn.collect_garbage()
    release_memory(outcome.records)
    return [outcome], stamp


def remove_if_gone(store: Store, origin_lower: bytes, wanted: Wanted) -> Outcome:
    """A zone file was deleted: stop serving its zone, if it is still gone."""
    with Transaction(store) as txn:
        entry = txn.entry(origin_lower)
        if entry is None or entry.get("file") != wanted.file or os.path.exists(wanted.file):
            return Outcome(wanted.origin, "ignored", wanted.file)
        policy = _stored_policy(txn, Policy(os.path.dirname(wanted.file)))
        txn.remove_zone(origin_lower)
        if origin_lower in policy.explicit:
            # Listed in the catalogue: keep the entry to say why it is not served.
            entry.update(version=0, status="error", error=f"{wanted.file}: file is missing")
            txn.set_entry(origin_lower, entry)
        txn.collect_garbage()
    return Outcome(str(entry.get("origin", wanted.origin)), "removed", wanted.file)


def sync_catalogue_job(data_dir: str, packed_policy: bytes) -> list[Outcome]:
    """The catalog watcher's job: make the store serve what the catalogue says.

    Also the start-up reconciliation: zones whose files changed while the server was down
    are parsed again, the rest are kept as stored.
    """
    store = _store(data_dir)
    policy = Policy.unpack(packed_policy)
    wanted = policy.wanted_zones()
    current = store.entries()
    parsed: dict[bytes, tuple[Built | str, Stamp | None, str]] = {}
    for origin_lower, zone in wanted.items():
        changed, _ = needs_load(current.get(origin_lower), zone.file)
        if changed:
            parsed[origin_lower] = _parse(zone, policy.zones_dir)
    outcomes: list[Outcome] = []
    with Transaction(store) as txn:
        txn.set_catalog_value(POLICY_KEY, packed_policy)
        for origin_lower, entry in txn.entries().items():
            if origin_lower not in wanted:
                txn.remove_zone(origin_lower)
                outcomes.append(Outcome(str(entry.get("origin")), "removed",
                                        str(entry.get("file", "")),
                                        error="no longer in the catalogue"))
        for origin_lower, zone in wanted.items():
            if origin_lower in parsed:
                outcomes.append(_apply(txn, policy, origin_lower, zone, *parsed[origin_lower]))
            else:
                outcomes.append(_set_enabled(txn, origin_lower, zone))
        txn.collect_garbage()
    release_memory(max((o.records for o in outcomes), default=0))
    return outcomes


def _set_enabled(txn: Transaction, origin_lower: bytes, zone: Wanted) -> Outcome:
    entry: dict[str, Any] | None = txn.entry(origin_lower)
    if entry is None:
        return Outcome(zone.origin, "ignored", zone.file)
    disabled = not zone.enabled
    if bool(entry.get("disabled")) == disabled:
        return Outcome(zone.origin, "kept", zone.file, entry.get("serial", 0),
                       entry.get("records", 0), version=entry.get("version", 0))
    entry["disabled"] = disabled
    txn.set_entry(origin_lower, entry)
    return Outcome(zone.origin, "disabled" if disabled else "enabled", zone.file,
                   entry.get("serial", 0), entry.get("records", 0),
                   version=entry.get("version", 0))


def recover_job(data_dir: str) -> int:
    """Free zone versions left behind by a writer killed between its two commits."""
    return loader.recover(_store(data_dir))
