"""NOTIFY's state machine: sent at once to every target, retried with backoff only where no
answer came, coalesced over bursts of edits, given up after a while; answers must match."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.opcode
import dns.rdatatype

from dnsbackend.transfer.notify import FIRST_RETRY, MAX_RETRY, TRIES, Notifier

ORIGIN = b"\x04ntfy\x04test\x00"
SOA_RDATA = b"\x02ns\x00\x02hm\x00" + (7).to_bytes(4, "big") + bytes(16)
A = ("192.0.2.1", 53)
B = ("2001:db8::2", 5300)


def answer_to(message: bytes) -> bytes:
    q = dns.message.from_wire(message)
    r = dns.message.make_response(q)
    r.set_opcode(dns.opcode.NOTIFY)
    return r.to_wire()


def test_every_target_at_once_and_a_well_formed_notify() -> None:
    n = Notifier()
    n.changed(ORIGIN, 7, (300, SOA_RDATA), [A, B], now=10.0)
    sent = n.due(10.0)
    assert [t for t, _ in sent] == [A, B]
    m = dns.message.from_wire(sent[0][1])
    assert m.opcode() == dns.opcode.NOTIFY and m.flags & dns.flags.AA
    assert m.question[0].name.to_text() == "ntfy.test."
    assert m.question[0].rdtype == dns.rdatatype.SOA
    assert m.answer[0][0].serial == 7


def test_retries_back_off_only_for_the_silent_target_and_then_give_up() -> None:
    n = Notifier()
    n.changed(ORIGIN, 7, (300, SOA_RDATA), [A, B], now=0.0)
    first = dict(n.due(0.0))
    assert n.answered(answer_to(first[A]), A, 0.1) == (b"\x04ntfy\x04test\x00", 7)
    times = []
    now = 0.0
    while n.next_due() is not None:
        now = n.next_due() or now
        for target, _ in n.due(now):
            assert target == B
            times.append(now)
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert gaps[0] == FIRST_RETRY and all(g2 >= g1 for g1, g2 in zip(gaps, gaps[1:],
                                                                      strict=False))
    assert max(gaps) <= MAX_RETRY and len(times) == TRIES - 1
    assert n.given_up == [(ORIGIN, B, 7)]


def test_a_burst_of_edits_is_one_notify_of_the_last_serial() -> None:
    n = Notifier()
    for serial in range(7, 12):
        n.changed(ORIGIN, serial, (300, SOA_RDATA), [A], now=0.0)
    sent = n.due(0.0)
    assert len(sent) == 1
    assert n.pending[(ORIGIN, A)].serial == 11


def test_answers_that_do_not_match_are_ignored() -> None:
    n = Notifier()
    n.changed(ORIGIN, 7, (300, SOA_RDATA), [A], now=0.0)
    [(_, message)] = n.due(0.0)
    good = answer_to(message)
    wrong_id = bytes([good[0] ^ 1]) + good[1:]
    assert n.answered(wrong_id, A, 0.1) is None
    assert n.answered(good, ("192.0.2.99", 53), 0.1) is None  # from another address
    assert n.answered(b"\x00" * 5, A, 0.1) is None
    assert n.answered(message, A, 0.1) is None  # our own query, not an answer
    assert n.answered(good, A, 0.2) == (ORIGIN, 7)
    assert n.next_due() is None
