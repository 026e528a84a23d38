"""Zone transfers out, next to NSD (and Knot): edit -> every secondary serves it, AXFR of a big
zone, and queries/s while a secondary pulls that AXFR. A benchmark: it reports, asserts nothing.

    .venv/bin/python -m bench.transfers                    # everything, about 10 minutes
    .venv/bin/python -m bench.transfers --edits 10 --big 100000 --only propagation,axfr
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from testkit import dnsperf
from testkit.peers import Bind, Knot, Peer, PeerProcess, Zone, wait_ready
from testkit.ports import free_port
from testkit.procfs import status_kib
from testkit.zones import write_atomically

from .measure import cpu_plan
from .querymix import EXAMPLE_ZONE, example_mix, write_binary
from .servers import inherited_affinity
from .tools import ensure_tools, log
from .xfr_primaries import KnotPrimary, NsdPrimary, NsdSecondary, axfr_count, start_ours
from .xfr_watch import edit_text, percentile, serial_at_least

EDITED = "edited.test"
BIG = "big.test"


# ---------------------------------------------------------------------------------------
# Edit -> all secondaries


def _secondaries(root: Path, primary_port: int, ports: list[int],
                 path: Path) -> list[PeerProcess]:
    """NSD, Knot and BIND secondaries of EDITED from 127.0.0.1@primary_port, on core 1."""
    _, gen_cpu, _ = cpu_plan(1)
    out = []
    for kind, port in zip((NsdSecondary(), Knot(), Bind()), ports, strict=True):
        work = root / kind.name.lower()
        zone = Zone(EDITED, work / f"{EDITED}.zone", 0, primary=f"127.0.0.1@{primary_port}")
        out.append(kind.start(work, [zone], port=port, cpus=gen_cpu))
    for peer in out:
        peer.wait_ready([Zone(EDITED, path, 1)], timeout=120)
    return out


def _edits(path: Path, padding: int, edits: int, secondaries: list[PeerProcess],
           after_write: Callable[[], None] | None = None) -> list[list[float]]:
    """Edit the file `edits` times (serial 2, 3, ...); for each edit, the seconds until
    each secondary serves it."""
    took = []
    for n in range(2, edits + 2):
        start = time.monotonic()
        write_atomically(str(path), edit_text(EDITED, padding, n))
        if after_write is not None:
            after_write()
        pending = {peer.port: -1.0 for peer in secondaries}
        deadline = start + 60
        while any(t < 0 for t in pending.values()):
            for port, t in pending.items():
                if t < 0 and serial_at_least(port, EDITED, n):
                    pending[port] = time.monotonic() - start
            if time.monotonic() > deadline:
                raise RuntimeError(f"edit {n}: not every secondary followed: {pending}")
            time.sleep(0.002)
        took.append(list(pending.values()))
        time.sleep(0.2)  # the next edit starts from quiet
    return took


def propagation(tmp: Path, padding: int, edits: int) -> list[str]:
    """p50/p99 of edit -> NSD, Knot and BIND secondaries all serve it: ours, then NSD's."""
    server_cpu, _, _ = cpu_plan(1)
    rows = []
    text = edit_text(EDITED, padding, 1)
    for primary in ("dnsbackend", "NSD"):
        root = tmp / f"prop-{primary}"
        root.mkdir()
        ports = [free_port() for _ in range(3)]
        src = root / f"{EDITED}.zone"
        src.write_text(text)
        reload: Callable[[], None] | None = None
        if primary == "dnsbackend":
            ours = start_ours(root, [src], ports, server_cpu)
            path, port, stop = ours.server.zones / src.name, ours.port, ours.stop
        else:
            work = root / "primary"
            run = NsdPrimary(ports).start(work, [Zone(EDITED, src, 1)], cpus=server_cpu,
                                          check=True)
            run.wait_ready([Zone(EDITED, src, 1)])
            path, port, stop = src, run.port, run.stop
            reload = functools.partial(NsdPrimary.reload, work, EDITED)
        log(f"propagation: {primary} primary, {padding + 17} records, {edits} edits")
        peers = _secondaries(root, port, ports, src)
        try:
            took = _edits(path, padding, edits, peers, reload)
        finally:
            for p in peers:
                p.stop()
            stop()
        ms = sorted(max(t) * 1000 for t in took)
        each = " | ".join(f"{percentile(sorted(t[i] * 1000 for t in took), 50):.0f}"
                          for i in range(3))
        rows.append(f"| {primary} | {percentile(ms, 50):.0f} | {percentile(ms, 99):.0f} | "
                    f"{ms[-1]:.0f} | {each} | {len(ms)} |")
        log(rows[-1])
    head = [f"Edit of a zone file ({padding + 17} records; one record and the serial changed, "
            "written to a temporary file and renamed over) until NSD 4.6, Knot 3.2 and BIND "
            "9.18 secondaries all answer the new serial (polled by UDP every 2 ms; the NSD "
            "secondary with `xfrd-reload-timeout: 0`, else NSD waits a second before serving "
            "what it transferred). NSD as the "
            "primary is told by `nsd-control reload` right after the rename (it has no "
            "watcher); it serves IXFR (store-ixfr, create-ixfr). Primary on core 0, "
            "secondaries and poller on core 1.", "",
            "| primary | p50 ms | p99 ms | max ms | p50 NSD | p50 Knot | p50 BIND | edits |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    return head + rows


# ---------------------------------------------------------------------------------------
# AXFR of a big zone


def write_big(path: Path, records: int) -> int:
    """SOA, NS and `records` A records, one a line; return the RRs an AXFR carries."""
    with open(path, "w") as f:
        f.write(f"$ORIGIN {BIG}.\n$TTL 3600\n@ IN SOA ns hostmaster 1 3600 600 86400 60\n"
                "@ IN NS ns\n")
        for i in range(records):
            f.write(f"h{i} IN A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
    return records + 3  # SOA, NS, the A records and the closing SOA


def _rss_sampler(pid: int, stop: threading.Event, peak: list[int]) -> None:
    while not stop.wait(0.02):
        try:
            peak[0] = max(peak[0], status_kib(pid, "VmRSS"))
        except (OSError, ValueError):
            return


def _timed_axfrs(port: int, pid: int, expected: int, rounds: int) -> tuple[list[float], int,
                                                                           int, int]:
    """(seconds of each AXFR, bytes of one, RSS before in KiB, peak RSS during in KiB)."""
    before = status_kib(pid, "VmRSS")
    peak, stop = [before], threading.Event()
    sampler = threading.Thread(target=_rss_sampler, args=(pid, stop, peak), daemon=True)
    sampler.start()
    times, size = [], 0
    try:
        for _ in range(rounds):
            took, size = axfr_count(port, BIG, expected)
            times.append(took)
    finally:
        stop.set()
        sampler.join()
    return times, size, before, peak[0]


def axfr(tmp: Path, records: int, rounds: int) -> list[str]:
    """Seconds and records/s of an AXFR of a `records`-record zone from us, NSD and Knot."""
    server_cpu, gen_cpu, _ = cpu_plan(1)
    src = tmp / f"{BIG}.zone"
    expected = write_big(src, records)
    rows = []
    for name in ("dnsbackend", "NSD", "Knot"):
        root = tmp / f"axfr-{name}"
        root.mkdir()
        log(f"AXFR: {name} loading {records:,} records")
        if name == "dnsbackend":
            ours = start_ours(root, [src], [], server_cpu)
            port, pid, stop = ours.port, ours.proc.pid, ours.stop
            wait_ready(ours, [Zone(BIG, src, 1)], 600)
        else:
            kind: Peer = NsdPrimary() if name == "NSD" else KnotPrimary()
            run = kind.start(root, [Zone(BIG, src, 1)], cpus=server_cpu, check=True)
            run.wait_ready([Zone(BIG, src, 1)], timeout=600)
            port, pid, stop = run.port, run.proc.pid, run.stop
        try:
            with inherited_affinity(gen_cpu):  # the reader is this process
                times, size, before, peak = _timed_axfrs(port, pid, expected, rounds)
        finally:
            stop()
        best = statistics.median(times)
        rows.append(f"| {name} | {best:.2f} | {expected / best:,.0f} | {size / best / 2**20:.0f} "
                    f"| {before / 1024:.0f} | {peak / 1024:.0f} | "
                    f"{', '.join(f'{t:.2f}' for t in times)} |")
        log(rows[-1])
    head = [f"AXFR of a zone of {records:,} A records ({expected:,} RRs with the two SOAs), "
            f"median of {rounds}, over TCP from a reader on core 1 that counts the RRs from the "
            "message headers (nothing parsed); the primary on core 0; memory of the primary's "
            "serving process before and at its peak during the transfers.", "",
            "| primary | seconds | RRs/s | MiB/s | RSS before MiB | RSS peak MiB | each run s |",
            "|---|---:|---:|---:|---:|---:|---|"]
    return head + rows


# ---------------------------------------------------------------------------------------
# Queries/s while a secondary pulls the big zone


def _axfr_loop(port: int, expected: int, stop: threading.Event, done: list[int]) -> None:
    while not stop.is_set():
        axfr_count(port, BIG, expected)
        done[0] += 1


def qps_during_axfr(tmp: Path, records: int, seconds: float, rounds: int) -> list[str]:
    """dnsperf's example mix against our server alone, then while AXFRs of the big zone run
    back to back; rounds alternate."""
    server_cpu, gen_cpu, _ = cpu_plan(1)
    root = tmp / "qps"
    root.mkdir()
    src = tmp / f"{BIG}.zone"
    expected = write_big(src, records) if not src.exists() else records + 3
    mix = root / "example.bin"
    write_binary(mix, example_mix())
    ours = start_ours(root, [src, EXAMPLE_ZONE], [], server_cpu)
    rows = []
    try:
        wait_ready(ours, [Zone(BIG, src, 1), Zone("example.com", EXAMPLE_ZONE, 0)], 600)
        load = dnsperf.Load(ours.port, mix, seconds, binary=True, mode="udp", clients=4,
                            threads=1, outstanding=100, timeout=2, cpus=gen_cpu)
        dnsperf.run(load, root / "warm.out")
        alone, during, pulled = [], [], 0
        for r in range(rounds):
            log(f"queries/s during AXFR: round {r + 1}")
            alone.append(dnsperf.run(load, root / "alone.out").checked().qps)
            stop, done = threading.Event(), [0]
            with inherited_affinity(gen_cpu):
                puller = threading.Thread(target=_axfr_loop, args=(ours.port, expected, stop,
                                                                   done), daemon=True)
                puller.start()
            time.sleep(0.5)  # the first transfer is under way
            during.append(dnsperf.run(load, root / "during.out").checked().qps)
            stop.set()
            puller.join()
            pulled += done[0]
    finally:
        ours.stop()
    a, d = statistics.median(alone), statistics.median(during)
    rows.append(f"| {a:,.0f} | {d:,.0f} | {d / a:.2f} | "
                f"{', '.join(f'{y / x:.2f}' for x, y in zip(alone, during, strict=True))} | "
                f"{pulled} |")
    return [f"Queries/s of our serving process (one worker, core 0) under dnsperf's example "
            f"mix (core 1), alone and while AXFRs of the {records:,}-record zone run back to "
            f"back from a reader on core 1; {seconds:g} s runs, median of {rounds}.", "",
            "| alone q/s | during AXFR q/s | ratio | each round | AXFRs during |",
            "|---:|---:|---:|---|---:|", *rows]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="propagation,axfr,qps",
                    help="which of propagation, axfr, qps (comma-separated)")
    ap.add_argument("--edits", type=int, default=50, help="edits for propagation")
    ap.add_argument("--padding", type=int, default=10000,
                    help="records of the edited zone besides its 17 fixed ones")
    ap.add_argument("--big", type=int, default=1_000_000, help="A records of the AXFR zone")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0, help="each dnsperf run of qps")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    ensure_tools()
    tmp = Path(tempfile.mkdtemp(prefix="dnsbench-xfr-"))
    parts = args.only.split(",")
    out: list[str] = []
    try:
        if "propagation" in parts:
            out += propagation(tmp, args.padding, args.edits) + [""]
        if "axfr" in parts:
            out += axfr(tmp, args.big, args.rounds) + [""]
        if "qps" in parts:
            out += qps_during_axfr(tmp, args.big, args.seconds, args.rounds) + [""]
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
