"""`dnsbackend check FILE` takes the origin only from a name the server would serve
(<origin>.zone); any other file needs --origin, as named-checkzone always needs one, and
is not checked as a zone named after the file (`foo.db` is not the zone `foo.db.`)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from dnsbackend.cli import main

ZONE = (b"$ORIGIN example.com.\n$TTL 1h\n@ IN SOA ns1 hostmaster 1 2h 30m 2w 5m\n@ NS ns1\n"
        b"ns1 A 192.0.2.1\n")


def check(*args: str) -> tuple[int, list[str], list[str]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", *args])
    return code, out.getvalue().splitlines(), err.getvalue().splitlines()


def test_a_file_not_named_after_its_zone_needs_the_origin(tmp_path: Path) -> None:
    path = tmp_path / "foo.db"
    path.write_bytes(ZONE)
    code, out, err = check(str(path))
    assert code == 1 and out == []
    assert err == [f"{path}:1: which zone is this? Its name does not end in .zone, so give "
                   "its origin with --origin (its $ORIGIN or SOA names example.com.)",
                   "1 of 1 zone files have errors"]


def test_the_hint_comes_from_the_soa_when_there_is_no_origin_line(tmp_path: Path) -> None:
    path = tmp_path / "db.example"
    path.write_bytes(b"$TTL 1h\nexample.org. IN SOA ns1 hostmaster 1 2 3 4 5\n")
    _, _, err = check(str(path))
    assert err[0].endswith("(its $ORIGIN or SOA names example.org.)")
    path.write_bytes(b"$TTL 1h\n@ IN SOA ns1 hostmaster 1 2 3 4 5\n")
    _, _, err = check(str(path))
    assert err[0].endswith("give its origin with --origin")


def test_with_the_origin_it_is_checked_as_that_zone(tmp_path: Path) -> None:
    path = tmp_path / "foo.db"
    path.write_bytes(ZONE.replace(b"$ORIGIN example.com.\n", b""))
    code, out, err = check("--origin", "example.com", str(path))
    assert code == 0 and err == []
    assert out[0].startswith("zone example.com.: loaded serial 1, 3 records")


def test_a_zone_file_named_for_its_zone_needs_no_origin(tmp_path: Path) -> None:
    path = tmp_path / "example.com.zone"
    path.write_bytes(ZONE)
    code, out, _ = check(str(path))
    assert code == 0 and out[0].startswith("zone example.com.: loaded serial 1")
