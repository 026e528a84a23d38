"""A save caught half-written is never served: while a writer holds the zone file open, the last
complete version keeps answering; the new one is served once the writer has closed it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import dns.rcode
import dns.rdatatype
import pytest

from testkit.server import ServerProcess, StartServer, serve_one_zone

ORIGIN = "half.test."
PADDING = 300  # records before www: the first half of a save is a valid zone without it


def zone_text(serial: int, address: str) -> str:
    lines = [f"$ORIGIN {ORIGIN}", "$TTL 300", f"@ SOA ns hostmaster {serial} 3600 600 86400 60",
             "@ NS ns", "ns A 192.0.2.53"]
    lines += [f"host{i} A 198.51.100.{i % 250 + 1}" for i in range(PADDING)]
    lines.append(f"www A {address}")
    return "\n".join(lines) + "\n"


# Truncates the file, writes the first part (a zone without www), says so, pauses, writes the
# rest and closes: a slow copy, or a program that writes in pieces.
WRITER = """
import sys, time
path, first, rest, pause = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
with open(path, "w") as f:
    f.write(open(first).read())
    f.flush()
    print("half", flush=True)
    time.sleep(pause)
    f.write(open(rest).read())
print("closed", flush=True)
"""


def www(srv: ServerProcess) -> str:
    """What www answers: its address, or the rcode when it has none."""
    r = srv.query("www." + ORIGIN, "A", timeout=1.0)
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.A:
            return str(rrset[0])
    return dns.rcode.to_text(r.rcode())


@pytest.mark.parametrize("pause", [0.15, 2.0])
def test_a_save_paused_mid_file_is_served_only_whole(tmp_path: Path,
                                                     server_factory: StartServer,
                                                     pause: float) -> None:
    srv, path = serve_one_zone(server_factory, tmp_path, ORIGIN, zone_text(1, "192.0.2.1"))
    assert www(srv) == "192.0.2.1"

    new = zone_text(2, "192.0.2.2")
    cut = new.index("www A")
    (tmp_path / "first").write_text(new[:cut])
    (tmp_path / "rest").write_text(new[cut:])
    seen: list[str] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            seen.append(www(srv))
            time.sleep(0.005)

    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(tmp_path / "first"),
                               str(tmp_path / "rest"), str(pause)], stdout=subprocess.PIPE,
                              text=True)
    assert writer.stdout is not None
    assert writer.stdout.readline() == "half\n"
    prober = threading.Thread(target=probe)
    prober.start()
    try:
        assert writer.stdout.readline() == "closed\n"
        assert writer.wait(10) == 0
        srv.wait_until("www." + ORIGIN, "A",
                       lambda r: any(str(rr[0]) == "192.0.2.2" for rr in r.answer
                                     if rr.rdtype == dns.rdatatype.A))
    finally:
        done.set()
        prober.join()
    assert seen, "no query was answered during the save"
    assert set(seen) <= {"192.0.2.1", "192.0.2.2"}, sorted(set(seen))
    # The half-written file (a valid zone, serial 2, without www) was never loaded. (The
    # log line follows the version that answers: wait for it.)
    out = srv.wait_logged(f"zone {ORIGIN} loaded: serial 2")
    loads = [line for line in out.splitlines() if "half.test. loaded" in line]
    assert [line.split("serial ")[1].split(",")[0] for line in loads] == ["1", "2"], loads
    if pause >= 1.0:
        assert f"waiting for the writer of {path.resolve()} to close it" in srv.output()
