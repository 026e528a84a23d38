"""Instructions per query of the batched UDP path with the metrics and rate limiting off and
on, counted by callgrind: instruction counts, not a throughput figure.

    python -m bench.opscost [--mix spread|example] [--queries N] [--records N]
    python -m bench.opscost --signed [--queries N] [--records N] [--callgrind-out DIR]

Instruction counts do not depend on the machine's load, so they compare the cases where
queries/s on a busy machine cannot. The store (the spread mix's generated zone and the
example zone, loaded through the write jobs) and the queries are made once; then each case
runs this program again under `valgrind --tool=callgrind`, which counts only inside the
batches: every batch is answered by the server's own BatchedUDP from a real loopback
socket, called through `functools.reduce`, the one function callgrind is told to collect
in (nothing else on these paths calls it; the client's sending and reading, the imports
and the warm-up are not counted). The cases:

- off: metrics and rate limiting off (the ordinary path);
- metrics: the metrics on, folded every `--fold-every` queries (the fold runs once a second
  in the server: at ~130,000 queries/s, every 130,000 queries) and at the end, counted;
- rrl: rate limiting on, with a limit never reached (1,000,000 responses/s);
- both: the metrics and rate limiting.

The counted queries are first answered once, uncounted, so that the zone's caches hold
their answers; for the spread mix the memo is then emptied, so that the counted pass is
what a server answering the whole mix over and over sees: nearly every query a miss of
the memo (300,000 queries go round a memo of 100,000), whose answer is prepared already.
For the example mix the memo stays: every query is a memo hit. The figure is the counted
instructions over the queries answered; the ratio is to `off`.

With `--signed`, the off case only, over three mixes of the same generated zone (each in a
store of its own): the unsigned spread mix, and the DO=1 mixes of `bench.compare --signed`
(signed-nsec, signed-nsec3: the zone signed by dnssec-signzone). After the uncounted pass
the memo and the zones' answer caches are emptied (the nodes read stay), so that every
counted answer is made: resolved and encoded, as most answers of those mixes are when the
server answers them over and over. The ratio is to the spread mix's. `--callgrind-out`
keeps callgrind's files there, for `callgrind_annotate` (which functions cost what).
"""

from __future__ import annotations

import argparse
import functools
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

CASES = ("off", "metrics", "rrl", "both")
MIXES = ("spread", "example", "signed-nsec", "signed-nsec3")
SIGNED = ("spread", "signed-nsec", "signed-nsec3")  # the mixes of --signed
LIMIT = 1_000_000  # responses per second per account: never reached here
_LENGTH = struct.Struct("!H")
VALGRIND_MAP_SIZE = 4 << 30  # valgrind cannot map the store's default 64 GiB of address space


def write_inputs(tmp: Path, mix: str, records: int, count: int) -> tuple[Path, Path]:
    """The store with the zones loaded, and the mix's queries (each behind its length)."""
    from testkit.dnssec import sign
    from testkit.store import load_zone
    from testkit.zones import EXAMPLE_ZONE

    from .querymix import (
        BENCH_ORIGIN,
        SIGNED_MIXES,
        example_mix,
        query_wire,
        signed_mix,
        spread_mix,
        write_bench_zone,
    )

    db = tmp / "db"
    origin, denial = SIGNED_MIXES.get(mix, (BENCH_ORIGIN, ""))
    zone = tmp / f"{origin}.zone"
    bench_zone = write_bench_zone(zone, origin, records)
    if denial:  # a signed copy, as bench.compare --signed serves it
        zone = sign(zone.read_text(), f"{origin}.", tmp / "signing", denial)
    load_zone(db, zone, f"{origin}.")
    example = tmp / "example.com.zone"
    example.write_text(EXAMPLE_ZONE.read_text())
    load_zone(db, example, "example.com.")
    questions = (example_mix() if mix == "example" else
                 signed_mix(bench_zone, count) if denial else spread_mix(bench_zone, count))
    queries = tmp / "queries.bin"
    queries.write_bytes(b"".join(_LENGTH.pack(len(w)) + w for w in map(query_wire, questions)))
    return db, queries


def read_queries(path: Path) -> list[bytes]:
    data = path.read_bytes()
    out = []
    at = 0
    while at < len(data):
        (size,) = _LENGTH.unpack_from(data, at)
        out.append(data[at + 2:at + 2 + size])
        at += 2 + size
    return out


def counting(call: Callable[[], None]) -> None:
    """call(), inside callgrind's count (--toggle-collect=functools_reduce)."""
    functools.reduce(_call, [call], None)


def _call(_: None, call: Callable[[], None]) -> None:
    call()


class Driver:
    """One case, in this process: a responder over the store, its BatchedUDP on loopback."""

    def __init__(self, db: Path, case: str, fold_every: int) -> None:
        from dnsbackend.query.responder import Responder
        from dnsbackend.serve.udpbatch import BATCH, BatchedUDP
        from dnsbackend.store.database import Store
        from dnsbackend.store.format import RateLimits, ServedSettings
        from dnsbackend.store.snapshot import Reader

        self.store = Store(str(db), map_size=VALGRIND_MAP_SIZE)
        reader = Reader(self.store)
        self.responder = Responder(reader)
        self.folder: Any = None
        if case in ("metrics", "both"):
            from dnsbackend.metrics import prepare_directory

            prepare_directory()  # as the server does, before prometheus_client is imported
            from dnsbackend.metrics.exporter import Folder

            self.folder = Folder(self.responder, 0)
        if case in ("rrl", "both"):
            snapshot = reader.snapshot()
            snapshot.served = ServedSettings(snapshot.udp_payload, rrl=RateLimits(LIMIT))
        self.server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.setblocking(False)
        self.client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.client.bind(("127.0.0.1", 0))
        self.client.setblocking(False)
        for sock in (self.server, self.client):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.address = self.server.getsockname()
        self.udp = BatchedUDP(self.server, self.responder.batch)
        self.batch = BATCH
        self.fold_every = fold_every
        self.since_fold = 0
        self.answered = 0

    def run(self, queries: list[bytes], counted: bool) -> None:
        """Answer `queries` a batch at a time, then fold what they left unfolded; with
        `counted`, inside callgrind's count."""
        readable = self.udp._readable
        fold = self.folder.fold if self.folder is not None else None
        for start in range(0, len(queries), self.batch):
            batch = queries[start:start + self.batch]
            for query in batch:
                self.client.sendto(query, self.address)
            answered = 0
            while answered < len(batch):
                if not select.select([self.server], [], [], 5)[0]:
                    raise SystemExit("opscost: queries lost on loopback")
                counting(readable) if counted else readable()
                answered += self._drain(len(batch) - answered)
            self.answered += answered if counted else 0
            self.since_fold += len(batch)
            if fold is not None and self.since_fold >= self.fold_every:
                self.since_fold = 0
                counting(fold) if counted else fold()
        if fold is not None:
            self.since_fold = 0
            counting(fold) if counted else fold()

    def forget_memo(self, answers: bool = False) -> None:
        """Empty the memo (and that of the metrics and rate limiting: query.facts); with
        `answers`, the zones' answer caches too, so that answers are made again."""
        snapshot = self.responder.reader.snapshot()
        for memo in snapshot.memo:
            memo.clear()
        for zone in snapshot.zones.values() if answers else ():
            for cache in (zone.responses, zone.outcomes, zone.signed_responses,
                          getattr(zone, "signed_outcomes", {})):
                cache.clear()
        facts = getattr(self.responder, "facts", None)
        if facts is not None:
            facts.udp_memo.clear()
            facts.tcp_memo.clear()

    def _drain(self, want: int) -> int:
        """Read up to `want` answers (those sent so far: a second's wait at most)."""
        got = 0
        while got < want and select.select([self.client], [], [], 1)[0]:
            self.client.recv(65536)
            got += 1
        return got


def child(args: argparse.Namespace) -> None:
    import dnsbackend.query.responder

    queries = read_queries(Path(args.queries_file))
    driver = Driver(Path(args.db), args.child, args.fold_every)
    measured = [queries[i % len(queries)] for i in range(args.queries)]
    driver.run(measured, counted=False)  # the zone's caches hold their answers
    if args.cold in ("memo", "made"):
        driver.forget_memo(answers=args.cold == "made")
    driver.run(measured, counted=True)
    compiled = dnsbackend.query.responder.__file__.endswith(".so")
    print(f"answered {driver.answered} compiled {compiled}")


def instructions(out_file: Path) -> int:
    for line in out_file.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"opscost: no totals in {out_file}")


def measure(case: str, db: Path, queries: Path, args: argparse.Namespace, out: Path,
            cold: str) -> tuple[float, bool]:
    """(instructions per answered query, whether the query path ran compiled); callgrind's
    file written to `out`. `cold`: what is emptied before the counted pass (none, memo,
    made: the memo and the answer caches)."""
    command = ["valgrind", "--tool=callgrind", "--collect-atstart=no",
               "--toggle-collect=functools_reduce", f"--callgrind-out-file={out}",
               sys.executable, "-m", "bench.opscost", "--child", case, "--db", str(db),
               "--queries-file", str(queries), "--queries", str(args.queries),
               "--fold-every", str(args.fold_every), "--cold", cold]
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"opscost: {case} failed:\n{done.stderr[-3000:]}")
    words = done.stdout.split()
    answered = int(words[words.index("answered") + 1])
    return instructions(out) / answered, words[words.index("compiled") + 1] == "True"


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.opscost",
                                description=__doc__.splitlines()[0])
    p.add_argument("--mix", choices=MIXES, default="spread")
    p.add_argument("--signed", action="store_true", help="instead: the off case over the "
                   "spread mix and the DO=1 signed mixes, every answer made")
    p.add_argument("--callgrind-out", metavar="DIR", help="keep callgrind's files here")
    p.add_argument("--records", type=int, default=100_000,
                   help="records of the spread mix's zone (default 100,000, as bench.compare)")
    p.add_argument("--queries", type=int, help="queries counted (default 30,000; with "
                   "--signed 10,000 per mix)")
    p.add_argument("--fold-every", type=int, default=130_000)
    p.add_argument("--cases", default=",".join(CASES), type=lambda s: s.split(","))
    p.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--queries-file", help=argparse.SUPPRESS)
    p.add_argument("--cold", choices=("none", "memo", "made"), help=argparse.SUPPRESS)
    args = p.parse_args()
    args.queries = args.queries or (10_000 if args.signed else 30_000)
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        outs = Path(args.callgrind_out) if args.callgrind_out else tmp
        outs.mkdir(parents=True, exist_ok=True)
        if args.signed:
            signed(args, tmp, outs)
        else:
            cases(args, tmp, outs)


def cases(args: argparse.Namespace, tmp: Path, outs: Path) -> None:
    """The cases over one mix."""
    db, queries = write_inputs(tmp, args.mix, args.records, args.queries)
    print(f"{args.mix} mix, {args.queries} queries counted, fold every {args.fold_every}; "
          "instruction counts (callgrind), not a throughput figure")
    cold = "none" if args.mix == "example" else "memo" if args.mix == "spread" else "made"
    base = None
    for case in args.cases:
        per_query, compiled = measure(case, db, queries, args, outs / f"callgrind.{case}",
                                      cold)
        base = base or per_query
        _line(case, per_query, base, compiled)


def signed(args: argparse.Namespace, tmp: Path, outs: Path) -> None:
    """The off case over the spread mix and the signed mixes, every answer made."""
    print(f"{args.records} records, {args.queries} queries counted per mix, every answer "
          "made; instruction counts (callgrind), not a throughput figure")
    base = None
    for mix in SIGNED:
        (tmp / mix).mkdir()
        db, queries = write_inputs(tmp / mix, mix, args.records, args.queries)
        per_query, compiled = measure("off", db, queries, args, outs / f"callgrind.{mix}",
                                      "made")
        base = base or per_query
        _line(mix, per_query, base, compiled)


def _line(what: str, per_query: float, base: float, compiled: bool) -> None:
    print(f"{what:12} {per_query:10,.0f} instructions/query  {per_query / base:5.3f}"
          f"{'' if compiled else '  (pure Python: run make native)'}", flush=True)


if __name__ == "__main__":
    main()
