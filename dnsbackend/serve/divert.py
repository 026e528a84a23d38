"""The queries the fast path passes on (query.responder.DIVERT): TSIG-signed queries, verified
and answered signed with the same key (RFC 8945), and IXFR over UDP (RFC 1995 section 2).
No I/O: the query, the client's address and the transport in, the answer out."""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable

from ..query.edns import Client
from ..query.engine import AnswerOptions, answer
from ..query.responder import Responder
from ..store.snapshot import Snapshot, StaleSnapshot
from ..transfer.service import TransferService, is_transfer
from ..transfer.tsig import check_request
from ..wire.codes import IXFR
from ..wire.message import question_type

log = logging.getLogger("dnsbackend")


class Diverted:
    """Answers what respond() gave back as DIVERT; `clock` is the time TSIG is checked and
    signed at (seconds since the epoch)."""

    def __init__(self, responder: Responder, transfers: TransferService | None,
                 clock: Callable[[], float] = time.time) -> None:
        self.responder = responder
        self.transfers = transfers  # None: IXFR over UDP is refused like any transfer
        self.clock = clock

    def answer(self, msg: bytes, ip: bytes, tcp: bool) -> bytes | None:
        """The answer to one diverted query from address `ip` (4 or 16 bytes), or None to
        drop it; never raises. Counted for the metrics like the responder's own answers."""
        reader = self.responder.reader
        client = Client(ip, time.time())
        try:
            try:
                response = self._answer(msg, client, tcp, reader.snapshot())
            except StaleSnapshot:
                response = self._answer(msg, client, tcp, reader.refresh())
        except Exception:  # a bug must cost one answer, not the server
            response = self.responder.servfail(msg)
        facts = self.responder.facts
        if facts is not None and facts.metrics:
            facts.made_elsewhere(response, reader.snapshot(), tcp)
        return response

    def _answer(self, msg: bytes, client: Client, tcp: bool,
                snapshot: Snapshot) -> bytes | None:
        options = self.responder.options
        payload = options.udp_payload if options is not None else snapshot.udp_payload
        if not tcp and self.transfers is not None and question_type(msg) == IXFR \
                and is_transfer(msg):
            address = ipaddress.ip_address(client.ip).compressed
            out = self.transfers.over_udp(msg, address, payload)
            level = logging.DEBUG if out.kind.startswith("refused") else logging.INFO
            log.log(level, "%s", out.describe(0.0))  # UDP: a refusal may come from anyone
            return next(out.messages)
        check = check_request(msg, snapshot.served.keys, self.clock(), payload)
        if check.reply is not None:  # BADKEY, BADSIG (unsigned), BADTIME (signed), FORMERR
            return check.reply
        if check.signer is None:  # not signed after all: an unusual shape of query
            return answer(msg, snapshot, tcp, options, client)
        reserved = AnswerOptions(payload, check.signer.size())
        response = answer(check.unsigned, snapshot, tcp, reserved, client)
        return None if response is None else check.signer.sign(response, self.clock())
