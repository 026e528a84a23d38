"""Per-call cost of the answer path in this process (no sockets): the memo's hit, answer()
from the prepared caches, and the paths that know the client (cookies, rate limiting).

    python -m bench.answerpath [--calls N]

Each figure is the best of 9 rounds of N calls, in nanoseconds per call. The cases that
an older tree lacks are left out, so the same script measures before and after a change.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.edns
import dns.message

from dnsbackend.query import responder as responder_module
from dnsbackend.query.engine import answer
from dnsbackend.store.snapshot import Reader
from testkit.store import store_with_zones
from testkit.zones import EXAMPLE_ZONE

ROUNDS = 9


def best_ns(call: Callable[[], object], calls: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best


def wire(name: str, options: list[dns.edns.Option] | None = None) -> bytes:
    return dns.message.make_query(name, "A", use_edns=0, options=options or []).to_wire()


def cases(reader: Reader, other: Reader) -> dict[str, Callable[[], object]]:
    """The calls measured, by name (`other`: a second reader of the store, for settings
    of its own)."""
    responder = responder_module.Responder(reader)
    plain = wire("www.example.com")
    snapshot = reader.snapshot()
    batch: Any = responder.batch()
    respond: Callable[[bytes], object] = getattr(batch, "respond", batch)  # older: a function
    found: dict[str, Callable[[], object]] = {
        "memo hit (a batch's respond)": lambda: respond(plain),
        "answer() from the prepared cache": lambda: answer(plain, snapshot),
    }
    client_type = getattr(responder_module, "Client", None)
    if client_type is not None:
        nsid = wire("www.example.com", [dns.edns.GenericOption(dns.edns.OptionType.NSID, b"")])
        cookie = wire("www.example.com",
                      [dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"c" * 8)])
        client = client_type(b"\x7f\x00\x00\x01", time.time())
        found["memo hit, NSID asked"] = lambda: respond(nsid)
        found["cookie (respond_from)"] = lambda: responder.batch().respond_from(cookie, client)
    if hasattr(getattr(responder_module, "OneSnapshot", None), "rate_limiter"):
        from dnsbackend.store.format import RateLimits, ServedSettings

        limited = responder_module.Responder(other)
        other.snapshot().served = ServedSettings(rrl=RateLimits(1_000_000))
        answering = limited.batch()
        limiter = answering.rate_limiter()
        ip = b"\x7f\x00\x00\x01"
        # A UDP query as the batch loop answers it with rate limiting on.
        found["memo hit + RRL on (a limit never reached)"] = lambda: answering.finish(
            plain, answering.respond(plain), ip, 1e9, limiter)
    return found


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.answerpath",
                                description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=200_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, _ = store_with_zones(Path(tmp), {"example.com.": EXAMPLE_ZONE.read_text()})
        try:
            for name, call in cases(Reader(store), Reader(store)).items():
                call()  # fills the caches and the memo
                print(f"{name:40} {best_ns(call, args.calls):8.0f} ns")
        finally:
            store.close()


if __name__ == "__main__":
    main()
