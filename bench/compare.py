"""Side-by-side throughput benchmark: dnsbackend against NSD, Knot and BIND under dnsperf.

Run from the repository root: `python -m bench.compare [options]` (`make bench ARGS=...`).
"""

from __future__ import annotations

import argparse
import sys

from testkit.programs import MissingProgram

from .bigzone import big
from .measure import bench
from .options import Options
from .querymix import SIGNED_MIXES
from .servers import SERVERS


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.compare",
                                description=__doc__.splitlines()[0])
    p.add_argument("--servers", default="nsd,knot,bind,dnsbackend",
                   type=lambda s: s.split(","), help="in this order; the first is the "
                   "reference for the answer comparison (default nsd,knot,bind,dnsbackend)")
    p.add_argument("--workers", default="1,2", type=lambda s: [int(x) for x in s.split(",")],
                   help="worker counts to run (default 1,2)")
    p.add_argument("--modes", default="udp,tcp", type=lambda s: s.split(","))
    p.add_argument("--mixes", type=lambda s: s.split(","),
                   help="default example,spread; with --signed signed-nsec,signed-nsec3")
    p.add_argument("--signed", action="store_true",
                   help="also the signed mixes: DO=1 queries (positive, NXDOMAIN, NODATA, "
                   "wildcard) to copies of the generated zone signed by dnssec-signzone "
                   "with NSEC and with NSEC3, every server serving the same signed files")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each timed run")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=1,
                   help="repeat everything; report the median round of each (default 1)")
    p.add_argument("--clients", type=int, default=4, help="dnsperf -c")
    p.add_argument("--outstanding", type=int, default=100, help="dnsperf -q")
    p.add_argument("--spread-records", type=int, default=100_000,
                   help="records of the generated zone of the spread mix (0: no spread mix)")
    p.add_argument("--spread-queries", type=int, default=300_000)
    p.add_argument("--no-latency-run", action="store_true",
                   help="skip the second, verbose run that gives p99")
    p.add_argument("--timeout", type=float, help="seconds to wait for the zones to load "
                   "(default 120, with --big 1800)")
    p.add_argument("--profile", type=int, default=0, metavar="SECONDS",
                   help="also profile dnsbackend with py-spy for this long on each mix")
    p.add_argument("--profile-out", metavar="DIR")
    p.add_argument("--write", metavar="FILE", help="put the report into this markdown file")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--big", type=int, nargs="?", const=1_000_000, default=0, metavar="RECORDS",
                   help="instead: memory and load time with a zone of RECORDS (1,000,000)")
    p.add_argument("--chart", metavar="PNG", help="with --big: also draw the load and restart "
                   "times into this file (e.g. docs/big-zones-load.png)")
    p.add_argument("--load-cores", type=int, default=1, metavar="N",
                   help="with --big: each server, peers and ours alike, runs on the first N "
                   "cores (default 1, the cores of the throughput runs; a load has no "
                   "load generator beside it, so N may be all of them)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    for s in args.servers:
        if s not in SERVERS:
            p.error(f"unknown server {s}; choose from {', '.join(SERVERS)}")
    timeout = args.timeout if args.timeout is not None else 1800 if args.big else 120
    mixes = args.mixes or (list(SIGNED_MIXES) if args.signed else ["example", "spread"])
    opts = Options(
        servers=args.servers, workers=args.workers, modes=args.modes, mixes=mixes,
        seconds=args.seconds, warmup=args.warmup, rounds=args.rounds, clients=args.clients,
        outstanding=args.outstanding, spread_records=args.spread_records,
        spread_queries=args.spread_queries, no_latency_run=args.no_latency_run,
        timeout=timeout, profile=args.profile, profile_out=args.profile_out,
        write=args.write, keep=args.keep, big=args.big, chart=args.chart,
        signed=args.signed, load_cores=args.load_cores)
    try:
        return big(opts) if opts.big else bench(opts)
    except MissingProgram as exc:
        sys.exit(f"compare.py: {exc}")


if __name__ == "__main__":
    sys.exit(main())
