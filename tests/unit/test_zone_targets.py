"""named-checkzone's warnings about where NS, MX and SRV records point: a name in the zone
without address records, a CNAME, missing glue below a delegation. Warnings, not errors:
the zone loads (BIND refuses a zone whose own NS records point to such a name; we warn).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import dns.name
import pytest

from dnsbackend.cli import main
from dnsbackend.zone.bindreader import read_zone_file
from dnsbackend.zone.build import build_zone
from dnsbackend.zone.checks import check_zone

from .bind_reference import ORIGIN, message, named_checkzone, needs_bind, write_zone

APEX = dns.name.from_text(ORIGIN)

# (records after HEAD, the warnings named-checkzone gives, without `zone ...: `)
CASES = {
    "the zone's NS without an address": (
        b"@ NS ns2\n", ["NS 'ns2.example.com' has no address records (A or AAAA)"]),
    "the zone's NS with only a TXT": (
        b"@ NS ns2\nns2 TXT x\n", ["NS 'ns2.example.com' has no address records (A or AAAA)"]),
    "the zone's NS is a CNAME": (
        b"@ NS www\nwww CNAME ns1\n", ["NS 'www.example.com' is a CNAME (illegal)"]),
    "names are compared without letter case": (b"@ NS NS2\nns2 AAAA 2001:db8::2\n", []),
    "the zone's NS below a delegation is not looked at": (
        b"@ NS ns2.sub\nsub NS ns1\n", []),
    "glue missing": (
        b"sub NS ns.sub\n",
        ["sub.example.com/NS 'ns.sub.example.com' has no REQUIRED GLUE address records "
         "(A or AAAA)"]),
    "glue present": (b"sub NS ns.sub\nns.sub A 192.0.2.3\n", []),
    "glue of an IPv6 address": (b"sub NS ns.sub\nns.sub AAAA 2001:db8::3\n", []),
    "glue deeper below": (
        b"sub NS ns.deep.sub\n",
        ["sub.example.com/NS 'ns.deep.sub.example.com' has no REQUIRED GLUE address records "
         "(A or AAAA)"]),
    "the delegation's own name": (
        b"sub NS sub\n",
        ["sub.example.com/NS 'sub.example.com' has no REQUIRED GLUE address records "
         "(A or AAAA)"]),
    "a CNAME below the delegation is not glue": (
        b"sub NS ns.sub\nns.sub CNAME ns1\n",
        ["sub.example.com/NS 'ns.sub.example.com' has no REQUIRED GLUE address records "
         "(A or AAAA)"]),
    "some of the glue missing": (
        b"sub NS ns.sub\nsub NS ns2.sub\nsub NS ns3.sub\nns2.sub A 192.0.2.3\n",
        ["sub.example.com/NS 'ns.sub.example.com' has no REQUIRED GLUE address records "
         "(A or AAAA)",
         "sub.example.com/NS 'ns3.sub.example.com' has no REQUIRED GLUE address records "
         "(A or AAAA)"]),
    "sibling glue missing": (
        b"sub NS x.sub2\nsub2 NS ns1.example.net.\n",
        ["sub.example.com/NS 'x.sub2.example.com' has no SIBLING GLUE address records "
         "(A or AAAA)"]),
    "a delegation to a name in the zone without an address": (
        b"sub NS ns.other\nother TXT x\n",
        ["sub.example.com/NS 'ns.other.example.com' has no address records (A or AAAA)"]),
    "a delegation to a CNAME": (
        b"sub NS www\nwww CNAME ns1\n",
        ["sub.example.com/NS 'www.example.com' is a CNAME (illegal)"]),
    "a delegation outside the zone": (b"sub NS ns.example.net.\n", []),
    "a delegation below a delegation is not looked at": (b"x.sub NS nsz\nsub NS ns1\n", []),
    "MX without an address": (
        b"@ MX 10 mail\n",
        ["example.com/MX 'mail.example.com' has no address records (A or AAAA)"]),
    "MX to a CNAME": (
        b"@ MX 10 www\nwww CNAME ns1\n", ["example.com/MX 'www.example.com' is a CNAME (illegal)"]),
    "MX and SRV to the root": (b"s SRV 0 0 1 .\n@ MX 0 .\n", []),
    "MX below a delegation is not looked at": (b"x.sub MX 10 nomail\nsub NS ns1\n", []),
    "MX at a delegation is not looked at": (b"sub MX 10 nomail\nsub NS ns1\n", []),
    "SRV without an address": (
        b"s SRV 0 0 1 tgt\ntgt TXT x\n",
        ["s.example.com/SRV 'tgt.example.com' has no address records (A or AAAA)"]),
    "SRV to a CNAME": (
        b"s SRV 0 0 1 www\nwww CNAME ns1\n",
        ["s.example.com/SRV 'www.example.com' is a CNAME (illegal)"]),
    "a wildcard with an address answers": (b"*.w A 192.0.2.4\n@ MX 10 x.w\n", []),
    "a wildcard does not answer a name that exists": (
        b"@ MX 10 b.w\n*.w A 192.0.2.4\nc.b.w TXT x\n",
        ["example.com/MX 'b.w.example.com' has no address records (A or AAAA)"]),
    "a wildcard answers only below its closest encloser": (
        b"@ MX 10 a.b.w\n*.w A 192.0.2.4\nb.w TXT x\n",
        ["example.com/MX 'a.b.w.example.com' has no address records (A or AAAA)"]),
    "a wildcard without an address": (
        b"@ MX 10 a.w\n*.w TXT x\n",
        ["example.com/MX 'a.w.example.com' has no address records (A or AAAA)"]),
    "a wildcard CNAME": (
        b"@ MX 10 a.w\n*.w CNAME ns1\n", ["example.com/MX 'a.w.example.com' is a CNAME (illegal)"]),
}


def warnings_of(path: Path) -> list[str]:
    built = build_zone(str(path), APEX, str(path.parent))
    return [message(w) for w in built.warnings]


@pytest.mark.parametrize("case", sorted(CASES))
def test_warnings_about_targets(case: str, tmp_path: Path) -> None:
    body, want = CASES[case]
    path = write_zone(tmp_path, body)
    assert warnings_of(path) == want


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_without_nodes(case: str, tmp_path: Path) -> None:
    """check_zone on its own (no nodes made yet) finds the same."""
    body, want = CASES[case]
    path = write_zone(tmp_path, body)
    parsed = read_zone_file(str(path), APEX, str(path.parent))
    assert [message(w) for w in check_zone(parsed, str(path))] == want


@needs_bind
@pytest.mark.parametrize("case", sorted(CASES))
def test_named_checkzone_warns_alike(case: str, tmp_path: Path) -> None:
    body, want = CASES[case]
    bind = named_checkzone(write_zone(tmp_path, body))
    said = sorted(line for line in bind.lines if "address records" in line or "CNAME" in line)
    assert said == sorted(want)


def test_warnings_name_the_line_of_the_record(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"ok A 192.0.2.2\nsub NS ns.sub\n")
    assert build_zone(str(path), APEX, str(path.parent)).warnings == [
        f"{path}:6: sub.example.com/NS 'ns.sub.example.com' has no REQUIRED GLUE address "
        "records (A or AAAA)"]


def test_check_prints_them_and_succeeds(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"sub NS ns.sub\n@ MX 10 mail\n")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(["check", str(path)]) == 0
    assert err.getvalue().splitlines() == [
        f"{path}:5: sub.example.com/NS 'ns.sub.example.com' has no REQUIRED GLUE address "
        "records (A or AAAA)",
        f"{path}:6: example.com/MX 'mail.example.com' has no address records (A or AAAA)"]
    assert out.getvalue().splitlines()[-1] == "OK"
