"""Answers: every server must say the same things before their speeds are compared."""

from __future__ import annotations

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

from .querymix import EDNS_PAYLOAD, Mix, Question
from .results import Findings
from .servers import Running


def canonical(r: dns.message.Message) -> tuple[object, ...]:
    """What must agree between servers: rcode, AA, the answer, and NS/SOA in authority."""
    aa = bool(r.flags & dns.flags.AA)
    auth_types = {dns.rdatatype.SOA} if aa else {dns.rdatatype.NS}
    return (dns.rcode.to_text(r.rcode()), aa, tuple(_rrsets(r.answer)),
            tuple(_rrsets(r.authority, auth_types)))


def _rrsets(section: list[dns.rrset.RRset],
            types: set[dns.rdatatype.RdataType] | None = None) -> list[str]:
    """The section's RRsets (of these types) as text, lower case, records and sets sorted."""
    out = []
    for rr in section:
        if types is None or rr.rdtype in types:
            out.append("\n".join(sorted(rr.to_text().lower().splitlines())))
    return sorted(out)


def ask(port: int, q: Question) -> tuple[object, ...]:
    """One question over UDP, EDNS and DO as in the mix, RD clear; its canonical answer."""
    m = dns.message.make_query(q.name, q.rtype, use_edns=0 if q.edns else False,
                               payload=EDNS_PAYLOAD, want_dnssec=q.do)
    m.flags &= ~dns.flags.RD
    try:
        return canonical(dns.query.udp(m, "127.0.0.1", port=port, timeout=2.0))
    except dns.exception.Timeout:
        return ("timeout",)


def collect_answers(port: int, questions: list[Question]) -> list[tuple[object, ...]]:
    return [ask(port, q) for q in questions]


def compare_answers(run: Running, mixes: dict[str, Mix], found: Findings) -> None:
    """Ask the check questions; the first server asked is the reference for the others."""
    for mix in mixes.values():
        got = collect_answers(run.port, mix.check)
        ref = found.reference.setdefault(mix.name, got)
        for q, a, b in zip(mix.check, ref, got, strict=True):
            if a != b:
                found.mismatches.setdefault(run.name, []).append(
                    f"{q.name} {q.rtype} ({q.kind}): {b} vs {a}")
