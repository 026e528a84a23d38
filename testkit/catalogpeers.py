"""Knot and BIND as RFC 9432 catalog consumers of our catalog zone, on a port of 127.0.0.1.

    peer = KnotConsumer(Catalog("catalog.example.", f"127.0.0.1@{our_port}"))
    running = peer.start(workdir, [], port=port)
    ...
    wait_gone(running.port, "old.test.", timeout=30)

They are testkit.peers' Knot and BIND with one more zone, the catalog, transferred from the
primary (NOTIFY taken from there), whose members they provision as secondaries of the
same primary without any other configuration: Knot with `catalog-role: interpret` and a
`catalog-template`, BIND with `catalog-zones { zone ... default-primaries ... }`. Every
zone they hold may be transferred from them by 127.0.0.1 (to compare with ours).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

from .peers import Bind, Knot, Zone


@dataclass(frozen=True)
class Catalog:
    """The catalog zone to consume and the primary it and its members come from."""

    origin: str  # absolute ("catalog.example.")
    primary: str  # "address@port"

    @property
    def address(self) -> str:
        return self.primary.partition("@")[0]

    @property
    def port(self) -> int:
        return int(self.primary.partition("@")[2] or 53)


class KnotConsumer(Knot):
    """knotd interpreting the catalog; its members (from a template) kept in memory only."""

    name = "Knot catalog consumer"

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def configure(self, workdir: Path, port: int, zones: list[Zone], workers: int) -> list[str]:
        # testkit.peers.Knot with the catalog as its one secondary zone (remote primary0, ACLs
        # notify0 and provide), then the catalog's role and the members' template.
        cmd = super().configure(workdir, port, [self._zone(workdir)], workers)
        conf = workdir / "knot.conf"
        text = conf.read_text()
        member = (f'  - id: member\n    storage: "{workdir}/run"\n    journal-content: none\n'
                  "    zonefile-sync: -1\n    master: primary0\n    acl: [notify0, provide]\n")
        # After the remote and the ACLs it refers to (Knot takes a section more than once).
        text = text.replace("\nzone:\n", f"\ntemplate:\n{member}zone:\n", 1)
        conf.write_text(text + "    catalog-role: interpret\n    catalog-template: member\n")
        return cmd

    def _zone(self, workdir: Path) -> Zone:
        return Zone(self.catalog.origin.rstrip("."), workdir / "catalog.zone",
                    primary=self.catalog.primary)


class BindConsumer(Bind):
    """named with a catalog-zones statement; its members kept in memory only."""

    name = "BIND catalog consumer"

    def __init__(self, catalog: Catalog) -> None:
        super().__init__()  # (no more options: its configure() writes its own)
        self.catalog = catalog

    def configure(self, workdir: Path, port: int, zones: list[Zone], workers: int) -> list[str]:
        # testkit.peers.Bind with the catalog as its one secondary zone, then the options
        # that let it add the members (given to the tests on loopback too).
        c = self.catalog
        cmd = super().configure(workdir, port, [Zone(c.origin.rstrip("."), workdir /
                                                     "catalog.db", primary=c.primary)], workers)
        conf = workdir / "named.conf"
        catalog = (f'    allow-transfer {{ 127.0.0.1; }};\n    allow-new-zones yes;\n'
                   f'    catalog-zones {{ zone "{c.origin}" default-primaries port {c.port} '
                   f"{{ {c.address}; }} in-memory yes min-update-interval 1; }};\n")
        conf.write_text(conf.read_text().replace("    allow-transfer { none; };\n", catalog, 1))
        return cmd


def serves(port: int, origin: str) -> bool:
    """Whether the server on `port` answers the zone's SOA with authority."""
    q = dns.message.make_query(origin, "SOA")
    try:
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
    except (dns.exception.DNSException, OSError):
        return False
    return bool(r.rcode() == dns.rcode.NOERROR and r.answer)


def wait_gone(port: int, origin: str, timeout: float) -> None:
    """Wait until the server on `port` no longer serves the zone; AssertionError if it still
    does after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while serves(port, origin):
        if time.monotonic() > deadline:
            raise AssertionError(f"{origin} still served on port {port} after {timeout:.0f}s")
        time.sleep(0.1)
