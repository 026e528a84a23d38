"""What cannot be encoded is refused at load: a record of more than 65535 bytes of data, an
RRset that no 65535-byte message can hold; a TTL over 2^31 - 1 is loaded as 0, as BIND does.

An RRset is refused only if even the smallest answer holding it (a query for its name, no
other section, no OPT, names compressed as the server compresses them) is too big, so that
nothing a server can serve whole is refused; BIND refuses some smaller ones ("ran out of
space"), never one that fits.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import pytest

from dnsbackend.zone.bindreader import parse_text_dnspython, read_zone_file
from dnsbackend.zone.build import build_zone
from dnsbackend.zone.fastreader import parse_fast
from dnsbackend.zone.records import ZoneFileError

from .bind_reference import HEAD, ORIGIN, message, named_checkzone, needs_bind, write_zone

APEX = dns.name.from_text(ORIGIN)


def txt_record(size: int, owner: str = "t") -> bytes:
    """One TXT record of exactly `size` bytes of rdata."""
    full, rest = divmod(size, 256)
    strings = [b'"' + b"x" * 255 + b'"'] * full
    if rest:
        strings.append(b'"' + b"y" * (rest - 1) + b'"')
    return owner.encode() + b" TXT " + b" ".join(strings) + b"\n"


def txt_records(count: int, size: int, owner: str = "t") -> bytes:
    """`count` different TXT records of `size` bytes of rdata each."""
    return b"".join(b'%s TXT "%06d%s"\n' % (owner.encode(), n, b"x" * (size - 7))
                    for n in range(count))


def answer_size(owner: str, rtype: str, rdatas: list[str]) -> int:
    """The size of a response to a query for the RRset, holding it alone (dnspython's)."""
    name = dns.name.from_text(owner, APEX)
    query = dns.message.make_query(name, rtype)
    query.flags = 0
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text_list(name, 3600, "IN", rtype, rdatas))
    return len(response.to_wire(max_size=1 << 20))


def errors_of(path: Path) -> list[str]:
    try:
        build_zone(str(path), APEX, str(path.parent))
    except ZoneFileError as exc:
        return [message(e) for e in exc.errors]
    return []


def test_a_record_over_65535_bytes_is_refused(tmp_path: Path) -> None:
    """The issue's TXT record of 300 strings of 250 bytes."""
    path = write_zone(tmp_path, b"t TXT " + b" ".join([b'"' + b"x" * 250 + b'"'] * 300) + b"\n")
    assert errors_of(path) == ["t.example.com/TXT: a record of 75300 bytes of data, more than "
                               "the 65535 one record can hold (ran out of space)"]


def test_an_rrset_no_message_can_hold_is_refused_where_it_starts(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"ok A 192.0.2.2\n" + txt_records(300, 251))
    with pytest.raises(ZoneFileError) as info:
        read_zone_file(str(path), APEX, str(path.parent))
    [error] = info.value.errors
    need = 12 + 15 + 4 + 300 * (2 + 10 + 251)  # owner names compressed to a pointer
    assert error == (f"{path}:6: t.example.com/TXT: 300 records need a {need}-byte answer, "
                     "more than the 65535 bytes of a DNS message (ran out of space)")


def test_the_largest_rrsets_that_fit_load_and_one_byte_more_does_not(tmp_path: Path) -> None:
    # header 12 + question 15 + 4 + one record 2 + 10 + 65492 = 65535
    assert errors_of(write_zone(tmp_path, txt_record(65492))) == []
    [error] = errors_of(write_zone(tmp_path, txt_record(65493)))
    assert "its one record needs a 65536-byte answer" in error
    # 249 records of 251 bytes: 12 + 19 + 249 * 263 = 65518, and one of 5 bytes: 65535
    base = txt_records(249, 251)
    assert errors_of(write_zone(tmp_path, base + b't TXT "abcd"\n')) == []
    [error] = errors_of(write_zone(tmp_path, base + b't TXT "abcde"\n'))
    assert "250 records need a 65536-byte answer" in error


def test_a_single_record_too_big_for_a_message_is_refused(tmp_path: Path) -> None:
    """65535 bytes of data fit a record, not a message (with its header and name)."""
    [error] = errors_of(write_zone(tmp_path, txt_record(65535)))
    assert error == ("t.example.com/TXT: its one record needs a 65578-byte answer, more than "
                     "the 65535 bytes of a DNS message (ran out of space)")


NS_2600 = (b"".join(b"sub NS ns%04d.sub\n" % n for n in range(2600)) +
           b"".join(b"ns%04d.sub A 192.0.2.1\n" % n for n in range(2600)))


def test_compression_is_counted(tmp_path: Path) -> None:
    """2600 NS records of 24 bytes: 93633 bytes with their names written out, 54633 with
    them compressed (as our answers and dnspython's compress them)."""
    assert errors_of(write_zone(tmp_path, NS_2600)) == []
    assert answer_size("sub", "NS", [f"ns{n:04d}.sub.{ORIGIN}" for n in range(2600)]) == 54633
    assert 12 + 21 + 2600 * (2 + 10 + 24) == 93633


@needs_bind
def test_bind_refuses_what_compression_makes_fit_and_nsd_loads(tmp_path: Path) -> None:
    """BIND's limit is on the records it stores, written out: it refuses the 2600 NS
    records; NSD loads them, and they can be served, so we load them too."""
    path = write_zone(tmp_path, NS_2600)
    assert not named_checkzone(path).loaded
    if shutil.which("nsd-checkzone"):
        assert subprocess.run(["nsd-checkzone", ORIGIN, str(path)],
                              capture_output=True).returncode == 0


def test_the_fast_reader_and_dnspython_refuse_alike(tmp_path: Path) -> None:
    text = (HEAD + txt_records(300, 251)).decode()
    assert parse_fast(text, APEX, "z") is None  # it steps aside: dnspython's reader says why
    with pytest.raises(ZoneFileError, match=r"^z:5: t.example.com/TXT: 300 records need"):
        parse_text_dnspython(text, APEX, "z")


@needs_bind
@pytest.mark.parametrize("body", [txt_record(75300), txt_records(300, 251),
                                  txt_record(65535), txt_record(65511)])
def test_bind_refuses_them_too(body: bytes, tmp_path: Path) -> None:
    path = write_zone(tmp_path, body)
    assert errors_of(path)
    bind = named_checkzone(path)
    assert not bind.loaded and any("ran out of space" in line for line in bind.lines)


@needs_bind
@pytest.mark.parametrize(("count", "size"), [(249, 251), (1000, 50), (3000, 8), (1, 65000)])
def test_what_we_load_bind_loads(count: int, size: int, tmp_path: Path) -> None:
    body = txt_records(count, size) if count > 1 else txt_record(size)
    path = write_zone(tmp_path, body)
    assert errors_of(path) == []
    assert named_checkzone(path).loaded


@needs_bind
def test_bind_loads_rrsets_it_cannot_serve(tmp_path: Path) -> None:
    """7000 TXT records of 7 bytes: BIND loads them, no message holds them; we refuse."""
    path = write_zone(tmp_path, b"".join(b't TXT "%06d"\n' % n for n in range(7000)))
    assert named_checkzone(path).loaded
    [error] = errors_of(path)
    assert error.startswith("t.example.com/TXT: 7000 records need a 133031-byte answer")


def test_a_ttl_over_2_to_the_31_is_loaded_as_0_like_bind(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"w 2147483648 A 192.0.2.9\nx 2147483647 A 192.0.2.9\n"
                      b"$TTL 4294967295\ny A 192.0.2.9\nz A 192.0.2.10\n")
    parsed = read_zone_file(str(path), APEX, str(path.parent))
    ttls = {dns.name.from_wire(r.owner, 0)[0].relativize(APEX).to_text(): r.ttl
            for r in parsed.records}
    assert ttls["w"] == 0 and ttls["x"] == 2147483647 and ttls["y"] == ttls["z"] == 0
    assert parsed.warnings == [f"{path}:5: TTL 2147483648 > MAXTTL, setting TTL to 0",
                               f"{path}:8: TTL 4294967295 > MAXTTL, setting TTL to 0"]


@needs_bind
def test_bind_loads_such_a_ttl_as_0(tmp_path: Path) -> None:
    path = write_zone(tmp_path, b"w 2147483648 A 192.0.2.9\n")
    bind = named_checkzone(path)
    assert any(r[2] == 0 and r[1] == dns.rdatatype.A for r in bind.records)
    assert any("> MAXTTL, setting $TTL to 0" in line for line in bind.lines)
