"""What the divert of signed queries and UDP IXFR (query.responder.unusual) costs an ordinary
unsigned query: respond() per query from the memo (untouched) and on memo misses (where the
check runs), and unusual() alone. Run it from two trees to compare before and after:

    python -m bench.divert            # this tree
    PYTHONPATH=/path/to/other/tree python -m bench.divert

Figures mean something only on a quiet machine (docs/PERFORMANCE.md)."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dns.message

from dnsbackend.query import responder
from dnsbackend.store.snapshot import Reader
from testkit.store import store_with_zones
from testkit.zones import versioned_zone

ORIGIN = "bench.test."


def _queries(count: int) -> list[bytes]:
    """Distinct ordinary queries, half with EDNS (the two common shapes)."""
    return [dns.message.make_query(f"host{i}.{ORIGIN}", "A",
                                   use_edns=0 if i % 2 else None).to_wire()
            for i in range(count)]


def _per_query(run: Callable[[], None], count: int, rounds: int) -> float:
    """Nanoseconds per query, the best of `rounds`."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        run()
        best = min(best, (time.perf_counter_ns() - start) / count)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    wires = _queries(args.queries)
    with tempfile.TemporaryDirectory() as tmp:
        store, _ = store_with_zones(Path(tmp), {ORIGIN: versioned_zone(ORIGIN, 1,
                                                                       padding=args.queries)})
        reader = Reader(store)
        respond = responder.respond

        def misses() -> None:  # a new memo each round: every query misses it
            snapshot = reader.snapshot()
            snapshot.memo[False].clear()
            for wire in wires:
                respond(wire, snapshot, False, None)

        def hits() -> None:
            snapshot = reader.snapshot()
            for wire in wires:
                respond(wire, snapshot, False, None)

        hits()  # fill the memo and the prepared answers
        print(f"module compiled: {responder.__file__.endswith('.so')}")
        print(f"respond(), memo hit:  {_per_query(hits, len(wires), args.rounds):8.0f} ns/query")
        print(f"respond(), memo miss: {_per_query(misses, len(wires), args.rounds):8.0f} ns/query")
        unusual = getattr(responder, "unusual", None)
        if unusual is not None:
            def checks() -> None:
                for wire in wires:
                    unusual(wire)

            print(f"unusual() alone:      {_per_query(checks, len(wires), args.rounds):8.0f} "
                  "ns/query")
        store.close()


if __name__ == "__main__":
    main()
