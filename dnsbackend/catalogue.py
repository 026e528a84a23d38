"""The zone catalogue: which zones are served, from which files, enabled or not.

The catalogue comes from the settings (the `[zone."name"]` tables of dnsbackend.toml and
the `discover` switch for `<origin>.zone` files of the zones directory). Its current policy
is stored in the catalog database too, so that every writer decides, inside its own
transaction, from the same policy whether the zone it parsed is still wanted.
"""

from __future__ import annotations

import marshal
import os
from dataclasses import dataclass, field

import dns.exception
import dns.name

from .loader import ZONE_SUFFIX, zone_files
from .settings import Settings
from .snapshot import DEFAULT_UDP_PAYLOAD


@dataclass
class Wanted:
    """One zone the catalogue asks for."""

    origin: str  # text form, absolute
    file: str  # absolute path
    enabled: bool = True


@dataclass
class Policy:
    """The catalogue as writers apply it."""

    zones_dir: str  # absolute, real path
    discover: bool = True
    explicit: dict[bytes, Wanted] = field(default_factory=dict)  # by lower-case origin wire
    udp_payload: int = DEFAULT_UDP_PAYLOAD  # served to every worker through the store

    def pack(self) -> bytes:
        return marshal.dumps((self.zones_dir, self.discover, {
            k: (w.origin, w.file, w.enabled) for k, w in self.explicit.items()},
            self.udp_payload))

    @classmethod
    def unpack(cls, raw: bytes) -> Policy:
        zones_dir, discover, explicit, udp_payload = marshal.loads(raw)
        return cls(zones_dir, discover, {k: Wanted(*v) for k, v in explicit.items()},
                   udp_payload)

    def decide(self, origin_lower: bytes, path: str) -> Wanted | None:
        """Whether a zone read from `path` is wanted (and how), under this policy."""
        wanted = self.explicit.get(origin_lower)
        if wanted is not None:
            return wanted if os.path.realpath(path) == wanted.file else None
        if not self.discover:
            return None
        if os.path.dirname(os.path.realpath(path)) != self.zones_dir:
            return None
        if not os.path.basename(path).endswith(ZONE_SUFFIX):
            return None
        return Wanted("", os.path.realpath(path), True)

    def wanted_zones(self) -> dict[bytes, Wanted]:
        """Every zone this policy serves now: listed ones plus discovered files."""
        out: dict[bytes, Wanted] = {}
        if self.discover:
            for origin_lower, (path, origin) in zone_files(self.zones_dir).items():
                out[origin_lower] = Wanted(origin.to_text(), os.path.realpath(path), True)
        out.update(self.explicit)
        return out


class CatalogueError(Exception):
    """A catalogue entry is wrong; the message names it."""


def policy_from_settings(settings: Settings, base_dir: str) -> Policy:
    """Build the policy from validated settings; relative paths are taken from `base_dir`."""
    zones_dir = os.path.realpath(os.path.join(base_dir, settings.zones))
    explicit: dict[bytes, Wanted] = {}
    for name, options in settings.zone.items():
        try:
            origin = dns.name.from_text(name)
        except dns.exception.DNSException as exc:
            raise CatalogueError(f"setting 'zone.{name}': not a domain name: {exc}") from None
        wire = origin.to_wire()
        assert wire is not None
        path = options.file or os.path.join(zones_dir, origin.to_text() + "zone")
        path = os.path.realpath(os.path.join(zones_dir, path))
        explicit[wire.lower()] = Wanted(origin.to_text(), path, options.enabled)
    return Policy(zones_dir, settings.discover, explicit, settings.udp_payload)
