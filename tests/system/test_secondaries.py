"""Real NSD, Knot and BIND secondaries of our server: they follow edits by our NOTIFY and
IXFR and serve exactly our records."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dns.message
import dns.query
import pytest

from testkit.peers import Bind, Knot, Nsd, Peer, Zone
from testkit.ports import free_port
from testkit.server import StartServer, serve_one_zone
from testkit.zones import versioned_zone, write_atomically

ORIGIN = "xfr.test."
ALLOW_LOOPBACK = '[transfer]\nallow = [{ address = "127.0.0.0/8" }, { address = "::1" }]\n'


def axfr(port: int) -> list[dns.message.Message]:
    return list(dns.query.xfr("127.0.0.1", ORIGIN, port=port, lifetime=30, relativize=False))


def records(msgs: list[dns.message.Message]) -> list[tuple[str, int, str]]:
    return [(rrset.name.to_text().lower(), int(rrset.rdtype), rdata.to_text())
            for m in msgs for rrset in m.answer for rdata in rrset]


@pytest.mark.interop
@pytest.mark.parametrize("peer", [Nsd, Knot, Bind], ids=["nsd", "knot", "bind"])
def test_secondaries_follow_edits_by_notify_and_ixfr(
        tmp_path: Path, server_factory: StartServer, peer: type[Peer]) -> None:
    """Real NSD, Knot and BIND secondaries: no command to them, our NOTIFY tells them."""
    kind = peer()
    if (why := kind.missing()) is not None:
        pytest.fail(why)
    peer_port = free_port()
    srv, path = serve_one_zone(server_factory, tmp_path, ORIGIN,
                               versioned_zone(ORIGIN, 1, padding=200),
                               ALLOW_LOOPBACK + f'notify = [{{ address = "127.0.0.1", '
                               f'port = {peer_port} }}]\n')
    workdir = tmp_path / kind.name.lower()
    secondary = kind.start(workdir, [Zone(ORIGIN.rstrip("."), workdir / "xfr.test.zone", 1,
                                          primary=f"127.0.0.1@{srv.port}")],
                           port=peer_port, check=True)
    try:
        secondary.wait_ready([Zone(ORIGIN.rstrip("."), path, 1)], timeout=60)
        for n in (2, 3):
            # One record changed (and the serial): a small IXFR, not the zone again.
            write_atomically(str(path), versioned_zone(ORIGIN, 1, padding=200).replace(
                " 1 3600 600", f" {n} 3600 600").replace("host5 IN A", f"host5-{n} IN A"))
            secondary.wait_ready([Zone(ORIGIN.rstrip("."), path, n)], timeout=30)
            srv.wait_logged(f"transfer of {ORIGIN} to 127.0.0.1: IXFR, serial {n - 1} -> {n}")
            srv.wait_logged(f"NOTIFY of {ORIGIN} serial {n} acknowledged by 127.0.0.1 port "
                            f"{peer_port}")
        # What the secondary serves is ours, record for record (a full AXFR of each).
        assert sorted(set(records(axfr(secondary.port)))) == sorted(set(records(axfr(srv.port))))
        status = subprocess.run([sys.executable, "-m", "dnsbackend", "status", "--data",
                                 str(srv.data)], capture_output=True, text=True).stdout
        assert f"NOTIFY 127.0.0.1 port {peer_port}: acknowledged serial 3" in status
    finally:
        secondary.stop()
