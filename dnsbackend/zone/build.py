"""A zone file turned into stored nodes: parse, check, records to nodes (no lock, no store)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.name

from ..store.format import ZoneContents
from .bindreader import read_zone_file
from .checks import target_warnings, zone_errors
from .files import digest_files, file_stamp
from .nodes import zone_nodes
from .records import ParsedZone

Read = Callable[[str, dns.name.Name, str], ParsedZone]  # read_zone_file's shape


def read_to_build(path: str, origin: dns.name.Name, zones_root: str) -> ParsedZone:
    """read_zone_file listing only the records the checks read (the nodes have them all)."""
    return read_zone_file(path, origin, zones_root, every_record=False)


@dataclass
class Built:
    """A zone file turned into nodes, with what identifies the files it came from."""

    contents: ZoneContents
    includes: list[str]
    digest: str
    seconds: float
    warnings: list[str] = field(default_factory=list)


class FileChanged(Exception):
    """A zone file (or one it includes) changed while it was being read."""


# File times come from a coarse kernel clock that may lag the real one by a tick or two.
_CLOCK_SLACK_NS = 20_000_000


def build_zone(path: str, origin: dns.name.Name, zones_root: str,
               read: Read = read_to_build) -> Built:
    """Parse, check and turn one zone file into nodes; raise ZoneFileError (`file:line: ...`).

    Raises FileChanged if the file or an included file changed during the read, so that
    the digest stored with the zone is always the digest of the text that was parsed.
    """
    started_ns = time.time_ns()
    started = time.perf_counter()
    before = file_stamp(path)
    parsed = read(path, origin, zones_root)
    digest = digest_files([path, *parsed.includes])
    if file_stamp(path) != before or any(
        (stamp := file_stamp(inc)) is None or stamp[0] >= started_ns - _CLOCK_SLACK_NS
        for inc in parsed.includes
    ):
        raise FileChanged(path)
    zone_errors(parsed, path)
    contents = zone_nodes(parsed)
    warnings = parsed.warnings + target_warnings(parsed, contents.nodes)
    return Built(contents, parsed.includes, digest, time.perf_counter() - started, warnings)
