"""The rejected design, for contrast: a responder that parses zones in its serving process.

An asyncio responder that parses a zone in a thread of its own serving process (so the
parse holds the GIL). Started by bench/live.py as

    python -m bench.live_rejected DATA ZONE_FILE ORIGIN

it prints `port N` once it answers, parses on a line `parse` on stdin (printing `parsing`,
then `parsed N records in S s`), and stops at the next line or end of stdin.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from typing import cast

import dns.name


def rejected_responder(data: str, zone_file: str, origin: str) -> None:
    """Serve from the store with dnsbackend.query.engine.answer; on 'parse' on stdin, parse
    `zone_file` with build_zone in a thread of this very process (the design we rejected)."""
    from dnsbackend.query.engine import answer
    from dnsbackend.store.database import Store
    from dnsbackend.store.snapshot import Reader
    from dnsbackend.zone.build import build_zone

    reader = Reader(Store(data))

    class Protocol(asyncio.DatagramProtocol):
        transport: asyncio.DatagramTransport

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.DatagramTransport, transport)

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            response = answer(data, reader.snapshot(), False)
            if response is not None:
                self.transport.sendto(response, addr)

    def parse() -> None:
        started = time.perf_counter()
        built = build_zone(zone_file, dns.name.from_text(origin), os.path.dirname(zone_file))
        print(f"parsed {built.contents.meta.records} records in "
              f"{time.perf_counter() - started:.1f}s", flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(Protocol,
                                                           local_addr=("127.0.0.1", 0))
        print(f"port {transport.get_extra_info('sockname')[1]}", flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if line.strip() == "parse":
            threading.Thread(target=parse, daemon=True).start()
            print("parsing", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # until told to stop

    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())


if __name__ == "__main__":
    rejected_responder(*sys.argv[1:4])
