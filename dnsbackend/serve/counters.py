"""What the network layer counts for the metrics: plain integers, bumped where it happens.

One instance per process (SERVE). Nothing here is per ordinary query: those are counted by
the responder (query/responder.py, by response). metrics/ reads these off the query path
and folds them into the registry.
"""

from __future__ import annotations

from .querylog import QueryLogBuffer


class ServeCounters:
    """Events of the network layer, since the process started."""

    def __init__(self) -> None:
        self.too_long = 0  # UDP datagrams dropped unread: longer than any query we answer
        # Responses held back by response rate limiting (UDP only): dropped, or sent
        # truncated instead ("slipped", so that a real client asks again over TCP).
        self.rate_limited_dropped = 0
        self.rate_limited_slipped = 0
        self.transfers: dict[str, int] = {}  # transfers answered, by kind (AXFR, IXFR, ...)
        self.notifies_sent = 0  # NOTIFY messages sent (retries too)
        self.notifies_acknowledged = 0  # NOTIFYs answered by their target as they should be
        self.query_log: QueryLogBuffer | None = None  # where queries go when the log is on


SERVE = ServeCounters()
