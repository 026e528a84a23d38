"""Bringing zone files into the store: parse, check, compile, then one transaction per zone."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field

import dns.name

from .compile import CompiledZone, compile_zone
from .store import Store
from .transaction import Transaction
from .zonecheck import check_zone
from .zonefile import origin_for_file, read_zone_file

log = logging.getLogger("dnsbackend")

ZONE_SUFFIX = ".zone"
WARNINGS_LOGGED = 5  # per zone load; a zone with thousands of warnings must not flood the log


@dataclass
class Built:
    """A zone file turned into nodes, with what identifies the files it came from."""

    compiled: CompiledZone
    includes: list[str]
    digest: str
    seconds: float
    warnings: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """What happened to one zone: `action` is loaded, kept, failed or removed."""

    origin: str
    action: str
    path: str = ""
    serial: int = 0
    records: int = 0
    seconds: float = 0.0
    error: str = ""
    version: int = 0
    warnings: list[str] = field(default_factory=list)


def digest_files(paths: list[str]) -> str:
    """A content hash over a zone file and the files it includes ('' if one cannot be read)."""
    h = hashlib.sha256()
    for path in paths:
        try:
            with open(path, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
        except OSError:
            return ""
    return h.hexdigest()


class FileChanged(Exception):
    """A zone file (or one it includes) changed while it was being read."""


def file_stamp(path: str) -> tuple[int, int, int] | None:
    """(ctime_ns, size, inode): ctime, unlike mtime, cannot be set back by cp -p or mv."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ctime_ns, st.st_size, st.st_ino)


# File times come from a coarse kernel clock that may lag the real one by a tick or two.
_CLOCK_SLACK_NS = 20_000_000


def build_zone(path: str, origin: dns.name.Name, zones_root: str) -> Built:
    """Parse, check and compile one zone file; raise ZoneFileError (`file:line: message`).

    Raises FileChanged if the file or an included file changed during the read, so that
    the digest stored with the zone is always the digest of the text that was parsed.
    """
    started_ns = time.time_ns()
    started = time.perf_counter()
    before = file_stamp(path)
    parsed = read_zone_file(path, origin, zones_root)
    digest = digest_files([path, *parsed.includes])
    if file_stamp(path) != before or any(
        (stamp := file_stamp(inc)) is None or stamp[0] >= started_ns - _CLOCK_SLACK_NS
        for inc in parsed.includes
    ):
        raise FileChanged(path)
    check_zone(parsed, path)
    compiled = compile_zone(parsed)
    return Built(compiled, parsed.includes, digest, time.perf_counter() - started, parsed.warnings)


def zone_files(zones_dir: str) -> dict[bytes, tuple[str, dns.name.Name]]:
    """The `<origin>.zone` files of a directory, keyed by lower-case origin wire name."""
    found: dict[bytes, tuple[str, dns.name.Name]] = {}
    try:
        names = sorted(os.listdir(zones_dir))
    except OSError:
        return found
    for fname in names:
        if not fname.endswith(ZONE_SUFFIX) or fname.startswith("."):
            continue
        path = os.path.join(zones_dir, fname)
        if not os.path.isfile(path):
            continue
        try:
            origin = origin_for_file(fname)
        except dns.exception.DNSException:
            log.warning("%s: file name is not a domain name; skipped", path)
            continue
        wire = origin.to_wire()
        assert wire is not None
        found[wire.lower()] = (path, origin)
    return found


def apply_built(store: Store, path: str, built: Built) -> Outcome:
    """Write a built zone as its new current version (one transaction)."""
    meta = built.compiled.meta
    origin_lower = meta.origin.lower()
    with Transaction(store) as txn:
        old = txn.entry(origin_lower)
        version = txn.put_zone(built.compiled, {
            "origin": dns.name.from_wire(meta.origin, 0)[0].to_text(),
            "file": path,
            "includes": built.includes,
            "hash": built.digest,
            "status": "ok",
            "error": "",
            "loaded_at": time.time(),
            "load_seconds": built.seconds,
        })
        txn.collect_garbage()
    warnings = list(built.warnings)
    if old and old.get("version") and old.get("serial") == meta.serial and \
            old.get("hash") != built.digest:
        warnings.append(f"{path}: content changed but SOA serial {meta.serial} was not raised; "
                        "secondaries will not pick up this change")
    return Outcome(_text(meta.origin), "loaded", path, meta.serial, meta.records,
                   built.seconds, version=version, warnings=warnings)


def needs_load(entry: dict | None, path: str) -> tuple[bool, str]:
    """Whether a file differs from what the store holds for it; also its current digest."""
    if entry is None:
        return True, digest_files([path])
    digest = digest_files([path, *entry.get("includes", [])])
    if entry.get("status") == "error" and entry.get("failed_hash") == digest and digest:
        return False, digest  # the same broken content: nothing new to say
    return not (entry.get("version") and entry.get("hash") == digest and
                entry.get("file") == path), digest


def recover(store: Store) -> int:
    """After an unclean stop: free zone versions that no catalog entry points at."""
    with Transaction(store) as txn:
        freed = txn.free_orphans()
        txn.collect_garbage()
    return freed


def _text(origin_wire: bytes) -> str:
    return dns.name.from_wire(origin_wire, 0)[0].to_text()


def log_outcome(outcome: Outcome) -> None:
    """One line per event an operator cares about."""
    if outcome.action == "loaded":
        log.info("zone %s loaded: serial %d, %d records, %.3fs (version %d)", outcome.origin,
                 outcome.serial, outcome.records, outcome.seconds, outcome.version)
    elif outcome.action == "failed":
        keep = (f"; still serving serial {outcome.serial}" if outcome.version
                else "; not served")
        log.error("zone %s rejected: %s%s", outcome.origin, outcome.error, keep)
    elif outcome.action == "removed":
        log.info("zone %s removed: %s", outcome.origin,
                 outcome.error or f"{outcome.path or 'its file'} is gone")
    elif outcome.action == "kept":
        log.info("zone %s serving serial %d from the store (file unchanged)", outcome.origin,
                 outcome.serial)
    for warning in outcome.warnings[:WARNINGS_LOGGED]:
        log.warning("zone %s: %s", outcome.origin, warning)
    if len(outcome.warnings) > WARNINGS_LOGGED:
        log.warning("zone %s: %d more warnings like these (dnsbackend check %s lists them all)",
                    outcome.origin, len(outcome.warnings) - WARNINGS_LOGGED, outcome.path)
