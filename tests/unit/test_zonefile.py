"""Zone file reading: BIND's syntax loads with the records BIND's named-checkzone loads.

Every accepted file is also read by `named-checkzone -D` (BIND 9) and the two record sets are
compared in canonical form (lower-case owners, RFC 4034 canonical rdata, TTLs). Every file we
reject must be one BIND rejects too, and our message must name the file and the line.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import pytest

from dnsbackend.zone.bindreader import parse_text_dnspython, read_zone_file
from dnsbackend.zone.checks import check_zone
from dnsbackend.zone.records import ParsedZone, ZoneFileError
from testkit.zones import EXAMPLE_ZONE

from ..conftest import DATA

pytestmark = pytest.mark.skipif(shutil.which("named-checkzone") is None,
                                reason="named-checkzone (Debian bind9-utils) is not installed")

ORIGIN = "example.com."
BASE = (
    "$TTL 1h\n"
    "@ IN SOA ns1 hostmaster 1 2h 30m 2w 5m\n"
    "@ IN NS ns1\n"
    "ns1 IN A 192.0.2.1\n"
)

Canonical = tuple[bytes, int, int, bytes]


def _canonical(owner: dns.name.Name, rdtype: int, ttl: int, rdata: dns.rdata.Rdata) -> Canonical:
    wire = owner.to_wire()
    assert wire is not None
    return (wire.lower(), int(rdtype), ttl, rdata.to_digestable())


def ours(parsed: ParsedZone) -> set[Canonical]:
    out = set()
    for rec in parsed.records:
        rdtype = dns.rdatatype.RdataType.make(rec.rtype)
        rd = dns.rdata.from_wire(dns.rdataclass.IN, rdtype, rec.rdata, 0, len(rec.rdata))
        out.add((rec.owner.lower(), rec.rtype, rec.ttl, rd.to_digestable()))
    return out


def bind(zones: Path, origin: str, filename: str) -> set[Canonical] | str:
    """The records named-checkzone loads from a file, or its error output if it refuses it."""
    proc = subprocess.run(["named-checkzone", "-D", "-o", "-", origin, filename],
                          cwd=zones, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return proc.stdout + proc.stderr
    out = set()
    for line in proc.stdout.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        tok = dns.tokenizer.Tokenizer(line)
        name = tok.get_name(dns.name.root)
        ttl = tok.get_int()
        tok.get_string()  # class
        rdtype = dns.rdatatype.from_text(tok.get_string())
        rd = dns.rdata.from_text(dns.rdataclass.IN, rdtype, tok, dns.name.root, False)
        out.add(_canonical(name, rdtype, ttl, rd))
    return out


def expected(lines: str, origin: str = ORIGIN) -> set[Canonical]:
    """Records written out in full (`owner ttl type rdata`, absolute names) in canonical form."""
    out = set()
    for line in lines.strip().splitlines():
        tok = dns.tokenizer.Tokenizer(line)
        name = tok.get_name(dns.name.from_text(origin))
        ttl = tok.get_int()
        rdtype = dns.rdatatype.from_text(tok.get_string())
        rd = dns.rdata.from_text(dns.rdataclass.IN, rdtype, tok, dns.name.from_text(origin),
                                 False)
        out.add(_canonical(name, rdtype, ttl, rd))
    return out


def write_zone(tmp_path: Path, text: str, origin: str = ORIGIN,
               extra: dict[str, str] | None = None) -> tuple[Path, Path]:
    zones = tmp_path / "zones"
    zones.mkdir(exist_ok=True)
    path = zones / f"{origin}zone"
    path.write_text(text)
    for name, content in (extra or {}).items():
        (zones / name).parent.mkdir(parents=True, exist_ok=True)
        (zones / name).write_text(content)
    return zones, path


def load_like_bind(tmp_path: Path, text: str, origin: str = ORIGIN,
                   extra: dict[str, str] | None = None) -> ParsedZone:
    """Read a zone, check it, and require BIND to load exactly the same records from it."""
    zones, path = write_zone(tmp_path, text, origin, extra)
    parsed = read_zone_file(str(path), dns.name.from_text(origin), str(zones))
    check_zone(parsed, str(path))
    reference = parse_text_dnspython(text, dns.name.from_text(origin), str(path), str(zones))
    assert parsed.records == reference.records and parsed.warnings == reference.warnings
    theirs = bind(zones, origin, path.name)
    assert not isinstance(theirs, str), f"BIND refused the file: {theirs}"
    mine = ours(parsed)
    assert mine == theirs, f"only ours: {mine - theirs}\nonly BIND's: {theirs - mine}"
    return parsed


FEATURES = {
    "$ORIGIN absolute and relative": (
        "$ORIGIN sub.example.com.\nwww A 192.0.2.2\n$ORIGIN deeper\nx A 192.0.2.3\n"
        "$ORIGIN example.com.\ny A 192.0.2.4\n",
        "www.sub 3600 A 192.0.2.2\nx.deeper.sub 3600 A 192.0.2.3\ny 3600 A 192.0.2.4"),
    "$TTL changes the default": (
        "a A 192.0.2.2\n$TTL 120\nb A 192.0.2.3\n$TTL 2d\nc A 192.0.2.4\n",
        "a 3600 A 192.0.2.2\nb 120 A 192.0.2.3\nc 172800 A 192.0.2.4"),
    "TTL units": (
        "a 1h30m A 192.0.2.2\nb 1w2d A 192.0.2.3\nc 90S A 192.0.2.4\nd 0 A 192.0.2.5\n",
        "a 5400 A 192.0.2.2\nb 777600 A 192.0.2.3\nc 90 A 192.0.2.4\nd 0 A 192.0.2.5"),
    "TTL and class in either order": (
        "a 300 IN A 192.0.2.2\nb IN 301 A 192.0.2.3\nc IN A 192.0.2.4\nd 302 A 192.0.2.5\n"
        "e in 303 a 192.0.2.6\n",
        "a 300 A 192.0.2.2\nb 301 A 192.0.2.3\nc 3600 A 192.0.2.4\nd 302 A 192.0.2.5\n"
        "e 303 A 192.0.2.6"),
    "blank owner repeats the previous owner": (
        "host A 192.0.2.2\n  AAAA 2001:db8::2\n\t300 TXT \"x\"\n",
        "host 3600 A 192.0.2.2\nhost 3600 AAAA 2001:db8::2\nhost 300 TXT \"x\""),
    "@ is the origin": (
        "@ 300 TXT \"apex\"\n$ORIGIN sub.example.com.\n@ A 192.0.2.9\n",
        "example.com. 300 TXT \"apex\"\nsub 3600 A 192.0.2.9"),
    "parentheses over several lines": (
        "multi TXT ( \"one\" ; first\n  \"two\"\n\n  ; a comment line\n  \"three\" )\n"
        "svc ( SRV\n 10 60\n 5060 sip )\n",
        "multi 3600 TXT \"one\" \"two\" \"three\"\nsvc 3600 SRV 10 60 5060 sip"),
    "comments": (
        "; a whole-line comment\na A 192.0.2.2 ; trailing\nb A 192.0.2.3;tight\n   ; indented\n",
        "a 3600 A 192.0.2.2\nb 3600 A 192.0.2.3"),
    "quoted strings with escapes": (
        't TXT "a\\"b" "\\065\\066" "semi;colon" "paren(" "tab\\009" unquoted\n'
        'u TXT "with \\\\ backslash" ""\n',
        't 3600 TXT "a\\"b" "AB" "semi;colon" "paren(" "tab\\009" "unquoted"\n'
        'u 3600 TXT "with \\\\ backslash" ""'),
    "escaped owner names": (
        "a\\.b A 192.0.2.2\n\\065bc A 192.0.2.3\n",
        "a\\.b 3600 A 192.0.2.2\nAbc 3600 A 192.0.2.3"),
    "RFC 3597 generic rdata": (
        "unk TYPE65534 \\# 3 abcdef\ngen A \\# 4 C0000201\nempty TYPE65000 \\# 0\n",
        "unk 3600 TYPE65534 \\# 3 abcdef\ngen 3600 A 192.0.2.1\nempty 3600 TYPE65000 \\# 0"),
    "$GENERATE": (
        "$GENERATE 1-4 host$ A 192.0.2.$\n$GENERATE 10-12/2 ${0,3}.rev PTR host$.example.net.\n",
        "host1 3600 A 192.0.2.1\nhost2 3600 A 192.0.2.2\nhost3 3600 A 192.0.2.3\n"
        "host4 3600 A 192.0.2.4\n010.rev 3600 PTR host10.example.net.\n"
        "012.rev 3600 PTR host12.example.net."),
    "differing TTLs in one RRset (BIND keeps the first of a run, then the last run's)": (
        "w 600 A 192.0.2.2\nw 100 A 192.0.2.3\nx A 192.0.2.4\nv 100 A 192.0.2.5\n"
        "x2 A 192.0.2.4\nv 600 A 192.0.2.6\n",
        "w 600 A 192.0.2.2\nw 600 A 192.0.2.3\nv 600 A 192.0.2.5\nv 600 A 192.0.2.6"),
    "duplicates are removed": (
        "d A 192.0.2.2\nd A 192.0.2.2\nn NS Target.example.net.\nn NS target.example.net.\n",
        "d 3600 A 192.0.2.2\nn 3600 NS target.example.net."),
    "no $TTL: an SOA without TTL makes its MINIMUM the default": (
        None,
        "example.com. 300 SOA ns1 hostmaster 1 7200 1800 1209600 300\na 300 A 192.0.2.2\n"
        "b 60 A 192.0.2.3\nc 300 A 192.0.2.4"),
}

# Each of the record types the server must load, with realistic data.
TYPES = """\
dname DNAME example.net.
@ MX 10 mail
mail A 192.0.2.25
mail AAAA 2001:db8::25
ns2 CNAME ns1
txt TXT "v=1" "two strings"
spf SPF "v=spf1 -all"
_sip._tcp SRV 10 60 5060 sip
sip A 192.0.2.50
1.2 PTR host.example.net.
@ CAA 0 issue "letsencrypt.org"
naptr NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp
sshfp SSHFP 2 1 123456789abcdef67890123456789abcdef67890
_443._tcp.www TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
www A 192.0.2.80
child NS ns1.child
child DS 12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE0F0A4D3B1D4E4B5A4B3C2D1E
ns1.child A 192.0.2.100
@ DNSKEY 257 3 13 ( mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpV
    XckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ== )
@ CDNSKEY 257 3 13 ( mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpV
    XckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ== )
@ CDS 12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE0F0A4D3B1D4E4B5A4B3C2D1E
www RRSIG A 13 3 3600 20261201000000 20261101000000 12345 example.com. (
   mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ== )
www NSEC www2.example.com. A RRSIG NSEC
2t7b4g4vsa5smi47k61mv5bv1a22bojr NSEC3 1 0 10 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG
@ NSEC3PARAM 1 0 10 AABBCCDD
svc SVCB 1 . alpn=h2,h3 port=8443
@ HTTPS 1 . alpn="h2"
hinfo HINFO "PC" "Linux"
loc LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m
unk TYPE65534 \\# 3 abcdef
"""
TYPE_NAMES = {"SOA", "NS", "A", "AAAA", "CNAME", "DNAME", "MX", "TXT", "SPF", "SRV", "PTR", "CAA",
              "NAPTR", "SSHFP", "TLSA", "DS", "DNSKEY", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM",
              "SVCB", "HTTPS", "HINFO", "LOC", "CDS", "CDNSKEY", "TYPE65534"}


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_feature_loads_like_bind(feature: str, tmp_path: Path) -> None:
    snippet, want = FEATURES[feature]
    if snippet is None:  # the file has no $TTL at all
        text = ("@ IN SOA ns1 hostmaster 1 2h 30m 2w 5m\n@ 300 IN NS ns1\nns1 IN A 192.0.2.1\n"
                "a A 192.0.2.2\nb 60 A 192.0.2.3\nc A 192.0.2.4\n")
    else:
        text = BASE + snippet
    parsed = load_like_bind(tmp_path, text)
    missing = expected(want) - ours(parsed)
    assert not missing, missing


def test_every_type_loads_like_bind(tmp_path: Path) -> None:
    parsed = load_like_bind(tmp_path, BASE + TYPES)
    loaded = {dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rec.rtype))
              for rec in parsed.records}
    assert loaded == TYPE_NAMES


def test_example_zone_loads_like_bind(tmp_path: Path) -> None:
    text = EXAMPLE_ZONE.read_text()
    parsed = load_like_bind(tmp_path, text)
    assert len(parsed.records) == 30


def test_include_is_relative_to_the_zones_directory(tmp_path: Path) -> None:
    text = BASE + ("$INCLUDE parts/hosts.inc\n$INCLUDE parts/sub.inc sub.example.com.\n"
                   "after A 192.0.2.9\n")
    extra = {"parts/hosts.inc": "inc1 A 192.0.2.2\n  AAAA 2001:db8::2\n",
             "parts/sub.inc": "www A 192.0.2.3\n@ TXT \"sub apex\"\n"}
    parsed = load_like_bind(tmp_path, text, extra=extra)
    zones = tmp_path / "zones"
    assert parsed.includes == [str((zones / "parts/hosts.inc").resolve()),
                               str((zones / "parts/sub.inc").resolve())]
    want = expected("inc1 3600 A 192.0.2.2\ninc1 3600 AAAA 2001:db8::2\n"
                    "www.sub 3600 A 192.0.2.3\nsub 3600 TXT \"sub apex\"\nafter 3600 A 192.0.2.9")
    assert want <= ours(parsed)
    where = {rec.where for rec in parsed.records if rec.owner.startswith(b"\x04inc1")}
    assert where == {"parts/hosts.inc:1", "parts/hosts.inc:2"}


def test_records_remember_their_line(tmp_path: Path) -> None:
    text = BASE + "a A 192.0.2.2\n\nb TXT ( \"x\"\n \"y\" )\nc A 192.0.2.3\n"
    _, path = write_zone(tmp_path, text)
    parsed = read_zone_file(str(path), dns.name.from_text(ORIGIN))
    lines = {(rec.owner.split(b"\x07")[0], rec.rtype): rec.where for rec in parsed.records}
    assert lines[(b"\x01a", 1)] == f"{path}:5"
    assert lines[(b"\x01b", 16)] == f"{path}:7"
    assert lines[(b"\x01c", 1)] == f"{path}:9"
    assert lines[(b"", 6)] == f"{path}:2"


def test_letter_case_is_kept(tmp_path: Path) -> None:
    parsed = load_like_bind(tmp_path, BASE + "MiXeD A 192.0.2.2\nmx MX 10 MaIl.Example.NET.\n")
    owners = {rec.owner for rec in parsed.records}
    assert b"\x05MiXeD\x07example\x03com\x00" in owners
    mx = [rec.rdata for rec in parsed.records if rec.rtype == 15]
    assert mx == [b"\x00\x0a\x04MaIl\x07Example\x03NET\x00"]


def test_out_of_zone_records_are_dropped_with_a_warning(tmp_path: Path) -> None:
    text = BASE + ("in A 192.0.2.2\nout.example.net. A 192.0.2.3\n  TXT \"also out\"\n"
                   "example.com.evil. A 192.0.2.4\nback A 192.0.2.5\n")
    parsed = load_like_bind(tmp_path, text)
    path = tmp_path / "zones" / f"{ORIGIN}zone"
    assert parsed.warnings == [f"{path}:6: ignoring out-of-zone data (out.example.net)",
                               f"{path}:8: ignoring out-of-zone data (example.com.evil)"]
    assert not any(b"net" in rec.owner or b"evil" in rec.owner for rec in parsed.records)


def test_ttl_conflict_is_warned_like_bind(tmp_path: Path) -> None:
    parsed = load_like_bind(tmp_path, BASE + "w 600 A 192.0.2.2\nw 100 A 192.0.2.3\n")
    path = tmp_path / "zones" / f"{ORIGIN}zone"
    assert parsed.warnings == [f"{path}:6: TTL set to prior TTL (600)"]


@pytest.mark.parametrize("number", [f"{n}" for n in range(0, 3000, 20)])
def test_ferret_zones_load_like_bind(number: str, tmp_path: Path) -> None:
    """Every twentieth zone of the Ferret corpus (a sample: one BIND process per zone)."""
    files = sorted((DATA / "ferret" / "ZoneFiles").glob("*.txt"))
    source = files[int(number)]
    text = source.read_text()
    origin = next(line.split()[0] for line in text.splitlines()
                  if len(line.split()) >= 4 and "SOA" in line.split()[1:5])
    load_like_bind(tmp_path, text, dns.name.from_text(origin).to_text())


# Files that must be refused whole: (text, line the message must name, extra files).
BAD = {
    "syntax error": (BASE + "www IN A not-an-address\n", 5),
    "unknown type": (BASE + "www IN NOSUCHTYPE foo\n", 5),
    "bad rdata": (BASE + "mx MX 70000 mail\n", 5),
    "bad generic rdata length": (BASE + "unk TYPE65534 \\# 4 abcdef\n", 5),
    "missing SOA": ("$TTL 1h\n@ IN NS ns1\nns1 IN A 192.0.2.1\n", 1),
    "empty file": ("", 1),
    "truncated mid-line": (BASE + "www IN A 192.0.", 5),
    "truncated inside parentheses": (BASE + "t TXT ( \"a\"\n \"b\"\n", 7),
    "unterminated quoted string": (BASE + "t TXT \"abc\n", 5),
    "unbalanced closing parenthesis": (BASE + "t TXT \"abc\" )\n", 5),
    "two SOA records": (BASE + "@ SOA ns1 hostmaster 2 2h 30m 2w 5m\n", 5),
    "SOA not at the apex": (BASE + "sub SOA ns1 hostmaster 2 2h 30m 2w 5m\n", 5),
    "CNAME and other data": (BASE + "www A 192.0.2.2\nwww CNAME elsewhere.example.\n", 6),
    "two CNAMEs": (BASE + "c CNAME a\nc CNAME b\n", 6),
    "no NS at the apex": ("$TTL 1h\n@ IN SOA ns1 hostmaster 1 2h 30m 2w 5m\n", 2),
    "class other than IN": (BASE + "www CH A 192.0.2.2\n", 5),
    "missing TTL": ("www A 192.0.2.2\n" + BASE, 1),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_file_is_rejected_with_file_and_line(kind: str, tmp_path: Path) -> None:
    text, line = BAD[kind]
    zones, path = write_zone(tmp_path, text)
    with pytest.raises(ZoneFileError) as info:
        check_zone(read_zone_file(str(path), dns.name.from_text(ORIGIN), str(zones)), str(path))
    assert str(info.value).startswith(f"{path}:{line}: "), str(info.value)
    assert isinstance(bind(zones, ORIGIN, path.name), str), "BIND accepts this file"


def test_binary_file_is_rejected(tmp_path: Path) -> None:
    zones, path = write_zone(tmp_path, "")
    path.write_bytes(BASE.encode() + b"bin A 192.0.2.2\n\x00\x01\x7fELF\x00")
    with pytest.raises(ZoneFileError, match=rf"^{path}:6: not a text file"):
        read_zone_file(str(path), dns.name.from_text(ORIGIN), str(zones))
    path.write_bytes(BASE.encode() + b"\xff\xfe latin-1 \xe9\n")
    with pytest.raises(ZoneFileError, match=rf"^{path}:5: not a text file"):
        read_zone_file(str(path), dns.name.from_text(ORIGIN), str(zones))


@pytest.mark.parametrize("target", ["../outside.inc", "/etc/hostname", "link.inc"])
def test_include_outside_the_zones_directory_is_refused(target: str, tmp_path: Path) -> None:
    (tmp_path / "outside.inc").write_text("x A 192.0.2.2\n")
    zones, path = write_zone(tmp_path, BASE + f"$INCLUDE {target}\n")
    (zones / "link.inc").symlink_to(tmp_path / "outside.inc")
    with pytest.raises(ZoneFileError, match=rf"^{path}:5: .*outside the zones directory"):
        read_zone_file(str(path), dns.name.from_text(ORIGIN), str(zones))


def test_include_of_a_missing_or_binary_file_is_refused(tmp_path: Path) -> None:
    zones, path = write_zone(tmp_path, BASE + "$INCLUDE nope.inc\n")
    with pytest.raises(ZoneFileError, match=rf"^{path}:5: \$INCLUDE nope.inc: "):
        read_zone_file(str(path), dns.name.from_text(ORIGIN), str(zones))
    path.write_text(BASE + "$INCLUDE bin.inc\n")
    (zones / "bin.inc").write_bytes(b"x A 192.0.2.2\n\x00")
    with pytest.raises(ZoneFileError, match=r"bin.inc:2: not a text file"):
        read_zone_file(str(path), dns.name.from_text(ORIGIN), str(zones))


def test_include_ends_a_batch_and_soa_minimum_is_the_default_like_bind(tmp_path: Path) -> None:
    text = ("@ IN SOA ns1 host 1 2 3 4 5\n@ 300 NS ns1\nns1 A 192.0.2.1\nw 600 A 192.0.2.2\n"
            "$INCLUDE x.inc\nv 600 A 192.0.2.4\nv 100 A 192.0.2.5\nb A 192.0.2.6\n"
            "$GENERATE 1-2 g A 192.0.2.$\n")
    parsed = load_like_bind(tmp_path, text, extra={"x.inc": "w 100 A 192.0.2.3\n"})
    want = expected("w 100 A 192.0.2.2\nw 100 A 192.0.2.3\nv 600 A 192.0.2.4\n"
                    "v 600 A 192.0.2.5\nb 5 A 192.0.2.6\nns1 5 A 192.0.2.1\ng 5 A 192.0.2.1")
    assert want <= ours(parsed)


def test_an_include_loop_is_refused_at_its_line_and_never_hangs(tmp_path: Path) -> None:
    """BIND reads on until it runs out of file descriptors ("too many open files"), NSD stops
    at a depth of 10: a file that includes itself, directly or not, is refused here."""
    zones, path = write_zone(tmp_path, BASE + "a A 192.0.2.1\n$INCLUDE example.com.zone\n")
    with pytest.raises(ZoneFileError, match=rf"^{path}:6: \$INCLUDE example.com.zone: an "
                                            r"include loop \(the file is being read already\)$"):
        read_zone_file(str(path), dns.name.from_text(ORIGIN), str(zones))
    path.write_text(BASE + "$INCLUDE one.inc\n")
    (zones / "one.inc").write_text("x A 192.0.2.2\n$INCLUDE two.inc sub\n")
    (zones / "two.inc").write_text("y A 192.0.2.3\n$INCLUDE one.inc\n")
    with pytest.raises(ZoneFileError, match=r"^two.inc:2: \$INCLUDE one.inc: an include loop"):
        read_zone_file(str(path), dns.name.from_text(ORIGIN), str(zones))
