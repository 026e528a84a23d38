"""The fast zone file reader gives exactly what the dnspython reader gives, or steps aside.

Exactly means the same Record list (owner wire with its letter case, type, TTL, rdata wire,
`file:line`) in the same order, and the same warnings. Where the fast reader declines a file
(returns None) the dnspython reader is used, so declining is always safe; accepting a file
dnspython rejects, or reading it differently, is the failure these tests look for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import dns.name
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dnsbackend.zone import bindreader
from dnsbackend.zone.bindreader import include_opener, parse_text, parse_text_dnspython
from dnsbackend.zone.fastreader import parse_fast
from dnsbackend.zone.records import CHECKED_TYPES, ParsedZone, Record, ZoneFileError
from testkit.zones import EXAMPLE_ZONE, generate

from ..conftest import DATA

ORIGIN = dns.name.from_text("example.com.")
T = TypeVar("T")


def reference(text: str, origin: dns.name.Name, filename: str) -> ParsedZone | None:
    try:
        return parse_text_dnspython(text, origin, filename)
    except ZoneFileError:
        return None


Outcome = tuple[list[Record], list[str], list[str]] | tuple[str, list[str], list[str]]


def outcome(read: Callable[[], ParsedZone]) -> Outcome:
    """What a reading gives: the records, warnings and included files, or the errors."""
    try:
        parsed = read()
    except ZoneFileError as exc:
        return "rejected", exc.errors, exc.includes
    return parsed.records, parsed.warnings, parsed.includes


def assert_same_outcome(text: str, filename: str, zones: str | None = None) -> None:
    """parse_text (the fast reader, handing what it does not read to dnspython's reader)
    gives what dnspython's reader gives for the whole file: records or errors."""
    got = outcome(lambda: parse_text(text, ORIGIN, filename, zones))
    want = outcome(lambda: parse_text_dnspython(text, ORIGIN, filename, zones))
    assert got == want


def assert_same(fast: ParsedZone, slow: ParsedZone | None) -> None:
    assert slow is not None, "the fast reader accepted a file dnspython rejects"
    assert fast.records == slow.records
    assert fast.warnings == slow.warnings
    assert fast.origin == slow.origin


def _origin_of(text: str) -> dns.name.Name:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and "SOA" in parts[1:5]:
            return dns.name.from_text(parts[0])
    raise ValueError("no SOA")


def test_every_ferret_zone_is_read_fast_and_the_same() -> None:
    files = sorted((DATA / "ferret" / "ZoneFiles").glob("*.txt"))
    assert len(files) == 3000
    for path in files:
        text = path.read_text()
        origin = _origin_of(text)
        fast = parse_fast(text, origin, str(path))
        assert fast is not None, f"{path} fell back to dnspython"
        assert_same(fast, reference(text, origin, str(path)))


def test_example_zone_is_read_fast_and_the_same() -> None:
    path = EXAMPLE_ZONE
    text = path.read_text()
    fast = parse_fast(text, ORIGIN, str(path))
    assert fast is not None
    assert_same(fast, reference(text, ORIGIN, str(path)))


@pytest.mark.parametrize(("origin", "records", "seed"),
                         [("example.org.", 20000, 1), ("big.example.", 20000, 2),
                          ("e.example.", 3000, 3)])
def test_generated_zones_are_read_fast_and_the_same(origin: str, records: int, seed: int,
                                                    tmp_path: Path) -> None:
    path = tmp_path / f"{origin}zone"
    assert generate(str(path), origin, records, seed) == records
    text = path.read_text()
    name = dns.name.from_text(origin)
    fast = parse_fast(text, name, str(path))
    assert fast is not None
    assert len(fast.records) == records
    assert_same(fast, reference(text, name, str(path)))


def assert_lean_is_the_same(text: str, origin: dns.name.Name, filename: str) -> None:
    """Both readers, asked to list only the records the checks read (as the writer asks),
    give those records of the full list, and the same nodes, count and warnings."""
    for name, full, lean in [
        ("fast", parse_fast(text, origin, filename),
         parse_fast(text, origin, filename, every_record=False)),
        ("dnspython", parse_text_dnspython(text, origin, filename),
         parse_text_dnspython(text, origin, filename, every_record=False)),
    ]:
        assert full is not None and lean is not None, name
        assert lean.records == [r for r in full.records if r.rtype in CHECKED_TYPES], name
        assert lean.nodes == full.nodes, name
        assert (lean.count, full.count) == (len(full.records), len(full.records)), name
        assert lean.warnings == full.warnings, name


def test_listing_only_the_checked_records_changes_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "example.org.zone"
    generate(str(path), "example.org.", 5000, 4)
    assert_lean_is_the_same(path.read_text(), dns.name.from_text("example.org."), str(path))
    assert_lean_is_the_same(EXAMPLE_ZONE.read_text(), ORIGIN, str(EXAMPLE_ZONE))
    for path in sorted((DATA / "ferret" / "ZoneFiles").glob("*.txt"))[::30]:
        text = path.read_text()
        assert_lean_is_the_same(text, _origin_of(text), str(path))


# Texts the fast reader leaves to dnspython; the dispatcher must then give dnspython's result.
DECLINED = {
    "$INCLUDE of a missing file": "$INCLUDE nothere.inc\n",
    "$INCLUDE of itself": "$INCLUDE z\n",
    "$INCLUDE of a file that includes it": "$INCLUDE loop.inc\n",
    "$GENERATE with words after the rhs": "$GENERATE 1-3 h$ MX 10 mail$\n",
    "$GENERATE out of the zone": "$GENERATE 1-3 h$.example.net. A 192.0.2.$\n",
    "a bad escape in a name": "a\\300 A 192.0.2.1\n",
    "a bad escape in a string": 't TXT "a\\25"\n',
    "a backslash ending a line": 't TXT a\\\n',
    "generic rdata": "g TYPE65534 \\# 2 abcd\n",
    "unknown type by number": "g TYPE1 192.0.2.1\n",
    "CR line ends": "a A 192.0.2.1\r\nb A 192.0.2.2\r\n",
    "non-ASCII": 't TXT "caf\u00e9"\n',
    "class by number": "a CLASS1 A 192.0.2.1\n",
    "parenthesis before the owner": "(a A 192.0.2.1)\n",
    "A with leading zeros": "a A 192.0.2.01\n",
    "IPv4-mapped AAAA": "a AAAA ::ffff:192.0.2.1\n",
}
HEAD = "$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\n"


@pytest.mark.parametrize("kind", sorted(DECLINED))
def test_declined_files_are_read_by_dnspython(kind: str, tmp_path: Path) -> None:
    text = HEAD + DECLINED[kind]
    path = str(tmp_path / "z")
    Path(path).write_text(text)
    (tmp_path / "loop.inc").write_text("inc A 192.0.2.9\n$INCLUDE z\n")
    assert parse_fast(text, ORIGIN, path, opener=include_opener(str(tmp_path))) is None
    try:
        slow: ParsedZone | str = parse_text_dnspython(text, ORIGIN, path, str(tmp_path))
    except ZoneFileError as exc:
        slow = str(exc)
    try:
        got: ParsedZone | str = parse_text(text, ORIGIN, path, str(tmp_path))
    except ZoneFileError as exc:
        got = str(exc)
    assert got == slow


# Texts the fast reader reads itself (they were left to dnspython before).
READ_FAST = {
    "$INCLUDE": "a A 192.0.2.1\n$INCLUDE other.inc\n A 192.0.2.2\n",
    "$INCLUDE with an origin": "$INCLUDE other.inc sub\nb 60 A 192.0.2.3\n",
    "$INCLUDE quoted, nested": '$INCLUDE "nest.inc" Sub.example.com.\n TXT x\n',
    "$GENERATE": "$GENERATE 1-3 h$ A 192.0.2.$\n",
    "$GENERATE with a step, modifiers, TTL and class":
        "$GENERATE 0-20/7 h${10,3,x}.$$ 600 IN PTR x${-1,2}\\$\n TXT after\n",
    "$GENERATE in nibble mode": "$GENERATE 10-12 ${0,4,n}rev AAAA 2001:db8::$\n",
    "escape in a name": "a\\.b A 192.0.2.1\nc\\065\\\\\\ x CNAME a\\.b\n",
    "escape in a string": 't TXT "a\\"b" "v=DKIM1\\; k" \\065\\255 c\\ d\n',
    "escape in other rdata": "m MX 10 mail\\.x\nh HINFO a\\\" b\n",
}


@pytest.mark.parametrize("kind", sorted(READ_FAST))
def test_includes_generates_and_escapes_are_read_fast_and_the_same(
        kind: str, tmp_path: Path) -> None:
    text = HEAD + READ_FAST[kind]
    path = str(tmp_path / "z")
    (tmp_path / "other.inc").write_text("inc A 192.0.2.9\n A 192.0.2.10\n$TTL 5\n")
    (tmp_path / "nest.inc").write_text("$ORIGIN deeper\nn A 192.0.2.8\n$INCLUDE other.inc\n")
    fast = parse_fast(text, ORIGIN, path, opener=include_opener(str(tmp_path)))
    assert fast is not None
    slow = parse_text_dnspython(text, ORIGIN, path, str(tmp_path))
    assert_same(fast, slow)
    assert fast.includes == slow.includes


# Pieces of zone file lines. Most generated files are clean: made only of pieces the fast
# reader reads itself (RDATA, OWNERS, TTLS, CLASSES, DIRECTIVES), so that most cases are
# compared. The others are odd: any piece may be one dnspython rejects (BAD_*) or one that
# only dnspython reads (ODD_RDATA), so they are sometimes subtly not readable.
OWNERS = ["@", "www", "WWW", "a.b", "Mixed.Case", "x.example.com.", "X.EXAMPLE.COM.",
          "out.example.net.", "example.com.evil.", "*", "*.w", "_sip._tcp", "sub", "1.2",
          "a" * 63, "com.", "a@b", "-x", "ns1", "mail", "Www"]
BAD_OWNERS = ["a" * 64, "a..b", ".", "$odd", '"q"']
TTLS = ["", "", "", "300", "0", "1h", "1h30m", "2W", "4294967295", "600", "90s"]
BAD_TTLS = ["4294967296", "1x", "1h30"]
CLASSES = ["", "", "IN", "in"]
BAD_CLASSES = ["CH", "ANY", "CLASS1", "INTERNET"]
RDATA = [
    ("A", "192.0.2.1"), ("A", "10.0.0.255"), ("a", "192.0.2.7"), ("A", "192.0.2.1"),
    ("AAAA", "2001:db8::1"), ("AAAA", "::"), ("AAAA", "1:2:3:4:5:6:7::"),
    ("AAAA", "2001:DB8:0:0:0:0:0:1"),
    ("NS", "ns1"), ("NS", "NS1.example.com."), ("NS", "ns.other.net."), ("NS", "@"),
    ("CNAME", "www"), ("CNAME", "target.example.net."), ("PTR", "host.example.net."),
    ("DNAME", "example.net."), ("MX", "10 mail"), ("MX", "65 MAIL"), ("MX", "97 mail"),
    ("MX", "010 mail"),
    ("TXT", '"hello world"'), ("TXT", "unquoted"), ("TXT", '"a" "b" c'), ("TXT", '""'),
    ("TXT", '"semi;colon" "(paren)"'), ("TXT", '"' + "x" * 255 + '"'), ("TXT", 'a"b"c'),
    ("SPF", '"v=spf1 -all"'),
    ("SRV", "10 60 5060 sip"), ("SRV", "0 0 0 ."),
    ("CAA", '0 issue "ca.example.net"'), ("CAA", "0 iodef mailto:a@b"), ("CAA", '0 "issue" ";"'),
    ("DS", "12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE0F0A4D3B1D4E4B5A4B3C2D1E"),
    ("DS", "12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC 1AFE51DE0F0A4D3B1D4E4B5A4B3C2D1E"),
    ("DNSKEY", "257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpV "
               "XckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="),
    ("NSEC", "next.example.com. A RRSIG NSEC"),
    ("RRSIG", "A 13 2 300 20261201000000 20261101000000 1 example.com. AAAA"),
    ("RRSIG", "CNAME 13 2 300 20261201000000 20261101000000 1 example.com. AAAA"),
    ("HINFO", '"PC" "Linux"'), ("NAPTR", '100 10 "S" "SIP+D2U" "" _sip._udp'),
    ("SSHFP", "2 1 123456789abcdef67890123456789abcdef67890"),
    ("LOC", "52 22 23.000 N 4 53 32.000 E -2.00m"),
]
# Valid alone, but the fast reader leaves them to dnspython (an IPv4-mapped address, a DS
# algorithm by mnemonic, an unchecked digest type, quotes inside an SVCB value), or they
# make the file invalid next to the head's SOA (a second SOA, one below the apex).
ODD_RDATA = [
    ("AAAA", "::ffff:1.2.3.4"),
    ("DS", "1 ECDSAP256SHA256 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE0F0A4D3B1D4E4B5A4B3C2D1E"),
    ("DS", "1 13 7 49FD"), ("SVCB", '1 . alpn="h2,h3" port=8443'),
    ("SOA", "ns1 host 1 2 3 4 5"), ("SOA", "ns1 host 2 1h 30m 2w 5m"),
]
BAD_RDATA = [
    ("A", "192.0.2.01"), ("A", "1.2.3"), ("A", "256.1.1.1"), ("A", "1.2.3.4 5"),
    ("AAAA", "1::2::3"), ("AAAA", "12345::1"), ("MX", "70000 mail"), ("MX", "mail"),
    ("TXT", '"' + "x" * 256 + '"'), ("TXT", '"unterminated'), ("SRV", "1 2 70000 x"),
    ("SOA", "ns1 host 4294967296 1 2 3 4"), ("SOA", "ns1 host 1 2 3 4"),
    ("CAA", "0 is-sue x"), ("CAA", "256 issue x"), ("DS", "1 13 2 49FD"),
    ("DS", "1 13 0 49FD"), ("NOSUCH", "x"), ("TYPE65534", "\\# 1 ab"), ("A", ""),
]
DIRECTIVES = ["$TTL 300", "$TTL 1h", "$ttl 60", "$ORIGIN sub.example.com.",
              "$ORIGIN example.com.", "$ORIGIN other.", "$ORIGIN sub", "$ORIGIN @",
              "$TTL 300 ; comment", "$ORIGIN Example.COM."]
BAD_DIRECTIVES = ["$TTL", "$TTL x", "$FOO 1", "$ORIGIN a..b"]


def _odd(draw: st.DrawFn) -> bool:
    """One case in four or so is odd (hypothesis draws 0, its simplest value, more often)."""
    return draw(st.integers(0, 3)) == 0


def _mostly(draw: st.DrawFn, good: Sequence[T], bad: Sequence[T], odd: bool) -> T:
    """A good piece; in an odd file, now and then a bad one."""
    return draw(st.sampled_from(bad if odd and draw(st.integers(0, 19)) == 0 else good))


@st.composite
def record_lines(draw: st.DrawFn, odd: bool) -> str:
    owner = _mostly(draw, OWNERS + [""] * 8, BAD_OWNERS, odd)
    ttl = _mostly(draw, TTLS, BAD_TTLS, odd)
    klass = _mostly(draw, CLASSES, BAD_CLASSES, odd)
    fields = [ttl, klass] if draw(st.booleans()) else [klass, ttl]
    rtype, rdata = _mostly(draw, RDATA, ODD_RDATA + BAD_RDATA, odd)
    sep = draw(st.sampled_from([" ", "\t", "  ", " \t"]))
    shape = draw(st.sampled_from(["plain", "plain", "parens", "split", "paren-type"]))
    if shape == "parens":
        rdata = f"( {rdata} )"
    elif shape == "split":
        words = rdata.split(" ")
        cut = draw(st.integers(0, len(words)))
        rdata = "(" + " ".join(words[:cut]) + " ; inner\n\t" + " ".join(words[cut:]) + " )"
    elif shape == "paren-type":
        rtype = f"( {rtype}"
        rdata = f"{rdata} )"
    body = sep.join(part for part in [*fields, rtype, rdata] if part)
    lead = draw(st.sampled_from([" ", "\t"])) if owner == "" else owner + sep
    comment = draw(st.sampled_from(["", "", " ; note", ";tight"]))
    return lead + body + comment


@st.composite
def zone_texts(draw: st.DrawFn) -> str:
    odd = _odd(draw)
    lines = []
    if not odd or draw(st.booleans()):
        lines += draw(st.sampled_from([["$TTL 1h", "@ IN SOA ns1 host ( 1 2h 30m 2w 5m )",
                                        "@ NS ns1"], ["@ IN SOA ns1 host 1 2 3 4 300"]]))
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            lines.append(_mostly(draw, DIRECTIVES, BAD_DIRECTIVES, odd))
        elif kind == 1:
            lines.append(draw(st.sampled_from(["", "; comment", "   ", "\t; indented"])))
        else:
            lines.append(draw(record_lines(odd)))
    end = draw(st.sampled_from(["\n", "\n", ""]))
    return "\n".join(lines) + end


def _type_of(rtype: int) -> str:
    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rtype))


# Most files are read fast, and so compared: the least shares asserted. Measured over 80
# runs of 800 examples: 58-79% of the files, 95-100% of all records in files dnspython
# reads, and of each type's records at least 50% (PTR once; 74% or more in 79 runs). The
# other files are mostly ones dnspython rejects (CNAME and other data, bad pieces in odd
# files), which the fast reader must decline too. With the generator before (any file could
# hold a bad piece) 27-30% of the files were read fast, and as few as 0% of the SPF records
# and 12% of the DS ones.
LEAST_FILES_READ_FAST = 0.45
LEAST_RECORDS_COMPARED = 0.85
LEAST_TYPE_SHARE = 0.4
COMPARED_TYPES = sorted({_type_of(int(dns.rdatatype.from_text(rtype))) for rtype, _ in RDATA})


def test_generated_text_reads_the_same() -> None:
    files: Counter[bool] = Counter()  # read fast or not
    compared: Counter[str] = Counter()  # records of each type in files the fast reader read
    valid: Counter[str] = Counter()  # in files dnspython reads

    @settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(zone_texts())
    def compare(text: str) -> None:
        fast = parse_fast(text, ORIGIN, "gen.zone")
        slow = reference(text, ORIGIN, "gen.zone")
        event("read fast" if fast is not None else "declined")
        event("dnspython accepts" if slow is not None else "dnspython rejects")
        files[fast is not None] += 1
        if fast is not None:
            assert_same(fast, slow)
        assert_same_outcome(text, "gen.zone")
        for rec in slow.records if slow is not None else ():
            valid[_type_of(rec.rtype)] += 1
            if fast is not None:
                compared[_type_of(rec.rtype)] += 1

    compare()
    assert files[True] >= LEAST_FILES_READ_FAST * files.total(), files
    assert compared.total() >= LEAST_RECORDS_COMPARED * valid.total(), (compared, valid)
    low = {t: f"{compared[t]} of {valid[t]}" for t in COMPARED_TYPES
           if compared[t] < LEAST_TYPE_SHARE * valid[t] or not valid[t]}
    assert not low, f"types whose records were seldom compared: {low}"


@st.composite
def ipv4(draw: st.DrawFn) -> str:
    """A valid dotted quad."""
    return ".".join(str(draw(st.integers(0, 255))) for _ in range(4))


@st.composite
def ipv6(draw: st.DrawFn) -> str:
    """A valid IPv6 address in hex groups: any letter case, leading zeros or none, and often
    a run of groups written as `::` (hypothesis draws many zero groups)."""
    form = draw(st.sampled_from(["{:x}", "{:X}", "{:04x}", "{:04X}"]))
    groups = [form.format(draw(st.integers(0, 0xFFFF))) for _ in range(8)]
    if not draw(st.booleans()):
        return ":".join(groups)
    start = draw(st.integers(0, 7))
    end = draw(st.integers(start + 1, 8))
    return ":".join(groups[:start]) + "::" + ":".join(groups[end:])


@st.composite
def near_addresses(draw: st.DrawFn, rdtype: str) -> str:
    """Near-valid address texts: subtly off most of the time, now and then right."""
    if rdtype == "A":
        count = draw(st.sampled_from([4, 4, 4, 3, 5]))
        parts = [str(draw(st.integers(0, 270))) for _ in range(count)]
        if draw(st.integers(0, 5)) == 0:
            parts[0] = "0" + parts[0]
        return ".".join(parts)
    if draw(st.integers(0, 5)) == 0:  # an IPv4 address in the last 32 bits: dnspython's
        return draw(st.sampled_from(["::ffff:", "64:ff9b::", "::", "1:2:3:4:5:6:"])) + \
            draw(ipv4())
    groups = [draw(st.text(alphabet="0123456789abcdefABCDEF", min_size=0, max_size=5))
              for _ in range(draw(st.integers(1, 9)))]
    text = ":".join(groups)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(groups)))
        text = ":".join(groups[:cut]) + "::" + ":".join(groups[cut:])
    return text


@st.composite
def addresses(draw: st.DrawFn) -> tuple[str, str]:
    """IPv4 and IPv6 address texts: valid ones the fast reader reads itself most of the
    time, near-valid ones (`near_addresses`) in one case in four or so."""
    rdtype = draw(st.sampled_from(["A", "AAAA"]))
    if _odd(draw):
        return rdtype, draw(near_addresses(rdtype))
    return rdtype, draw(ipv4() if rdtype == "A" else ipv6())


# The least share of each type's cases that the fast reader read, and so compared. Measured
# over 60 runs of 800 examples: A 72-88%, AAAA 71-90%. With the generator before (near-valid
# texts only) it was 23-31% for A and 2-6% for AAAA.
LEAST_ADDRESS_SHARE = {"A": 0.6, "AAAA": 0.6}


def test_addresses_read_fast_are_read_the_same() -> None:
    cases: Counter[str] = Counter()
    compared: Counter[str] = Counter()

    @settings(max_examples=800, deadline=None)
    @given(addresses())
    def compare(case: tuple[str, str]) -> None:
        rdtype, address = case
        text = f"{HEAD}a {rdtype} {address}\n"
        fast = parse_fast(text, ORIGIN, "z")
        event(f"{rdtype} read fast" if fast is not None else f"{rdtype} declined")
        cases[rdtype] += 1
        if fast is not None:
            assert_same(fast, reference(text, ORIGIN, "z"))
            compared[rdtype] += 1

    compare()
    for rdtype, least in LEAST_ADDRESS_SHARE.items():
        assert compared[rdtype] >= least * cases[rdtype] > 0, (rdtype, compared, cases)


# Pieces of $INCLUDE, $GENERATE and escapes, for files written to a directory: the zone
# file and two files it may include (which may include each other, so now and then loop).
ESCAPED_OWNERS = ["a\\.b", "\\065bc", "x\\\\y", "sp\\ ace", "q\\\"t", "semi\\;c", "p\\(x",
                  "\\@", "d\\255", "\\$x", "A\\066C", "caf\\195\\169", "e\\.example.com."]
BAD_ESCAPED_OWNERS = ["a\\256", "a\\1x", "\\0", "a\\"]
ESCAPED_RDATA = [
    ("TXT", '"a\\"b"'), ("TXT", '"v=DKIM1\\; k=rsa\\; p=MIGf"'), ("TXT", "\\065\\066"),
    ("TXT", '"\\255\\000"'), ("TXT", "a\\ b"), ("TXT", '"\\\\"'), ("TXT", '"tab\\009" x\\"y'),
    ("SPF", '"v=spf1 \\"all"'), ("CNAME", "a\\.b"), ("NS", "ns\\065"), ("MX", "10 m\\.x"),
    ("SRV", "0 0 1 s\\.x"), ("PTR", "p\\@q.example.net."), ("HINFO", '"a\\"" b'),
    ("CAA", '0 issue "a\\;b"'), ("A", "192.0.2.\\049"),
]
BAD_ESCAPED_RDATA = [("TXT", '"x\\"'), ("TXT", '"\\25"'), ("TXT", '"\\256"'), ("TXT", "\\1"),
                     ("CNAME", "a\\300"), ("TXT", "a\\")]
INCLUDES = ["$INCLUDE one.inc", "$INCLUDE one.inc sub", '$INCLUDE "two.inc" Other.Example.COM.',
            "$INCLUDE two.inc @", "$INCLUDE one.inc ; comment", "$include two.inc"]
BAD_INCLUDES = ["$INCLUDE nothere.inc", "$INCLUDE one.inc out.example.net.", "$INCLUDE",
                "$INCLUDE one.inc sub extra", "$INCLUDE ../outside.inc"]
RANGES = ["1-3", "0-10/3", "5-5", "2-9/4", "0-1"]
BAD_RANGES = ["3-1", "1-3/0", "x", "1", "-1-2"]
LHS = ["h$", "h${1,3}", "h${-1,2,x}", "$$x$", "g\\$$", "${0,4,n}r", "@", "h$.sub",
       "h$.example.com.", "H${0,0,X}"]
BAD_LHS = ["h$.example.net.", "h${1,200}", "${-9,1,n}x", "h${x}"]
GENERATED = [("A", "192.0.2.$"), ("AAAA", "2001:db8::${0,4,x}"), ("PTR", "host$.example.net."),
             ("CNAME", "t$"), ("TXT", "v$"), ("NS", "ns$"), ("a", "10.0.${1}.1"),
             ("TXT", "x\\$$")]
BAD_GENERATED = [("MX", "mail$"), ("A", "192.0.2.${250}"), ("SOA", "x"), ("NOSUCH", "x")]


@st.composite
def escaped_lines(draw: st.DrawFn, odd: bool) -> str:
    owner = _mostly(draw, ESCAPED_OWNERS + [""] * 3, BAD_ESCAPED_OWNERS, odd)
    rtype, rdata = _mostly(draw, ESCAPED_RDATA + RDATA[:3], BAD_ESCAPED_RDATA, odd)
    if draw(st.booleans()):
        rdata = f"( {rdata} )"
    return f"{owner or ' '} {rtype} {rdata}" + draw(st.sampled_from(["", " ; \\ note"]))


@st.composite
def generate_lines(draw: st.DrawFn, odd: bool) -> str:
    rtype, rhs = _mostly(draw, GENERATED, BAD_GENERATED, odd)
    ttl = _mostly(draw, ["", "", "300", "1h"], ["IN 300", "1x"], odd)
    klass = draw(st.sampled_from(["", "", "IN", "in"]))
    parts = ["$GENERATE", _mostly(draw, RANGES, BAD_RANGES, odd), _mostly(draw, LHS, BAD_LHS, odd),
             ttl, klass, rtype, rhs]
    tail = _mostly(draw, ["", "", " ; note"], [" extra"], odd)
    return " ".join(part for part in parts if part) + tail


@st.composite
def rich_lines(draw: st.DrawFn, odd: bool, includes: bool) -> list[str]:
    lines = []
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.integers(0, 11 if includes else 9))
        if kind == 0:
            lines.append(_mostly(draw, DIRECTIVES, BAD_DIRECTIVES, odd))
        elif kind <= 2:
            lines.append(draw(escaped_lines(odd)))
        elif kind <= 4:
            lines.append(draw(generate_lines(odd)))
        elif kind <= 9:
            lines.append(draw(record_lines(odd)))
        else:
            lines.append(_mostly(draw, INCLUDES, BAD_INCLUDES, odd))
    return lines


@st.composite
def rich_zones(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """A zone file's text and the files it may include (one.inc, two.inc)."""
    odd = _odd(draw)
    head = draw(st.sampled_from([["$TTL 1h", "@ IN SOA ns1 host ( 1 2h 30m 2w 5m )"],
                                 ["@ SOA ns\\.1 h\\@st.example.net. 1 2 3 4 300"]])) + ["@ NS ns1"]
    text = "\n".join(head + draw(rich_lines(odd, True))) + "\n"
    # two.inc may include one.inc; one.inc includes two.inc only in odd files (a loop)
    files = {"one.inc": "\n".join(draw(rich_lines(odd, odd))) + "\n",
             "two.inc": "\n".join(draw(rich_lines(odd, True))) + "\n"}
    if not odd:
        files["one.inc"] = files["one.inc"].replace("$INCLUDE", "; $INCLUDE")
        files["two.inc"] = files["two.inc"].replace("two.inc", "one.inc")
    return text, files


def _features(text: str) -> set[str]:
    return {feature for feature, mark in (("include", "$INCLUDE"), ("generate", "$GENERATE"),
                                          ("escape", "\\")) if mark in text}


# The least shares read fast, and so compared. Measured over 3 runs of 600 examples: 64-69%
# of the files; of the files with each construct, 39-53% (includes), 55-61% ($GENERATE),
# 56-63% (escapes). The others are mostly files dnspython rejects.
LEAST_RICH_READ_FAST = 0.45
LEAST_FEATURE_READ_FAST = 0.3


def test_generated_text_with_includes_generates_and_escapes_reads_the_same(
        tmp_path: Path) -> None:
    files: Counter[bool] = Counter()
    features: Counter[str] = Counter()  # in files the fast reader read
    seen: Counter[str] = Counter()
    count = [0]

    @settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rich_zones())
    def compare(case: tuple[str, dict[str, str]]) -> None:
        text, included = case
        count[0] += 1
        zones = tmp_path / str(count[0])
        zones.mkdir()
        for name, content in included.items():
            (zones / name).write_text(content)
        path = str(zones / "gen.zone")
        (zones / "gen.zone").write_text(text)
        fast = parse_fast(text, ORIGIN, path, opener=include_opener(str(zones)))
        try:
            slow: ParsedZone | None = parse_text_dnspython(text, ORIGIN, path, str(zones))
        except ZoneFileError:
            slow = None
        event("read fast" if fast is not None else "declined")
        event("dnspython accepts" if slow is not None else "dnspython rejects")
        files[fast is not None] += 1
        used = _features(text + "".join(included.values()) if "$INCLUDE" in text else text)
        seen.update(used)
        if fast is not None:
            assert_same(fast, slow)
            assert slow is not None and fast.includes == slow.includes
            features.update(used)
        assert_same_outcome(text, path, str(zones))

    compare()
    assert files[True] >= LEAST_RICH_READ_FAST * files.total(), files
    low = {f: f"{features[f]} of {seen[f]}" for f in ("include", "generate", "escape")
           if features[f] < LEAST_FEATURE_READ_FAST * seen[f] or not seen[f]}
    assert not low, f"seldom read fast: {low}"


def test_bad_lines_in_a_big_file_are_reported_without_dnspython_reading_all_of_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast reader hands each record it does not read to dnspython's reader (the rest of
    the file where it cannot tell where the record ends): the errors are those of a full read
    by dnspython's reader, in its words, which is never asked to read the whole file."""
    path = tmp_path / "example.com.zone"
    assert generate(str(path), "example.com.", 20000, 4) == 20000
    lines = path.read_text().split("\n")
    bad = {15000: "bad A 1.2.3", 15001: " TXT ok", 16000: "c CLASS1 A 192.0.2.1",
           16001: "u TYPE65534 \\# 1 ab", 16002: "$TTL x", 16003: "n 300 NOSUCH x",
           17000: "x CNAME a", 17001: "x A 192.0.2.1", 18000: 'q TXT "unterminated'}
    for at, line in bad.items():
        lines[at] = line
    text = "\n".join(lines)
    want = outcome(lambda: parse_text_dnspython(text, ORIGIN, str(path), str(tmp_path)))
    assert want[0] == "rejected"
    # (line 17003 goes on with owner x: a second CNAME and other data)
    assert [error.split(":")[1] for error in want[1]] == ["15001", "16003", "16004", "17002",
                                                         "17003", "18001"]

    def whole_file(*args: object, **kwargs: object) -> ParsedZone:
        raise AssertionError("dnspython's reader was asked to read the whole file")

    monkeypatch.setattr(bindreader, "parse_text_dnspython", whole_file)
    assert outcome(lambda: parse_text(text, ORIGIN, str(path), str(tmp_path))) == want
