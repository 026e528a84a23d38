"""Errors in zone files are reported as BIND reports them: every one, in BIND's words.

Each bad file is also given to named-checkzone (where it is installed): it must refuse it on
the same line, for the same reason (ours may say more, never something else).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from pathlib import Path

import dns.name
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsbackend.cli import main
from dnsbackend.store.database import open_shared
from dnsbackend.update.jobs import load_zone_job
from dnsbackend.update.outcome import Action, log_outcome
from dnsbackend.zone.bindreader import read_zone_file
from dnsbackend.zone.build import build_zone
from dnsbackend.zone.records import MAX_ERRORS, ZoneFileError

from .bind_reference import (
    ORIGIN,
    line_of,
    message,
    named_checkzone,
    needs_bind,
    write_zone,
)

APEX = dns.name.from_text(ORIGIN)


def errors_of(path: Path) -> list[str]:
    """Every error of a file, `file:line: ` removed, or [] if it builds."""
    try:
        build_zone(str(path), APEX, str(path.parent))
    except ZoneFileError as exc:
        assert all(e.startswith(f"{path}:") or e.startswith("caf") for e in exc.errors)
        return [f"{line_of(e)}: {message(e)}" for e in exc.errors]
    return []


def without_near(reason: str) -> str:
    return reason.split(": ", 1)[1] if reason.startswith("near ") else reason


KEY = b"AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ=="
# One bad line (line 5): (the line, what our message must be, or start with)
BAD = {
    # addresses: every type that holds one
    "A, too few parts": (b"w A 1.2.3", "near '1.2.3': bad dotted quad"),
    "A, a part over 255": (b"w A 1.2.3.256", "near '1.2.3.256': bad dotted quad"),
    "A, a leading zero": (b"w A 01.2.3.4", "near '01.2.3.4': bad dotted quad"),
    "A, a name": (b"w A not-an-address", "near 'not-an-address': bad dotted quad"),
    "AAAA, two ::": (b"w AAAA 1::2::3", "near '1::2::3': bad IPv6 address"),
    "AAAA, a dotted quad": (b"w AAAA 1.2.3.4", "near '1.2.3.4': bad IPv6 address"),
    "AAAA, a bad dotted quad inside": (b"w AAAA ::ffff:1.2.3",
                                       "near '::ffff:1.2.3': bad IPv6 address"),
    "AAAA, a zone index": (b"w AAAA fe80::1%eth0", "near 'fe80::1%eth0': bad IPv6 address"),
    "WKS": (b"w WKS 1.2.3 6 25", "near eol: bad dotted quad"),
    "APL v4": (b"w APL 1:1.2.3.4.5/32", "near eol: bad dotted quad"),
    "APL v6": (b"w APL 2:1::2::3/64", "near eol: bad IPv6 address"),
    "IPSECKEY v4 gateway": (b"w IPSECKEY 10 1 2 1.2.3 " + KEY, "near '1.2.3': bad dotted quad"),
    "IPSECKEY v6 gateway": (b"w IPSECKEY 10 2 2 1::2::3 " + KEY,
                            "near '1::2::3': bad IPv6 address"),
    "AMTRELAY v6 relay": (b"w AMTRELAY 10 0 2 1::2::3", "near '1::2::3': bad IPv6 address"),
    "L32": (b"w L32 10 1.2.3", "near '1.2.3': bad dotted quad"),
    "SVCB ipv4hint": (b"w SVCB 1 . ipv4hint=1.2.3", "near 'ipv4hint=1.2.3': bad dotted quad"),
    "HTTPS ipv6hint": (b"w HTTPS 1 . ipv6hint=1::2::3",
                       "near 'ipv6hint=1::2::3': bad IPv6 address"),
    "EUI48": (b"w EUI48 01-02-03-04-05", "near '01-02-03-04-05': bad EUI"),
    "EUI64": (b"w EUI64 01-02-03-04-05-06-07", "near '01-02-03-04-05-06-07': bad EUI"),
    # TTLs
    "a TTL with a bad unit": (b"w 1x A 192.0.2.9", "unknown RR type '1x' (if meant as a TTL"),
    "a TTL after the class": (b"w IN 1x A 192.0.2.9", "unknown RR type '1x' (if meant as a TTL"),
    "a TTL too large": (b"w 4294967296 A 192.0.2.9", "unknown RR type '4294967296' (if meant"),
    "$TTL with a bad unit": (b"$TTL 1x", "near '1x': bad ttl (unknown unit 'x')"),
    "$TTL without a value": (b"$TTL", "unexpected end of line"),
    # the rest of what rdata goes wrong with
    "too few fields": (b"w MX 10", "near eol: unexpected end of input"),
    "not a number": (b"w MX mail 10", "near 'mail': not a valid number"),
    "a negative number": (b"w MX -1 mail", "near '-1': not a valid number"),
    "a number out of range": (b"w MX 70000 mail", "near '70000': out of range (at most 65535)"),
    "extra fields": (b"w MX 10 mail extra", "near 'extra': extra input text"),
    "a name alone": (b"www", "unexpected end of line"),
    "a class that is not IN": (b"w CH A 192.0.2.9", "class 'CH' != zone class 'IN'"),
    "NS records at a wildcard": (b"* NS ns1", "*.example.com: invalid NS owner name (wildcard)"),
    "an unknown type": (b"w BOGUS x", "unknown RR type 'BOGUS'"),
    "a label too long": (b"a" * 64 + b" A 192.0.2.9", f"near '{'a' * 64}': label too long"),
    "an empty label": (b"w CNAME a..b", "near 'a..b': empty label"),
    "an unterminated string": (b'w TXT "abc', "unbalanced quotes"),
    "a ) without its (": (b'w TXT "abc" )', "unbalanced parentheses"),
    "bad hex": (b"w SSHFP 1 1 zz", "near eol: bad hex encoding"),
    "bad base64": (b"w DNSKEY 257 3 8 !!!!", "near eol: bad base64 encoding"),
    "an unknown directive": (b"$FOO bar", "unknown $ directive '$FOO'"),
    "$INCLUDE without a file": (b"$INCLUDE", "unexpected end of line"),
    "a bad $GENERATE range": (b"$GENERATE 1-x a A 192.0.2.9", "$GENERATE: invalid range '1-x'"),
}
# Where BIND's wording is less exact than ours (it says "syntax error", or a later token).
BIND_SAYS_LESS = {"SVCB ipv4hint", "HTTPS ipv6hint", "$TTL with a bad unit", "WKS", "APL v4",
                  "APL v6", "EUI48", "EUI64"}  # (BIND: "near eol: bad EUI")


@pytest.mark.parametrize("case", sorted(BAD))
def test_one_error_in_bind_s_words(case: str, tmp_path: Path) -> None:
    line, want = BAD[case]
    path = write_zone(tmp_path, line + b"\nlater A 192.0.2.10\n")
    [error] = errors_of(path)
    assert error.startswith(f"5: {want}"), error


@needs_bind
@pytest.mark.parametrize("case", sorted(set(BAD) - BIND_SAYS_LESS))
def test_bind_refuses_the_same_line_for_the_same_reason(case: str, tmp_path: Path) -> None:
    line, want = BAD[case]
    path = write_zone(tmp_path, line + b"\nlater A 192.0.2.10\n")
    bind = named_checkzone(path)
    assert not bind.loaded
    [error] = errors_of(path)
    reason = without_near(message(f"z:{error}"))
    assert any(without_near(said) in reason or reason.startswith(without_near(said))
               for said in bind.lines), (bind.lines, error)


def test_ns_records_at_a_wildcard_are_refused_after_other_types_too(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"* TXT x\n* NS ns1\n")
    assert errors_of(path) == ["6: *.example.com: invalid NS owner name (wildcard)"]


def test_no_ttl_is_said_as_bind_says_it_on_every_line(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"", head=b"@ IN NS ns1\nns1 A 192.0.2.1\n")
    assert errors_of(path) == ["1: no TTL specified; zone rejected",
                               "2: no TTL specified; zone rejected"]


@needs_bind
def test_bind_says_no_ttl_on_the_same_lines(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"", head=b"@ IN NS ns1\nns1 A 192.0.2.1\n")
    assert [line for line in named_checkzone(path).lines if "no TTL" in line] == \
        ["no TTL specified; zone rejected"] * 2


def test_an_unreadable_file_is_not_reported_at_line_0(tmp_path: Path) -> None:
    missing = tmp_path / "zones" / "absent.example.com.zone"
    with pytest.raises(ZoneFileError) as info:
        read_zone_file(str(missing), APEX)
    assert str(info.value) == f"{missing}:1: cannot read the file: No such file or directory"
    with pytest.raises(ZoneFileError, match=r":1: cannot read the file: .*directory"):
        read_zone_file(str(tmp_path), APEX)


# Many errors in one file, and the lines BIND reports them on.
MANY = (b"www A 1.2.3\n"  # 5
        b"c CNAME a\nc CNAME b\n"  # 7: a second CNAME
        b"www2 A 1.2.3.999\n"  # 8
        b"d A 192.0.2.4\nd CNAME x\n"  # 10: CNAME and other data
        b"sub SOA ns1 h 1 1 1 1 1\n"  # 11
        b"t MX ( 10\n mail\n extra\n)\n"  # 12-15: the record ends at ")"
        b"e A 192.0.2.5\n"
        b"f 1x A 192.0.2.6\n"  # 17
        b"$TTL 1y\n"  # 18
        b"g A 192.0.2.7 extra\n")  # 19
MANY_ERRORS = [
    "5: near '1.2.3': bad dotted quad",
    "7: c.example.com: multiple RRs of singleton type",
    "8: near '1.2.3.999': bad dotted quad",
    "10: d.example.com: CNAME and other data",
    "11: SOA record not at top of zone (sub.example.com)",
    "14: near 'extra': extra input text",
    "17: unknown RR type '1x' (if meant as a TTL: a TTL is a number of seconds, or of units "
    "as in 1w2d3h4m5s)",
    "18: near '1y': bad ttl (unknown unit 'y')",
    "19: near 'extra': extra input text",
]


def test_every_error_is_reported(tmp_path: Path) -> None:
    assert errors_of(write_zone(tmp_path, MANY)) == MANY_ERRORS


@needs_bind
def test_bind_reports_errors_on_the_same_lines(tmp_path: Path) -> None:
    """Each error BIND reports we report on that line, in its words (and maybe more); we
    also name the line of a bad $TTL (18), which BIND does not, and go on after a record
    BIND gives up on (14)."""
    bind = named_checkzone(write_zone(tmp_path, MANY))
    assert not bind.loaded
    ours = dict(e.split(": ", 1) for e in MANY_ERRORS)
    assert [line for line, _ in bind.numbered] == [5, 7, 8, 10, 11, 17, 19]
    for line, said in bind.numbered:
        assert ours[str(line)].startswith(said), (line, said)


def test_the_error_is_one_line_for_the_log(tmp_path: Path) -> None:
    path = write_zone(tmp_path, MANY)
    with pytest.raises(ZoneFileError) as info:
        read_zone_file(str(path), APEX, str(path.parent))
    text = str(info.value)
    assert "\n" not in text
    assert text == f"{path}:5: near '1.2.3': bad dotted quad (and {len(MANY_ERRORS) - 1} more)"
    assert info.value.count == len(MANY_ERRORS)


def test_the_server_logs_one_line_per_rejected_zone(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    path = write_zone(tmp_path, MANY)
    data = str(tmp_path / "db")
    [outcome], _ = load_zone_job(data, os.path.realpath(path.parent), ORIGIN, str(path))
    assert outcome.action is Action.FAILED
    with caplog.at_level(logging.ERROR, logger="dnsbackend"):
        log_outcome(outcome)
    [record] = caplog.records
    assert record.getMessage() == (
        f"zone {ORIGIN} rejected: {path}:5: near '1.2.3': bad dotted quad "
        f"(and {len(MANY_ERRORS) - 1} more); not served")
    open_shared(data).close()


def check(*args: str) -> tuple[int, list[str]]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["check", *args])
    return code, err.getvalue().splitlines()


def test_check_prints_every_error(tmp_path: Path) -> None:
    path = write_zone(tmp_path, MANY)
    code, lines = check(str(path))
    assert code == 1
    assert [message(line) for line in lines[:-1]] == [e.split(": ", 1)[1] for e in MANY_ERRORS]
    assert lines[-1] == "1 of 1 zone files have errors"


def test_check_prints_twenty_errors_then_how_many_more(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"".join(b"w%d A 1.2.3\n" % n for n in range(25)))
    code, lines = check(str(path))
    assert code == 1
    assert [line_of(line) for line in lines[:20]] == list(range(5, 25))
    assert lines[20:] == [f"{path}: 5 more errors", "1 of 1 zone files have errors"]


def test_reading_stops_after_many_errors(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"w A 1.2.3\n" * (MAX_ERRORS + 500))
    with pytest.raises(ZoneFileError) as info:
        read_zone_file(str(path), APEX, str(path.parent))
    assert info.value.count == MAX_ERRORS
    assert info.value.errors[-1].endswith("(too many errors: stopped reading)")


def test_errors_in_an_included_file_name_it(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"$INCLUDE part.inc\nx A 1.2.3\n")
    (path.parent / "part.inc").write_bytes(b"a A 192.0.2.1\nb A 1.2\n")
    with pytest.raises(ZoneFileError) as info:
        read_zone_file(str(path), APEX, str(path.parent))
    assert info.value.errors == ["part.inc:2: near '1.2': bad dotted quad",
                                 f"{path}:6: near '1.2.3': bad dotted quad"]


def test_after_an_error_the_next_record_is_read(tmp_path: Path) -> None:
    """A record's rest is skipped to its end (the end of its parentheses), no further."""
    for body in (b"w A 1.2.3 ( x\n y )\n", b'w TXT "abc\n', b"w MX 10\n", b"w A 1.2.3\n"):
        path = write_zone(tmp_path, body + b"ok A 192.0.2.1\nbad A 1.2.3\n")
        assert [e.split(":")[0] for e in errors_of(path)][-1] == \
            str(5 + body.count(b"\n") + 1), body


# Property: whatever mixture of good and bad records, each bad one is reported once, on its
# line, and no good one is: reading goes on from the right place after every error.
GOOD = ["{0} A 192.0.2.1", '{0} TXT ( "a"\n "b" )', "{0} MX 10 mail.example.net.",
        "; a comment", "", "{0} TXT ( x ; a comment in parentheses\n y )"]
BAD_RECORDS = [("{0} A 1.2.3", 0), ("{0} MX 10", 0), ('{0} TXT "abc', 0),
               ("{0} A 1.2.3 ( x\n y )", 0), ("{0} MX ( 10\n mail\n extra )", 2),
               ("{0} 1x A 192.0.2.1", 0), ('{0} TXT "a" )', 0), ("{0} A 192.0.2.1 (\n )) x", 1),
               ("$TTL 1y", 0), ("{0} CH A 192.0.2.1", 0)]


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.booleans(), st.integers(0, 99)), max_size=30))
def test_every_bad_record_is_reported_once_on_its_line(
        picks: list[tuple[bool, int]], tmp_path: Path) -> None:
    lines: list[str] = []
    want: list[int] = []
    for n, (bad, which) in enumerate(picks):
        if bad:
            text, at = BAD_RECORDS[which % len(BAD_RECORDS)]
            want.append(5 + len(lines) + at)
        else:
            text = GOOD[which % len(GOOD)]
        lines += text.format(f"r{n}").split("\n")
    path = write_zone(tmp_path, "".join(f"{line}\n" for line in lines).encode())
    assert [int(e.split(":")[0]) for e in errors_of(path)] == want
