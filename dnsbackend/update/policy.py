"""The zone policy: which zones are served, from which files, enabled or not.

It comes from the settings (the `[zone."name"]` tables of dnsbackend.toml and the
`discover` switch for `<origin>.zone` files of the zones directory). The current policy is
stored in the catalog database too, so that every writer decides, inside its own
transaction, from the same policy whether the zone it parsed is still wanted.
("Policy", not "catalogue": the catalog is the database, and RFC 9432 catalog zones are a
third thing.)
"""

from __future__ import annotations

import marshal
import os
from dataclasses import dataclass, field

from ..store.transaction import JournalLimits
from ..zone.files import ZONE_SUFFIX, zone_files

POLICY_FORMAT = 5  # 1 carried the served settings; 2 had no serial policy nor journal limits;
# 3 no catalog zone; 4 no signing

SERIAL_AUTO = "auto"  # a changed zone whose serial did not go up is served with the next one
SERIAL_STRICT = "strict"  # such a change is rejected


@dataclass
class WantedZone:
    """One zone the policy asks for."""

    origin: str  # text form, absolute
    file: str  # absolute path
    enabled: bool = True
    serial: str | None = None  # SERIAL_AUTO or SERIAL_STRICT; None: the policy's
    journal_depth: int | None = None  # changesets kept; None: the policy's
    journal_size: int | None = None  # bytes of changesets kept; None: the policy's
    # sign = true: (algorithm, denial, signature lifetime in seconds), from [dnssec]
    signing: tuple[str, str, int] | None = None


@dataclass
class ZonePolicy:
    """The zone policy as writers apply it."""

    zones_dir: str  # absolute, real path
    discover: bool = True
    explicit: dict[bytes, WantedZone] = field(default_factory=dict)  # by lower-case origin
    serial: str = SERIAL_AUTO  # for zones that do not say otherwise
    journal_depth: int = JournalLimits.depth
    journal_size: int = JournalLimits.size
    catalog: str = ""  # the RFC 9432 catalog zone to serve (text, absolute); "": none
    catalog_lower: bytes = b""  # its lower-case wire form

    def pack(self) -> bytes:
        return marshal.dumps((POLICY_FORMAT, self.zones_dir, self.discover, {
            k: (w.origin, w.file, w.enabled, w.serial, w.journal_depth, w.journal_size,
                w.signing)
            for k, w in self.explicit.items()}, self.serial, self.journal_depth,
            self.journal_size, self.catalog, self.catalog_lower))

    @classmethod
    def unpack(cls, raw: bytes) -> ZonePolicy:
        value = marshal.loads(raw)
        if value[0] != POLICY_FORMAT:
            raise ValueError("stored zone policy has another layout")
        _, zones_dir, discover, explicit, serial, depth, size, catalog, catalog_lower = value
        return cls(zones_dir, discover, {k: WantedZone(*v) for k, v in explicit.items()},
                   serial, depth, size, catalog, catalog_lower)

    def serial_policy(self, wanted: WantedZone) -> str:
        """The serial policy of a zone as decide() gave it (its own, else the policy's)."""
        return wanted.serial or self.serial

    def journal_limits(self, wanted: WantedZone) -> JournalLimits:
        """The journal limits of a zone as decide() gave it (its own, else the policy's)."""
        return JournalLimits(
            self.journal_depth if wanted.journal_depth is None else wanted.journal_depth,
            self.journal_size if wanted.journal_size is None else wanted.journal_size)

    def decide(self, origin_lower: bytes, path: str) -> WantedZone | None:
        """Whether a zone read from `path` is wanted (and how), under this policy."""
        wanted = self.explicit.get(origin_lower)
        if wanted is not None:
            return wanted if os.path.realpath(path) == wanted.file else None
        if not self.discover:
            return None
        # A discovered file is known by its name in the zones directory, even where that
        # name is a symbolic link to a file elsewhere.
        if os.path.dirname(os.path.abspath(path)) != self.zones_dir:
            return None
        if not os.path.basename(path).endswith(ZONE_SUFFIX):
            return None
        return WantedZone("", os.path.abspath(path), True)

    def wanted_zones(self) -> dict[bytes, WantedZone]:
        """Every zone this policy serves now: listed ones plus discovered files."""
        out: dict[bytes, WantedZone] = {}
        if self.discover:
            for origin_lower, (path, origin) in zone_files(self.zones_dir).items():
                out[origin_lower] = WantedZone(origin.to_text(), os.path.abspath(path), True)
        out.update(self.explicit)
        return out

    def zone_file(self, path: str) -> str:
        """How this policy names the zone file at `path`: as listed (a real path) for a
        listed zone, by its name in the zones directory for a discovered one."""
        absolute = os.path.abspath(path)
        if os.path.dirname(absolute) == self.zones_dir:
            return absolute
        return os.path.realpath(path)

