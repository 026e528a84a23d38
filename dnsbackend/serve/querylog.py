"""The query log's buffer: what the network layer hands over per query when the log is on.

Appending is all the query path does (the client as the socket gave it, the response);
metrics/querylog.py formats and writes the lines off the query path. The buffer is
bounded: when it is full, queries are counted as dropped lines rather than waited for.
"""

from __future__ import annotations

import time

LIMIT = 20_000  # queries held between two flushes (a tenth of a second): ~200,000 q/s


class QueryLogBuffer:
    """Queries answered since the last flush, at most `limit` of them."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        # (time, client, response, tcp): client is a struct sockaddr's bytes (batched UDP)
        # or the (address, port, ...) tuple asyncio gives
        self.entries: list[tuple[float, object, bytes, bool]] = []
        self.dropped = 0  # lines not logged because the buffer was full

    def add(self, client: object, response: bytes, tcp: bool) -> None:
        if len(self.entries) < self.limit:
            self.entries.append((time.time(), client, response, tcp))
        else:
            self.dropped += 1

    def take(self) -> list[tuple[float, object, bytes, bool]]:
        """The queries held, and an empty buffer from now on."""
        entries = self.entries
        self.entries = []
        return entries
