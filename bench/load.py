"""Zone load time: parse, check, compile and the LMDB store write, for large generated zones.

    python -m bench.load [--sizes 100000,1000000] [--dnspython]

Each size runs in its own process (so peak memory is per size) on a zone from
testkit.zones.generate in a temporary directory. `--dnspython` also times the dnspython reader
on the same file, for comparison with the fast one. Prints one table row per size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ORIGIN = "load.example."


class _Timer:
    """Wall and CPU seconds of one step (CPU time is what a busy shared machine distorts least)."""

    def __init__(self, out: dict[str, float], key: str) -> None:
        self.out = out
        self.key = key

    def __enter__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def __exit__(self, *exc: object) -> None:
        self.out[self.key + "_s"] = time.perf_counter() - self.wall
        self.out[self.key + "_cpu"] = time.process_time() - self.cpu


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(records: int, with_dnspython: bool) -> dict[str, float]:
    """One size, in this process: the seconds of each step and the peak memory after it."""
    import dns.name

    from dnsbackend.store.database import Store
    from dnsbackend.store.transaction import Transaction
    from dnsbackend.update.jobs import Parsed, apply_parsed
    from dnsbackend.update.outcome import Action
    from dnsbackend.update.policy import WantedZone, ZonePolicy
    from dnsbackend.zone.bindreader import read_zone_file
    from dnsbackend.zone.build import build_zone
    from dnsbackend.zone.checks import check_zone
    from dnsbackend.zone.fastreader import parse_fast
    from dnsbackend.zone.files import file_stamp, origin_key
    from dnsbackend.zone.nodes import zone_nodes
    from dnsbackend.zone.records import paused_gc
    from testkit.zones import generate

    out: dict[str, float] = {"records": records}
    origin = dns.name.from_text(ORIGIN)
    with tempfile.TemporaryDirectory(prefix="dnsbackend-load-") as tmp:
        zones = os.path.join(tmp, "zones")
        os.mkdir(zones)
        path = os.path.join(zones, f"{ORIGIN}zone")
        generate(path, ORIGIN, records)
        out["file_mb"] = os.path.getsize(path) / 1e6
        out["base_mb"] = _peak_mb()

        text = Path(path).read_text()
        out["fast_path"] = float(parse_fast(text, origin, path) is not None)
        del text

        with _Timer(out, "parse"):
            parsed = read_zone_file(path, origin, zones)
        out["parse_mb"] = _peak_mb()
        with _Timer(out, "check"):
            check_zone(parsed, path)
        with _Timer(out, "compile"):
            compiled = zone_nodes(parsed)
        out["compile_mb"] = _peak_mb()
        del parsed, compiled

        stamp = file_stamp(path)
        with _Timer(out, "build"):
            built = build_zone(path, origin, zones)
        store = Store(os.path.join(tmp, "db"))
        try:
            with _Timer(out, "write"), Transaction(store) as txn:  # the write jobs' way
                wanted = WantedZone(ORIGIN, os.path.realpath(path))
                outcome = apply_parsed(txn, ZonePolicy(os.path.realpath(zones)),
                                       origin_key(origin), wanted,
                                       Parsed(built, "", stamp, built.digest))
                txn.collect_garbage()
        finally:
            store.close()
        if outcome.action is not Action.LOADED:
            raise RuntimeError(f"{path}: {outcome.action.value}: {outcome.error}")
        out["total_s"] = out["build_s"] + out["write_s"]
        out["total_cpu"] = out["build_cpu"] + out["write_cpu"]
        out["peak_mb"] = _peak_mb()
        db_files = [f for f in Path(tmp, "db").rglob("*") if f.is_file()]
        out["db_mb"] = sum(f.stat().st_size for f in db_files) / 1e6
        del built

        if with_dnspython:
            from dnsbackend.zone.bindreader import parse_text_dnspython

            text = Path(path).read_text()
            with _Timer(out, "dnspython"), paused_gc():
                parse_text_dnspython(text, origin, path, zones)
    return out


COLUMNS = [("records", "records", "{:.0f}"), ("file MB", "file_mb", "{:.1f}"),
           ("fast", "fast_path", "{:.0f}"), ("parse", "parse", ""), ("check", "check", ""),
           ("compile", "compile", ""), ("build", "build", ""), ("write", "write", ""),
           ("total", "total", ""), ("parse MB", "parse_mb", "{:.0f}"),
           ("peak MB", "peak_mb", "{:.0f}"), ("db MB", "db_mb", "{:.0f}"),
           ("dnspython", "dnspython", "")]


def _cell(row: dict[str, float], key: str, fmt: str) -> str:
    if fmt:
        return fmt.format(row[key]) if key in row else "-"
    if key + "_s" not in row:
        return "-"
    return f"{row[key + '_cpu']:.2f}/{row[key + '_s']:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--dnspython", action="store_true",
                        help="also time the dnspython reader (about 2 minutes per million)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.dnspython)))
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        cmd = [sys.executable, "-m", "bench.load", "--one", str(size)] + (
            ["--dnspython"] * args.dnspython)
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"load.py on {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          "build = parse + check + compile + digest, write = apply_parsed (the write jobs' "
          "transaction) into a new LMDB store")
    shown = [(title, key, fmt) for title, key, fmt in COLUMNS
             if any(key in r or key + "_s" in r for r in rows)]
    print(" | ".join(f"{title:>11}" for title, _, _ in shown))
    for row in rows:
        print(" | ".join(f"{_cell(row, key, fmt):>11}" for _, key, fmt in shown))
    print("Times are CPU seconds / wall seconds.")
    print("MB columns are the process's peak resident memory after that step "
          f"(the interpreter alone: {rows[0]['base_mb']:.0f} MB).")


if __name__ == "__main__":
    main()
