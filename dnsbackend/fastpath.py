"""The per-query fast path: answer() remembered per snapshot, keyed by the query after its ID.

answer() is a pure function of the query bytes, the snapshot and the transport, and the
only part of the query it copies without looking at is the 16-bit ID. So a response, less
its ID, can be kept under the rest of the query's bytes for as long as the snapshot lives;
a repeated query then costs one dictionary lookup and one concatenation. Every response is
remembered the same way (answers, errors, drops), so there is nothing to get wrong per
case. The memo belongs to the snapshot: a new catalog transaction starts an empty one.
"""

from __future__ import annotations

from .answer import Settings, answer
from .snapshot import Snapshot

MEMO_LIMIT = 100_000  # entries per snapshot and transport; cleared when full
# Larger responses are not remembered: the client picks the query bytes, so 100,000
# remembered 64 KB TCP answers (one name in 100,000 spellings) would be 6 GB.
MEMO_MAX_RESPONSE = 1232
MEMO_MAX_QUERY = 512  # likewise for the key: a TCP query may carry 64 KB of EDNS padding
_DROP = b""  # remembered "no response"


def respond(msg: bytes, snapshot: Snapshot, tcp: bool, settings: Settings | None) -> bytes | None:
    """answer(), remembered. `settings` None means the store's settings (the memo's case)."""
    memo = snapshot.memo[tcp]
    key = msg[2:]
    hit = memo.get(key)
    if hit is not None:
        return msg[:2] + hit if hit else None
    response = answer(msg, snapshot, tcp, settings)
    if settings is None and 2 <= len(msg) <= MEMO_MAX_QUERY and (
            response is None or len(response) <= MEMO_MAX_RESPONSE):
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[key] = _DROP if response is None else response[2:]
    return response
