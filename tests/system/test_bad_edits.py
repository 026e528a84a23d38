"""Bad edits: the last good version keeps answering, the error is logged once, fixes load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testkit.server import StartServer
from testkit.zones import versioned_zone, versions_in, write_atomically, write_in_place

ORIGIN = "bad.test."
GOOD = versioned_zone(ORIGIN, 1)

BAD_EDITS = {
    "syntax error": GOOD + "www IN A not-an-address\n",
    "missing SOA": "\n".join(line for line in GOOD.splitlines() if "SOA" not in line) + "\n",
    "binary file": "\x00\x01\x02\x7fELF\x00garbage",
    "empty file": "",
    "truncated mid-line": GOOD[: GOOD.index("mail-1 IN A") + len("mail-1 IN A 10.")],
    "unknown type": GOOD + "www IN NOSUCHTYPE foo\n",
    "CNAME and other data": GOOD + "www IN CNAME elsewhere.example.\n",
}


@pytest.mark.parametrize("kind", sorted(BAD_EDITS))
def test_bad_edit_keeps_last_good_version(kind: str, server_factory: StartServer,
                                          tmp_path: Path) -> None:
    zdir = tmp_path / "zones"
    zdir.mkdir()
    path = zdir / f"{ORIGIN}zone"
    path.write_text(GOOD)
    srv = server_factory(zdir)
    srv.wait_until(ORIGIN, "SOA", lambda r: versions_in(r) == {1})

    write_in_place(str(path), BAD_EDITS[kind])
    srv.wait_until(ORIGIN, "SOA", lambda r: "zone bad.test. rejected" in srv.output())
    # Still the whole previous version, in every kind of answer.
    for name, rdtype in ((ORIGIN, "SOA"), ("www." + ORIGIN, "A"), ("x.child." + ORIGIN, "A")):
        assert versions_in(srv.query(name, rdtype)) == {1}
    log = srv.output()
    rejected = [line for line in log.splitlines() if "rejected" in line]
    assert len(rejected) == 1, rejected
    assert re.search(r"bad\.test\.zone:\d+: ", rejected[0]), rejected[0]
    assert "still serving serial 1" in rejected[0]
    assert "Traceback" not in log

    write_atomically(str(path), versioned_zone(ORIGIN, 2))
    srv.wait_until(ORIGIN, "SOA", lambda r: versions_in(r) == {2}, timeout=2)
    assert versions_in(srv.query("www." + ORIGIN, "A")) == {2}
