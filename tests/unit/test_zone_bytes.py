"""A zone file is bytes, as BIND reads it: what is not ASCII stands for itself.

Latin-1 (or any) bytes in strings, names and comments load as those bytes, UTF-8 names are
not IDNA-encoded, CRLF and CR line ends are read as BIND reads them; a byte order mark or
UTF-16 is refused with a reason that says so, and a NUL byte is still "not a text file".
"""

from __future__ import annotations

import os
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsbackend.zone.bindreader import read_zone_file
from dnsbackend.zone.checks import check_zone
from dnsbackend.zone.records import ZoneFileError

from .bind_reference import HEAD, ORIGIN, message, named_checkzone, needs_bind, ours, write_zone

APEX = dns.name.from_text(ORIGIN)


def read(path: Path) -> list[tuple[str, str]]:
    """The records a file adds after HEAD, as (owner, rdata) in dnspython's text."""
    parsed = read_zone_file(str(path), APEX, str(path.parent))
    check_zone(parsed, str(path))
    out = []
    for rec in parsed.records:
        owner = dns.name.from_wire(rec.owner, 0)[0]
        if owner.relativize(APEX).to_text() in ("@", "ns1"):
            continue
        rd = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RdataType.make(rec.rtype),
                                rec.rdata, 0, len(rec.rdata))
        out.append((owner.relativize(APEX).to_text(), rd.to_text()))
    return out


# Files BIND loads: (bytes after HEAD, what we must read). Each is also given to
# named-checkzone, which must load exactly the same records.
LOADS = {
    "Latin-1 in a quoted string": (b't TXT "caf\xe9"\n', [("t", '"caf\\233"')]),
    "Latin-1 in an unquoted string": (b"t TXT caf\xe9\n", [("t", '"caf\\233"')]),
    "Latin-1 in an owner name": (b"caf\xe9 TXT x\n", [("caf\\233", '"x"')]),
    "Latin-1 in a target name": (b"w CNAME caf\xe9\n", [("w", "caf\\233.example.com.")]),
    "Latin-1 in a comment": (b"t TXT x ; caf\xe9\n", [("t", '"x"')]),
    "Latin-1 escaped": (b't TXT "a\\\xe9b"\n', [("t", '"a\\233b"')]),
    "an escaped backslash then Latin-1": (b't TXT "a\\\\\xe9"\n', [("t", '"a\\\\\\233"')]),
    "UTF-8 in a string": (b't TXT "\xc3\xa9"\n', [("t", '"\\195\\169"')]),
    "a UTF-8 owner name is not IDNA": (b"caf\xc3\xa9 TXT x\n", [("caf\\195\\169", '"x"')]),
    "a UTF-8 target is not IDNA": (b"w CNAME caf\xc3\xa9\n", [("w", "caf\\195\\169.example.com.")]),
    "a no-break space is part of a name": (b"x\xc2\xa0 TXT x\n", [("x\\194\\160", '"x"')]),
    "CRLF line ends": (b"t TXT ( a\r\n b ) ; c\r\nu A 192.0.2.9\r\n",
                       [("t", '"a" "b"'), ("u", "192.0.2.9")]),
    "a CR alone ends a line": (b"t TXT a\ru TXT b\n", [("t", '"a"'), ("u", '"b"')]),
    "a CR in a comment does not end it": (b"t TXT a ;x\rb\n", [("t", '"a"')]),
    "a CR in a quoted string is kept": (b't TXT "a\rb"\n', [("t", '"a\\013b"')]),
    "control bytes in a quoted string": (b't TXT "a\x01b\x7fc"\n', [("t", '"a\\001b\\127c"')]),
}


@pytest.mark.parametrize("case", sorted(LOADS))
def test_bytes_load_as_written(case: str, tmp_path: Path) -> None:
    body, want = LOADS[case]
    path = write_zone(tmp_path, body)
    assert read(path) == want


@needs_bind
@pytest.mark.parametrize("case", sorted(LOADS))
def test_bytes_load_like_bind(case: str, tmp_path: Path) -> None:
    body, _ = LOADS[case]
    path = write_zone(tmp_path, body)
    bind = named_checkzone(path)
    assert bind.loaded, bind.lines
    assert ours(read_zone_file(str(path), APEX, str(path.parent))) == bind.records


def test_an_included_file_is_bytes_too(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"$INCLUDE caf\xe9.inc\n")
    (path.parent / os.fsdecode(b"caf\xe9.inc")).write_bytes(b't TXT "caf\xe9"\r\nu A 1.2.3\n')
    with pytest.raises(ZoneFileError) as info:
        read(path)
    assert info.value.errors == ["caf\\233.inc:2: near '1.2.3': bad dotted quad"]
    (path.parent / os.fsdecode(b"caf\xe9.inc")).write_bytes(b't TXT "caf\xe9"\r\n')
    assert read(path) == [("t", '"caf\\233"')]


def test_a_byte_order_mark_is_refused_with_its_reason(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"", head=b"\xef\xbb\xbf" + HEAD)
    with pytest.raises(ZoneFileError) as info:
        read_zone_file(str(path), APEX, str(path.parent))
    assert str(info.value).startswith(f"{path}:1: ")
    assert "byte order mark" in str(info.value) and "IDNA" not in str(info.value)
    assert info.value.count == 1  # the rest of the file is fine


@needs_bind
def test_bind_refuses_a_byte_order_mark_too(tmp_path: Path) -> None:
    assert not named_checkzone(write_zone(tmp_path, b"", head=b"\xef\xbb\xbf" + HEAD)).loaded


@pytest.mark.parametrize("bom", [b"\xff\xfe", b"\xfe\xff"])
def test_utf16_is_not_a_text_file(bom: bytes, tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"", head=bom + HEAD.decode().encode("utf-16-le"))
    with pytest.raises(ZoneFileError, match=rf"^{path}:1: not a text file \(UTF-16"):
        read_zone_file(str(path), APEX, str(path.parent))


def test_a_nul_byte_is_still_not_a_text_file(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b't TXT "caf\xe9"\nu TXT "a\x00b"\n')
    with pytest.raises(ZoneFileError, match=rf"^{path}:6: not a text file \(NUL byte\)$"):
        read_zone_file(str(path), APEX, str(path.parent))


def test_a_line_of_binary_that_does_not_parse_says_so_with_bind_s_reason(
        tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"\xff\xfe latin-1 \xe9\n")
    with pytest.raises(ZoneFileError) as info:
        read_zone_file(str(path), APEX, str(path.parent))
    assert message(str(info.value)) == \
        "not a text file (bytes that are not UTF-8: \\255\\254\\233): unknown RR type 'latin-1'"


# Property: a quoted string or a label of any bytes (but the ones that end it) is the
# rdata or name that dnspython makes of the same text with every byte written as \DDD.
_STRING_BYTES = st.binary(min_size=1, max_size=255).filter(
    lambda b: not set(b) & set(b'"\\\n\x00'))
_LABEL_BYTES = st.binary(min_size=1, max_size=63).filter(
    lambda b: not set(b) & set(b' \t\r\n;()"\\.\x00') and b[:1] not in (b"$", b"@", b"*")
    and b.lower() not in (b"w", b"ns1"))  # the names the test and HEAD use


def _escaped(data: bytes) -> str:
    return "".join(f"\\{b:03d}" for b in data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_STRING_BYTES)
def test_any_bytes_in_a_quoted_string_are_the_rdata(data: bytes, tmp_path: Path) -> None:
    path = write_zone(tmp_path, b't TXT "' + data + b'"\n')
    want = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, f'"{_escaped(data)}"')
    [(_, got)] = read(path)
    assert got == want.to_text()


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_LABEL_BYTES)
def test_any_bytes_in_a_label_are_the_name(data: bytes, tmp_path: Path) -> None:
    path = write_zone(tmp_path, data + b" TXT x\nw CNAME " + data + b"\n")
    want = dns.name.from_text(_escaped(data), APEX)
    got = read(path)
    assert got == [(want.relativize(APEX).to_text(), '"x"'), ("w", want.to_text())]


