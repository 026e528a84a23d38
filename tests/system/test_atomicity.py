"""No response ever mixes two versions of a zone, while the zone is rewritten 1,000 times."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

from testkit.server import StartServer
from testkit.zones import versioned_zone, versions_in, write_atomically, write_in_place

ORIGIN = "atomic.test."
REWRITES = 1000
QUERIES = [
    (ORIGIN, "SOA"), (ORIGIN, "NS"), (ORIGIN, "MX"), (ORIGIN, "TXT"),
    ("www." + ORIGIN, "A"), ("alias." + ORIGIN, "A"), ("x.child." + ORIGIN, "A"),
    ("child." + ORIGIN, "NS"), ("deep.wild." + ORIGIN, "TXT"), ("nope." + ORIGIN, "A"),
    ("WwW." + ORIGIN.upper(), "TXT"),
]


def test_no_response_mixes_versions(server_factory: StartServer, tmp_path: Path) -> None:
    zdir = tmp_path / "zones"
    zdir.mkdir()
    path = zdir / f"{ORIGIN}zone"
    path.write_text(versioned_zone(ORIGIN, 1, padding=50))
    srv = server_factory(zdir)
    srv.wait_served(ORIGIN)

    stop = threading.Event()
    mixed: list[str] = []
    seen: set[int] = set()
    counts = [0]

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            name, rdtype = rng.choice(QUERIES)
            q = dns.message.make_query(name, rdtype, use_edns=rng.random() < 0.5)
            try:
                if rng.random() < 0.2:
                    r = dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=2)
                else:
                    r = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=2)
            except dns.exception.Timeout:
                continue
            found = versions_in(r)
            counts[0] += 1
            seen.update(found)
            if len(found) > 1:
                mixed.append(r.to_text())

    clients = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in clients:
        t.start()
    try:
        for n in range(2, REWRITES + 2):
            writer = write_atomically if n % 3 else write_in_place
            writer(str(path), versioned_zone(ORIGIN, n, padding=50))
            time.sleep(0.002)
        srv.wait_until(ORIGIN, "SOA", lambda r: versions_in(r) == {REWRITES + 1}, timeout=30)
    finally:
        stop.set()
        for t in clients:
            t.join()
    assert not mixed, f"{len(mixed)} responses mixed versions, first:\n{mixed[0]}"
    assert counts[0] > 500
    # The clients saw many versions go by, not just the first and the last.
    assert len(seen) > 10, sorted(seen)
