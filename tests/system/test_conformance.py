"""Ferret conformance: 3,000 zones and queries on whose answers BIND, NSD, Knot and PowerDNS agree.

Every case runs through the real server process. Each case assumes its zone is the only one
served, so cases are grouped into batches whose zones cannot see each other: no origin in a
batch is an ancestor, descendant or copy of another, and no name in one zone's data falls
inside another zone of the batch. One server serves each batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.zone
import pytest

from testkit.server import StartServer

from ..conftest import DATA

FERRET = DATA / "ferret"
BATCH_SIZE = 100


@dataclass
class Expected:
    """A case's expected response: its rcode and flags lines, and each `;SECTION`'s lines."""

    rcode: str | None = None
    flags: set[str] | None = None
    sections: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Case:
    number: str
    origin: dns.name.Name
    text: str
    qname: str
    qtype: str
    expected: Expected
    mentioned: set[dns.name.Name]  # names in the zone's rdata


def _sections(lines: list[str]) -> Expected:
    out = Expected()
    current: list[str] | None = None
    for line in lines:
        if line.startswith(";"):
            current = []
            out.sections[line[1:]] = current
        elif current is not None:
            current.append(line)
        elif line.startswith("rcode"):
            out.rcode = line.split()[1]
        elif line.startswith("flags"):
            out.flags = set(line.split()[1:])
    return out


def _origin(text: str) -> dns.name.Name:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and "SOA" in parts[1:5]:
            return dns.name.from_text(parts[0])
    raise ValueError("no SOA")


def _mentioned(text: str, origin: dns.name.Name) -> set[dns.name.Name]:
    """Names a zone's data points at (targets of CNAME, DNAME, NS, MX, SRV...)."""
    zone = dns.zone.from_text(text, origin, relativize=False, check_origin=False)
    names: set[dns.name.Name] = set()
    for _, rdataset in zone.iterate_rdatasets():
        for rdata in rdataset:
            for attr in ("target", "exchange", "mname"):
                value = getattr(rdata, attr, None)
                if isinstance(value, dns.name.Name):
                    names.add(value)
    return names


@cache
def cases() -> list[Case]:
    out = []
    for path in sorted((FERRET / "ExpectedResponses").glob("*.json")):
        number = path.stem
        item = json.loads(path.read_text())[0]
        text = (FERRET / "ZoneFiles" / f"{number}.txt").read_text()
        origin = _origin(text)
        out.append(Case(number, origin, text, item["Query"]["Name"], item["Query"]["Type"],
                        _sections(item["Expected Response"][0]["Response"]),
                        _mentioned(text, origin)))
    return out


def _related(a: dns.name.Name, b: dns.name.Name) -> bool:
    return a.is_subdomain(b) or b.is_subdomain(a)


@cache
def batches() -> list[list[Case]]:
    """Greedy grouping of cases into batches of zones that cannot interact."""
    result: list[list[Case]] = []
    for case in cases():
        for batch in result:
            if len(batch) >= BATCH_SIZE:
                continue
            if any(_related(case.origin, other.origin) for other in batch):
                continue
            if any(_related(n, other.origin) for other in batch for n in case.mentioned):
                continue
            if any(_related(n, case.origin) for other in batch for n in other.mentioned):
                continue
            batch.append(case)
            break
        else:
            result.append([case])
    return result


def _rr_lines(section: list[dns.rrset.RRset]) -> list[str]:
    return sorted(
        f"{rrset.name} {rrset.ttl} IN {dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}".lower()
        for rrset in section for rd in rrset
    )


def compare(case: Case, response: dns.message.Message) -> str | None:
    """None when the response matches; otherwise what differs."""
    exp = case.expected
    got_flags = set(dns.flags.to_text(response.flags).split())
    problems = []
    if dns.rcode.to_text(response.rcode()) != exp.rcode:
        problems.append(f"rcode {dns.rcode.to_text(response.rcode())} != {exp.rcode}")
    if got_flags != exp.flags:
        problems.append(f"flags {sorted(got_flags)} != {sorted(exp.flags or ())}")
    expected_answer = sorted(line.lower() for line in exp.sections["ANSWER"])
    if _rr_lines(response.answer) != expected_answer:
        problems.append(f"answer {_rr_lines(response.answer)} != {expected_answer}")
    if not expected_answer:
        for name, got in (("AUTHORITY", response.authority), ("ADDITIONAL", response.additional)):
            want = sorted(line.lower() for line in exp.sections[name])
            if _rr_lines(got) != want:
                problems.append(f"{name.lower()} {_rr_lines(got)} != {want}")
    return "; ".join(problems) or None


def test_batches_cover_every_case() -> None:
    assert sum(len(b) for b in batches()) == len(cases()) == 3000


@pytest.mark.parametrize("index", range(len(batches())))
def test_ferret_batch(index: int, tmp_path: Path, server_factory: StartServer) -> None:
    batch = batches()[index]
    zones = tmp_path / "zones"
    zones.mkdir()
    for case in batch:
        (zones / f"{case.origin.to_text()}zone").write_text(case.text)
    srv = server_factory(zones)
    for case in batch:
        srv.wait_served(case.origin.to_text())
    mismatches = []
    for case in batch:
        response = srv.query(case.qname, case.qtype)
        problem = compare(case, response)
        if problem:
            mismatches.append(f"case {case.number} ({case.qname} {case.qtype}): {problem}")
    assert not mismatches, "\n".join(mismatches)
