"""The primaries of the transfer benchmark: ours with NOTIFY targets, NSD and Knot serving AXFR
(NSD also notifying, reloaded by nsd-control), and a raw AXFR reader that only counts."""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from pathlib import Path

import dns.message

from testkit import programs
from testkit.peers import Knot, Nsd, Zone

from .servers import OurServer


def _patch(path: Path, anchor: str, replacement: str) -> None:
    """Replace `anchor` in a peer's written configuration (it must be there, once or more)."""
    text = path.read_text()
    if anchor not in text:
        raise RuntimeError(f"{path}: the configuration no longer has {anchor!r}")
    path.write_text(text.replace(anchor, replacement))


class NsdPrimary(Nsd):
    """NSD as a primary: AXFR and IXFR (store-ixfr, create-ixfr) to loopback, NOTIFY to
    `notify` ports, and a control socket for `reload`."""

    def __init__(self, notify: list[int] | None = None) -> None:
        super().__init__()
        self.notify = notify or []

    def configure(self, workdir: Path, port: int, zones: list[Zone], workers: int) -> list[str]:
        cmd = super().configure(workdir, port, zones, workers)
        conf = workdir / "nsd.conf"
        extra = "".join(f"  notify: 127.0.0.1@{p} NOKEY\n" for p in self.notify)
        for z in zones:
            _patch(conf, f"  zonefile: {z.path}\n",
                   f"  zonefile: {z.path}\n  provide-xfr: 127.0.0.0/8 NOKEY\n"
                   f"  store-ixfr: yes\n  create-ixfr: yes\n{extra}")
        _patch(conf, "remote-control:\n  control-enable: no\n",
               f'remote-control:\n  control-enable: yes\n  control-interface: "{workdir}/ctl"\n')
        return cmd

    @staticmethod
    def reload(workdir: Path, origin: str) -> None:
        """`nsd-control reload ORIGIN`: NSD reads the file again and notifies."""
        done = subprocess.run([programs.require("nsd-control"), "-c", str(workdir / "nsd.conf"),
                        "reload", origin], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"nsd-control reload {origin}: {done.stdout}{done.stderr}")


class NsdSecondary(Nsd):
    """NSD as a secondary that serves a transferred zone at once: `xfrd-reload-timeout: 0`
    (NSD's default, 1, spaces reloads after transfers at least a second apart, which alone
    would put a second between every edit and its answer on NSD)."""

    def __init__(self) -> None:
        super().__init__("xfrd-reload-timeout: 0")


class KnotPrimary(Knot):
    """Knot as a primary giving AXFR to loopback."""

    def configure(self, workdir: Path, port: int, zones: list[Zone], workers: int) -> list[str]:
        cmd = super().configure(workdir, port, zones, workers)
        conf = workdir / "knot.conf"
        _patch(conf, "template:\n", "acl:\n  - id: bench_axfr\n    address: 127.0.0.0/8\n"
               "    action: transfer\ntemplate:\n")
        _patch(conf, "    zonefile-load: whole\n", "    zonefile-load: whole\n"
               "    acl: bench_axfr\n")
        return cmd


def our_settings(notify: list[int]) -> str:
    """Our settings file: transfers to loopback, NOTIFY to every port in `notify`."""
    targets = ", ".join(f'{{ address = "127.0.0.1", port = {p} }}' for p in notify)
    return ('[transfer]\nallow = [{ address = "127.0.0.0/8" }]\n'
            + (f"notify = [{targets}]\n" if notify else ""))


def start_ours(root: Path, zone_files: list[Path], notify: list[int], cpus: str) -> OurServer:
    """Our server on copies of the zone files, with our_settings(notify)."""
    zdir = root / "zones"
    zdir.mkdir(parents=True, exist_ok=True)
    for f in zone_files:
        target = zdir / f.name
        if not target.exists():
            target.write_bytes(f.read_bytes())
    config = root / "dnsbackend.toml"
    config.write_text(our_settings(notify))
    return OurServer(zdir, root / "db", ["--config", str(config)], cpus)


def axfr_count(port: int, origin: str, expected: int, timeout: float = 600.0) -> tuple[float, int]:
    """AXFR `origin` over TCP and count answer RRs until `expected` have come (a zone's RRs
    and its closing SOA); return (seconds, bytes). Nothing is parsed but the headers, so the
    figure is the server's, not a client's parser's."""
    query = dns.message.make_query(origin, "AXFR").to_wire()
    start = time.monotonic()
    got = size = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!H", len(query)) + query)
        reader = sock.makefile("rb", buffering=1 << 20)
        while got < expected:
            head = reader.read(2)
            if len(head) < 2:
                raise RuntimeError(f"AXFR of {origin} on port {port}: closed after {got} RRs")
            body = reader.read(struct.unpack("!H", head)[0])
            if body[3] & 0x0F:
                raise RuntimeError(f"AXFR of {origin} on port {port}: rcode {body[3] & 0x0F}")
            got += struct.unpack_from("!H", body, 6)[0]
            size += len(body) + 2
    return time.monotonic() - start, size
