"""Zone files on disk: which files a directory serves, their origins, digests and identity."""

from __future__ import annotations

import hashlib
import logging
import os
import stat

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


class NotRegularFile(OSError):
    """A path that is not a regular file (a FIFO, socket, device, directory): never read."""


def not_regular(path: str) -> str | None:
    """Why a path is not a regular file that can be read as a zone ("a FIFO", ...), or None.
    Symbolic links are followed: a link to a regular file is one."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a dangling symbolic link" if os.path.islink(path) else "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    return _kind(mode)


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_regular(path: str) -> bytes:
    """The bytes of a regular file. Anything else raises NotRegularFile without blocking:
    the file is opened non-blocking (a FIFO with no writer would hang a plain open) and
    checked on the open descriptor, so a file swapped for a FIFO in between is caught too."""
    kind = not_regular(path)
    if kind is not None and kind != "missing":
        raise NotRegularFile(0, f"not a regular file ({kind})", path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise NotRegularFile(0, f"not a regular file ({kind})", path)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def digest_files(paths: list[str]) -> str:
    """A content hash over a zone file and the files it includes ('' if one cannot be read)."""
    h = hashlib.sha256()
    for path in paths:
        try:
            h.update(hashlib.sha256(read_regular(path)).digest())
        except OSError:
            return ""
    return h.hexdigest()


def digest_content(content: bytes) -> str:
    """digest_files() of one file (no includes) with this content."""
    return hashlib.sha256(hashlib.sha256(content).digest()).hexdigest()


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
        if not_regular(path) is not None:
            continue  # skipped_zone_files() says why
        try:
            origin = origin_for_file(fname)
        except dns.exception.DNSException:
            log.warning("%s: file name is not a domain name; skipped", path)
            continue
        found[origin_key(origin)] = (path, origin)
    return found


def include_root(path: str, zones_dir: str) -> str:
    """Where a zone file's `$INCLUDE`s are looked for, and confined to: the zones directory
    for a file in it (or below it), else the zone file's own directory. The server and
    `dnsbackend check` both ask this."""
    real = os.path.realpath(path)
    zones = os.path.realpath(zones_dir)
    if os.path.commonpath([real, zones]) == zones:
        return zones
    return os.path.dirname(real)


def origin_key(origin: dns.name.Name) -> bytes:
    """The lower-case wire form of an origin: how the store and the zone policy key zones."""
    wire = origin.to_wire()
    assert wire is not None
    return wire.lower()


def skipped_zone_files(zones_dir: str) -> list[tuple[str, str]]:
    """(path, why) for each `<origin>.zone` entry of a directory that cannot be served
    because it is not a regular file (or a link to one)."""
    try:
        names = sorted(os.listdir(zones_dir))
    except OSError:
        return []
    out = []
    for fname in names:
        if fname.endswith(ZONE_SUFFIX) and not fname.startswith("."):
            path = os.path.join(zones_dir, fname)
            kind = not_regular(path)
            if kind is not None and kind != "missing":
                out.append((path, kind))
    return out
