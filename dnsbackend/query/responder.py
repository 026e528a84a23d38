"""The per-query fast path: answer() remembered per snapshot, keyed by the query after its ID;
the Responder the network layer calls, which takes the snapshot and never raises.

answer() is a pure function of the query bytes, the snapshot and the transport, and the
only part of the query it copies without looking at is the 16-bit ID. So a response, less
its ID, can be kept under the rest of the query's bytes for as long as the snapshot lives;
a repeated query then costs one dictionary lookup and one concatenation. Every response is
remembered the same way (answers, errors, drops), so there is nothing to get wrong per
case. The memo belongs to the snapshot: a new catalog transaction starts an empty one.

Two kinds of query are not answer()'s: an IXFR over UDP and a TSIG-signed query (RFC 8945)
need the client's address, the keys and dnspython. A memo miss checks for them cheaply
(unusual(): the question's type and the section counts) and gives back DIVERT, for the
network layer to hand the query to serve.divert. Neither is ever remembered, so a memo hit
is never one of them, and the queries of the common shapes never pay for the check.
"""

from __future__ import annotations

import logging
import struct
from typing import Final, cast

from ..store.format import DEFAULT_UDP_PAYLOAD, RateLimits, ServedSettings
from ..store.snapshot import Reader, Snapshot, StaleSnapshot
from ..wire.codes import CD, IXFR, OPCODE_MASK, OPT, QR, RD, SERVFAIL
from ..wire.message import FormatError, name_end, opt_record, parse_fields
from .edns import Client
from .engine import AnswerOptions, answer
from .facts import Facts
from .rrl import RateLimiter

log = logging.getLogger("dnsbackend")

MEMO_LIMIT: Final = 100_000  # entries per snapshot and transport; cleared when full
# Larger responses are not remembered: the client picks the query bytes, so 100,000
# remembered 64 KB TCP answers (one name in 100,000 spellings) would be 6 GB.
MEMO_MAX_RESPONSE: Final = 1232
MEMO_MAX_QUERY: Final = 512  # likewise for the key: a TCP query may carry 64 KB of EDNS padding
_DROP: Final = b""  # remembered "no response"
_SERVFAIL_FLAGS: Final = QR | SERVFAIL
FAILURES_LOGGED_EVERY: Final = 10_000
# What respond() gives for a query it passes on (see the module's docstring): shorter than
# any DNS message, so the network layer tells it apart by its length alone (compiled code
# need not keep its identity).
DIVERT: Final = b"divert"


def unusual(msg: bytes) -> bool:
    """Whether a query may be an IXFR or TSIG-signed: its type is IXFR, or it has answer or
    authority records, or its additional section is anything but one OPT record after the
    question. (A TSIG RR is the last of the additional section, and never an OPT record.)
    Not a response (QR set): answer() drops those."""
    if msg[2] & 0x80:
        return False
    end = name_end(msg)
    n = len(msg)
    if end < 0 or end + 2 > n:
        return False  # answer() says FORMERR
    if ((msg[end] << 8) | msg[end + 1]) == IXFR:
        return True
    if msg[6] or msg[7] or msg[8] or msg[9] or msg[10]:
        return True
    arcount = msg[11]
    if arcount == 0:
        return False
    at = end + 4  # the first additional record: a root name, then its type
    return arcount != 1 or at + 3 > n or msg[at] != 0 or \
        ((msg[at + 1] << 8) | msg[at + 2]) != OPT


def respond(msg: bytes, snapshot: Snapshot, tcp: bool, options: AnswerOptions | None,
            facts: Facts | None = None) -> bytes | None:
    """answer(), remembered. `options` None means the store's options (the memo's case).

    `facts` (when the metrics or rate limiting are on) remembers each response with its
    fact (its label id and account: query.facts) in a memo of its own, counts each
    response as it is given and keeps its account. NEEDS_CLIENT (neither remembered nor counted)
    for a query answered only knowing the client."""
    if facts is not None:
        return _respond_noting(msg, snapshot, tcp, options, facts)
    memo = snapshot.memo[tcp]
    key = msg[2:]
    hit = memo.get(key)
    if hit is not None:
        return msg[:2] + hit if hit else None
    if len(msg) >= 12 and unusual(msg):
        return DIVERT
    response = answer(msg, snapshot, tcp, options)
    if response is not None and len(response) < 12:
        return response  # NEEDS_CLIENT: respond_from() answers it
    if _remembered(msg, response, options):
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[key] = _DROP if response is None else response[2:]
    return response


def _remembered(msg: bytes, response: bytes | None, options: AnswerOptions | None) -> bool:
    return options is None and 2 <= len(msg) <= MEMO_MAX_QUERY and (
        response is None or len(response) <= MEMO_MAX_RESPONSE)


def _respond_noting(msg: bytes, snapshot: Snapshot, tcp: bool, options: AnswerOptions | None,
                    facts: Facts) -> bytes | None:
    """respond() with the metrics or rate limiting on: the memo is the facts' own, each
    response remembered with its fact (query.facts), so that a hit costs one look-up."""
    memo = facts.memo_of(snapshot, tcp)
    key = msg[2:]
    place = memo.places.get(key)
    if place is not None:
        at = cast(int, place)
        facts.given(memo.facts[at], tcp)
        tail = memo.tails[at]
        return msg[:2] + tail if tail else None
    facts.account = -1
    if len(msg) >= 12 and unusual(msg):
        return DIVERT
    note = facts.note
    note.zone = None
    response = answer(msg, snapshot, tcp, options, None, note)
    if response is not None and len(response) < 12:
        return response  # NEEDS_CLIENT: respond_from() answers (and counts) it
    fact = facts.noted(response, snapshot, tcp)
    if _remembered(msg, response, options):
        memo.keep(key, _DROP if response is None else response[2:], fact, MEMO_LIMIT)
    facts.given(fact, tcp)
    return response


class Responder:
    """respond() from the store's current snapshot, for the network layer; never raises."""

    def __init__(self, reader: Reader, options: AnswerOptions | None = None) -> None:
        """`options` None: take them from the store (as every worker process does)."""
        self.reader = reader
        self.options = options
        self.failures = 0  # internal errors answered with SERVFAIL
        # Queries and UDP batches taken up, counted: whether queries are coming in is what
        # zone transfers yield to (serve/tcp.py TransferPacer).
        self.activity = 0
        # What the responses say (query.facts), when the metrics or rate limiting need it;
        # their label ids summed and emptied off the query path (metrics/tally.py).
        self.facts: Facts | None = None
        self.metrics = False
        # Response rate limiting: the table of the settings last seen (None: off).
        self.limiter: RateLimiter | None = None
        self.limits_seen: ServedSettings | None = None

    def count(self) -> Facts:
        """Count the responses for the metrics from now on; what counts them."""
        self.metrics = True
        if self.facts is None:
            self.facts = Facts(True, self.limiter is not None)
        elif not self.facts.metrics:
            self.facts.metrics = True
            self.facts.snapshot = None  # what it remembers has no label ids
        return self.facts

    def limiter_for(self, served: ServedSettings) -> RateLimiter | None:
        """The rate limiter of these settings: kept while they do not change."""
        if served is not self.limits_seen:
            self.limits_seen = served
            limits = served.rrl
            current = self.limiter.limits if self.limiter is not None else RateLimits()
            if limits != current:
                self.limiter = RateLimiter(limits) if limits.responses_per_second else None
                self._facts_for(self.limiter is not None)
        return self.limiter

    def _facts_for(self, accounting: bool) -> None:
        if self.facts is not None:
            self.facts.account_too(accounting)
            if not accounting and not self.metrics:
                self.facts = None
        elif accounting:
            self.facts = Facts(False, True)

    def respond(self, data: bytes, tcp: bool) -> bytes | None:
        """The response, None to drop; NEEDS_CLIENT (shorter than any DNS message) when
        it depends on the client: then respond_from() answers it."""
        self.activity += 1
        return OneSnapshot(self, tcp).respond(data)

    def respond_from(self, data: bytes, tcp: bool, client: Client) -> bytes | None:
        """The response to a query from `client` (its address and the time)."""
        return OneSnapshot(self, tcp).respond_from(data, client)

    def batch(self) -> OneSnapshot:
        """The UDP queries of one batch, all answered from one snapshot."""
        self.activity += 1
        return OneSnapshot(self, False)

    def servfail(self, data: bytes) -> bytes | None:
        """The answer when answering failed (a bug): SERVFAIL, with the question when it
        parses. The first failure is logged with its traceback, later ones only counted
        (one line per FAILURES_LOGGED_EVERY), so a query that always fails cannot fill the
        log."""
        self.failures += 1
        if self.failures == 1:
            log.exception("internal error answering a query; answered SERVFAIL (further "
                          "internal errors are counted, not logged one by one)")
        elif self.failures % FAILURES_LOGGED_EVERY == 0:
            log.error("%d internal errors answering queries so far; each answered SERVFAIL",
                      self.failures)
        return servfail_response(data)


def servfail_response(msg: bytes) -> bytes | None:
    """SERVFAIL for a query: the question echoed when it parses, else the header alone."""
    if len(msg) < 12:
        return None
    flags = _SERVFAIL_FLAGS | (((msg[2] << 8) | msg[3]) & (OPCODE_MASK | RD | CD))
    try:
        fields = parse_fields(msg)
    except FormatError:
        return msg[:2] + struct.pack("!HHHHH", flags, 0, 0, 0, 0)
    question_end, edns, do = fields[5], fields[6], fields[9]
    opt = opt_record(DEFAULT_UDP_PAYLOAD, do) if edns else b""
    return (msg[:2] + struct.pack("!HHHHH", flags, 1, 0, 0, 1 if opt else 0)
            + msg[12:question_end] + opt)


class OneSnapshot:
    """Queries answered from one snapshot: taken at the first, renewed if its version is freed.

    respond() may give NEEDS_CLIENT (see Responder.respond); respond_from() never does."""

    def __init__(self, responder: Responder, tcp: bool) -> None:
        self.responder = responder
        self.tcp = tcp
        self.options = responder.options
        self.snapshot: Snapshot | None = None
        self.facts = responder.facts

    def respond(self, data: bytes) -> bytes | None:
        reader = self.responder.reader
        try:
            try:
                snapshot = self.snapshot
                if snapshot is None:
                    snapshot = self.snapshot = reader.snapshot()
                return respond(data, snapshot, self.tcp, self.options, self.facts)
            except StaleSnapshot:
                snapshot = self.snapshot = reader.refresh()
                return respond(data, snapshot, self.tcp, self.options, self.facts)
        except Exception:  # a bug must cost one answer, not the server
            return self._failed(data)

    def respond_from(self, data: bytes, client: Client) -> bytes | None:
        """answer() knowing the client, never remembered (what it gives depends on him)."""
        facts = self.facts
        try:
            try:
                if self.snapshot is None:
                    self.snapshot = self.responder.reader.snapshot()
                response = self._answer(data, client, facts)
            except StaleSnapshot:
                self.snapshot = self.responder.reader.refresh()
                response = self._answer(data, client, facts)
        except Exception:  # as respond()
            return self._failed(data)
        if facts is not None:
            facts.given(facts.noted(response, self.snapshot, self.tcp), self.tcp)
        return response

    def _answer(self, data: bytes, client: Client, facts: Facts | None) -> bytes | None:
        assert self.snapshot is not None
        note = None
        if facts is not None:
            note = facts.note
            note.zone = None
        return answer(data, self.snapshot, self.tcp, self.options, client, note)

    def rate_limiter(self) -> RateLimiter | None:
        """The rate limiter UDP answers go through (None: rate limiting is off)."""
        if self.snapshot is None:
            self.snapshot = self.responder.reader.snapshot()
        limiter = self.responder.limiter_for(self.snapshot.served)
        self.facts = self.responder.facts
        return limiter

    def finish(self, query: bytes, response: bytes | None, ip: bytes, now: float,
               limiter: RateLimiter | None) -> bytes | None:
        """The UDP response to `query` from `ip` at `now`, of which respond() gave
        `response`: answered knowing the client if it needs him, then rate limited unless
        the query had a valid server cookie."""
        valid = False
        if response is not None and len(response) < 12:  # NEEDS_CLIENT
            client = Client(ip, now)
            response = self.respond_from(query, client)
            valid = client.valid_cookie
        if response is None or valid or limiter is None:
            return response
        facts = self.facts
        if facts is not None and facts.account >= 0:  # found where the response was made
            return limiter.limit_account(response, ip, now, facts.account)
        return limiter.limit(response, ip, now, self.snapshot)

    def _failed(self, data: bytes) -> bytes | None:
        response = self.responder.servfail(data)
        facts = self.facts
        if facts is not None:
            if self.snapshot is None:
                self.snapshot = self.responder.reader.snapshot()
            facts.made_elsewhere(response, self.snapshot, self.tcp)
        return response
