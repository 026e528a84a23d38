"""Zone files on disk: which files a directory serves, their origins, digests and identity."""

from __future__ import annotations

import hashlib
import logging
import os

import dns.exception
import dns.name

log = logging.getLogger("dnsbackend")

ZONE_SUFFIX = ".zone"

Stamp = tuple[int, int, int]  # file_stamp(): (ctime_ns, size, inode)


def origin_for_file(path: str) -> dns.name.Name:
    """The zone origin a zones-directory file serves: its name without `.zone`."""
    base = os.path.basename(path)
    if base.endswith(ZONE_SUFFIX):
        base = base[: -len(ZONE_SUFFIX)]
    return dns.name.from_text(base)


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


def file_stamp(path: str) -> Stamp | None:
    """(ctime_ns, size, inode): ctime, unlike mtime, cannot be set back by cp -p or mv."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ctime_ns, st.st_size, st.st_ino)


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
        found[origin_key(origin)] = (path, origin)
    return found


def origin_key(origin: dns.name.Name) -> bytes:
    """The lower-case wire form of an origin: how the store and the zone policy key zones."""
    wire = origin.to_wire()
    assert wire is not None
    return wire.lower()
