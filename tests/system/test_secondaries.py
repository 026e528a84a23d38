"""Real NSD, Knot and BIND secondaries of our server, with TSIG: their first AXFR of a
realistic zone and of a 100,000-record one, then every shape of zone file edit by our
NOTIFY and IXFR, then edits every 100 ms while they transfer: what each serves is always
exactly one version of the file, and in the end ours."""

from __future__ import annotations

import base64
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.zone
import pytest

from testkit import programs
from testkit.peers import Bind, Knot, Nsd, Peer, PeerProcess, Zone
from testkit.ports import free_port
from testkit.server import ServerProcess
from testkit.zones import EXAMPLE_ZONE, generate, versioned_zone, versions_in, write_atomically

pytestmark = pytest.mark.interop

REAL = "example.com."  # the realistic zone, edited shape after shape
BIG = "big.test."  # 100,000 records
BUSY = "busy.test."  # edited every 100 ms
BIG_RECORDS = 100_000
# Every secondary transfers with a key of its own (so our log lines tell them apart),
# hmac-sha256; the big zone with a second key and another algorithm per secondary.
PEERS: dict[str, tuple[type[Peer], str]] = {
    "nsd": (Nsd, "hmac-sha512"), "knot": (Knot, "hmac-sha384"), "bind": (Bind, "hmac-sha224")}
Key = tuple[str, str, str]  # name, algorithm, base64 secret
Records = set[tuple[str, int, str, str]]  # name, TTL, type, rdata


def _key(name: str, algorithm: str) -> Key:
    return name, algorithm, base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Keys:
    """The TSIG keys between us, the tests and the secondaries."""

    tests: Key = field(default_factory=lambda: _key("tests", "hmac-sha256"))
    # per secondary, for REAL and BUSY
    peers: dict[str, Key] = field(default_factory=lambda: {
        peer: _key(peer, "hmac-sha256") for peer in PEERS})
    # per secondary, for BIG
    big: dict[str, Key] = field(default_factory=lambda: {
        peer: _key(f"{peer}-big", algorithm) for peer, (_, algorithm) in PEERS.items()})

    def of(self, peer: str, origin: str) -> Key:
        return (self.big if origin == BIG else self.peers)[peer]

    def settings(self, ports: dict[str, int]) -> str:
        """Our side: a [key.x] per key; [transfer] allows each secondary's key (and the
        tests') and NOTIFYs each secondary on its port; the big zone replaces both with its
        own keys."""
        every = [self.tests, *self.peers.values(), *self.big.values()]
        keys = "".join(f'[key.{name}]\nalgorithm = "{algorithm}"\nsecret = "{secret}"\n'
                       for name, algorithm, secret in every)
        return (f"{keys}[transfer]\n"
                f"allow = {_allow([self.tests, *self.peers.values()])}\n"
                f"notify = {_notify(self.peers, ports)}\n"
                f'[zone."{BIG.rstrip(".")}"]\n'
                f"allow_transfer = {_allow([self.tests, *self.big.values()])}\n"
                f"notify = {_notify(self.big, ports)}\n")


def _allow(keys: list[Key]) -> str:
    """A TOML list: 127.0.0.1 with each of the keys."""
    return "[" + ", ".join(f'{{ address = "127.0.0.1", key = "{name}" }}'
                           for name, _, _ in keys) + "]"


def _notify(keys: dict[str, Key], ports: dict[str, int]) -> str:
    """A TOML list: each secondary on 127.0.0.1 at its port, with its key."""
    return "[" + ", ".join(f'{{ address = "127.0.0.1", port = {ports[peer]}, '
                           f'key = "{key[0]}" }}' for peer, key in keys.items()) + "]"


@dataclass
class Secondaries:
    """Our server, the three secondaries of its three zones, and the keys between them."""

    srv: ServerProcess
    zones: Path
    keys: Keys
    peers: dict[str, PeerProcess] = field(default_factory=dict)

    def path(self, origin: str) -> Path:
        return self.zones / f"{origin}zone"


def _peers_needed() -> None:
    """Skip (locally) or fail (DNSBACKEND_REQUIRE_PEERS set, as .ci/run does) when a peer,
    or dig to read what they serve, cannot run here."""
    reasons = [why for kind, _ in PEERS.values() if (why := kind().missing()) is not None]
    if programs.find("dig") is None:
        reasons.append("dig is needed here (Debian's bind9-dnsutils)")
    programs.needed(reasons)


@pytest.fixture
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secondaries]:
    """Our server with the three zones, and NSD, Knot and BIND as secondaries of all
    three, each serving every zone at its first serial."""
    _peers_needed()
    root = tmp_path_factory.mktemp("secondaries")
    zones = root / "zones"
    zones.mkdir()
    (zones / f"{REAL}zone").write_text(EXAMPLE_ZONE.read_text())
    generate(str(zones / f"{BIG}zone"), BIG, BIG_RECORDS)
    (zones / f"{BUSY}zone").write_text(versioned_zone(BUSY, 1, padding=300))
    keys = Keys()
    ports = {peer: free_port() for peer in PEERS}
    (root / "dnsbackend.toml").write_text(keys.settings(ports))
    setup = Secondaries(ServerProcess(zones, root / "db", config=root / "dnsbackend.toml"),
                        zones, keys)
    try:
        for origin in (REAL, BIG, BUSY):
            setup.srv.wait_served(origin, timeout=120)
        for peer, (kind, _) in PEERS.items():
            workdir = root / peer
            setup.peers[peer] = kind().start(workdir, [
                Zone(origin.rstrip("."), workdir / f"{origin}zone",
                     primary=f"127.0.0.1@{setup.srv.port}", key=keys.of(peer, origin))
                for origin in (REAL, BIG, BUSY)], port=ports[peer], check=True)
        for running in setup.peers.values():
            running.wait_ready([Zone(origin.rstrip("."), setup.path(origin),
                                     serial_of(setup.srv.port, origin))
                                for origin in (REAL, BIG, BUSY)], timeout=120)
        yield setup
    finally:
        for running in setup.peers.values():
            running.stop()
        setup.srv.stop()


# -- reading what a server serves ----------------------------------------------------------

def serial_of(port: int, origin: str) -> int:
    r = dns.query.tcp(dns.message.make_query(origin, "SOA"), "127.0.0.1", port=port,
                      timeout=20)
    return int(r.answer[0][0].serial)


def dig_axfr(port: int, origin: str, key: Key | None = None) -> list[str]:
    """The records of a full AXFR by `dig` (signed with `key`, and its signatures checked
    by dig, if given), as dig prints them; AssertionError unless it is whole (SOA first
    and last, nothing dig complains about)."""
    cmd = [programs.require("dig"), "-p", str(port), "@127.0.0.1", origin, "AXFR",
           "+noall", "+answer", "+tries=1", "+time=20"]
    if key is not None:
        cmd += ["-y", f"{key[1]}:{key[0]}:{key[2]}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    complaints = [line for line in lines if line.startswith(";")]
    whole = len(lines) >= 2 and all(line.split(None, 4)[3] == "SOA"
                                    for line in (lines[0], lines[-1]))
    assert done.returncode == 0 and whole and not complaints, \
        f"AXFR of {origin} from port {port}: {done.stdout[-2000:]}{done.stderr}"
    return lines


def printed(lines: list[str]) -> set[tuple[str, ...]]:
    """dig's lines as a set of (name, TTL, class, type, rdata): two servers' AXFRs, printed
    by the same dig, are equal exactly when they hold the same records."""
    found: set[tuple[str, ...]] = set()
    for line in lines:
        name, ttl, rdclass, rdtype, rdata = line.split(None, 4)
        found.add((name.lower(), ttl, rdclass, rdtype, rdata))
    return found


def parsed(text: str, origin: str) -> Records:
    """Zone text (a file, or dig's lines) as a set of (name, TTL, type, rdata)."""
    zone = dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)
    return {(name.to_text().lower(), rdataset.ttl, dns.rdatatype.to_text(rdataset.rdtype),
             rdata.to_text()) for name, rdataset in zone.iterate_rdatasets() for rdata in rdataset}


def served(port: int, origin: str, key: Key | None = None) -> Records:
    return parsed("\n".join(dig_axfr(port, origin, key)), origin)


def with_serial(records: Records, serial: int) -> Records:
    """The records with the SOA's serial replaced (what we serve of a file whose serial
    we raised ourselves)."""
    out = set()
    for name, ttl, rdtype, rdata in records:
        if rdtype == "SOA":
            fields = rdata.split()
            rdata = " ".join([*fields[:2], str(serial), *fields[3:]])
        out.add((name, ttl, rdtype, rdata))
    return out


_TRANSFER = re.compile(r"transfer of (\S+) to 127\.0\.0\.1: (\S+), serial (?:(\d+) -> )?(\d+), "
                       r"(\d+) records, [\d.]+s, key (\S+)\.$")


@dataclass(frozen=True)
class Transfer:
    """One of our `transfer of ...` log lines."""

    zone: str
    kind: str
    from_serial: int | None
    serial: int
    records: int
    key: str


def transfers(srv: ServerProcess, origin: str) -> list[Transfer]:
    found = []
    for line in srv.output().splitlines():
        if (m := _TRANSFER.search(line)) and m[1] == origin:
            found.append(Transfer(m[1], m[2], None if m[3] is None else int(m[3]), int(m[4]),
                                  int(m[5]), m[6]))
    return found


def wait_transfer(srv: ServerProcess, origin: str, key: str, serial: int | None = None,
                  timeout: float = 30.0) -> Transfer:
    """Wait until we have logged a transfer of `origin` signed with `key` (at `serial`; the
    first one if None); return it."""
    deadline = time.monotonic() + timeout
    while True:
        for t in transfers(srv, origin):
            if t.key == key and serial in (None, t.serial):
                return t
        if time.monotonic() > deadline:
            raise AssertionError(f"no transfer of {origin} (serial {serial}) with key {key} "
                                 f"logged in {timeout} s:\n{srv.output()[-3000:]}")
        time.sleep(0.05)


def wait_serving(setup: Secondaries, origin: str, serial: int, timeout: float = 30.0) -> None:
    """Wait until we and every secondary answer the zone's SOA with `serial`."""
    zone = [Zone(origin.rstrip("."), setup.path(origin), serial)]
    setup.srv.wait_until(origin, "SOA", lambda r: bool(r.answer)
                         and r.answer[0][0].serial == serial, timeout)
    for running in setup.peers.values():
        running.wait_ready(zone, timeout)


# -- the test, in phases ----------------------------------------------------------------
# One test: one set of secondaries (their start is most of the cost) taken through every
# phase in order, on one xdist worker.

def test_secondaries_with_keys_copy_and_follow_every_edit(setup: Secondaries,
                                                          tmp_path: Path) -> None:
    first_copies_are_signed_axfrs(setup)
    a_100000_record_zone_is_copied_whole(setup)
    the_readmes_secondaries_copy_our_zone(setup, tmp_path)
    they_follow_every_shape_of_edit_by_ixfr(setup)
    edits_every_100ms_while_they_transfer(setup)


def first_copies_are_signed_axfrs(setup: Secondaries) -> None:
    """The first copy of each zone is an AXFR, signed with the secondary's key (another
    algorithm for the big zone), and what each secondary then serves is ours."""
    for origin in (REAL, BUSY):
        ours = served(setup.srv.port, origin, setup.keys.tests)
        assert ours == parsed(setup.path(origin).read_text(), origin)
        for peer, running in setup.peers.items():
            assert wait_transfer(setup.srv, origin, peer).kind == "AXFR"  # the first
            assert served(running.port, origin) == ours, f"{peer} serves {origin} otherwise"
    # Unsigned, or signed with a key the zone does not allow: refused.
    unsigned = dns.query.tcp(dns.message.make_query(REAL, "AXFR"), "127.0.0.1",
                             port=setup.srv.port, timeout=10)
    assert unsigned.rcode() == dns.rcode.REFUSED and not unsigned.answer
    name, algorithm, secret = setup.keys.peers["nsd"]  # not one of the big zone's
    signed = dns.message.make_query(BIG, "AXFR")
    signed.use_tsig(dns.tsig.Key(name, secret, algorithm))
    wrong = dns.query.tcp(signed, "127.0.0.1", port=setup.srv.port, timeout=10)
    assert wrong.rcode() == dns.rcode.REFUSED and not wrong.answer


def a_100000_record_zone_is_copied_whole(setup: Secondaries) -> None:
    ours = printed(dig_axfr(setup.srv.port, BIG, setup.keys.tests))
    assert len(ours) == BIG_RECORDS
    for peer, running in setup.peers.items():
        first = wait_transfer(setup.srv, BIG, f"{peer}-big")
        assert (first.kind, first.records) == ("AXFR", BIG_RECORDS + 1)  # the SOA twice
        assert printed(dig_axfr(running.port, BIG)) == ours, f"{peer} serves {BIG} otherwise"



# -- the README's examples ---------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"
README_BLOCKS = {"nsd": "NSD (`nsd.conf`)", "knot": "Knot (`knot.conf`",
                 "bind": "BIND (`named.conf`"}


def readme_block(heading: str) -> str:
    """The first plain ``` block after the line that starts with `heading` in README.md."""
    text = README.read_text()
    rest = text[text.index("\n" + heading):]
    start = rest.index("```\n") + 4
    return rest[start:rest.index("```\n", start)]


def _as_here(peer: str, block: str, secret: str, port: int, workdir: Path) -> str:
    """The README's block for `peer` with our address, port and secret in it and its zone
    file in `workdir`; and AXFR allowed to 127.0.0.1, for the test to read what it serves."""
    swaps = {
        "nsd": [('"base64..."', f'"{secret}"'), ("request-xfr: 192.0.2.1 ",
                                                  f"request-xfr: 127.0.0.1@{port} "),
                ("/var/lib/nsd/", f"{workdir}/")],
        "knot": [("base64...", secret), ("address: 192.0.2.1\n    key",
                                         f"address: 127.0.0.1@{port}\n    key"),
                 ("acl:\n", "acl:\n  - id: tests\n    address: 127.0.0.1\n    action: transfer\n"),
                 ("acl: notify-from-dnsbackend", "acl: [notify-from-dnsbackend, tests]")],
        "bind": [('"base64..."', f'"{secret}"'), ("192.0.2.1 key", f"127.0.0.1 port {port} key"),
                 ("/var/cache/bind/", f"{workdir}/"),
                 ('allow-notify { key "bind"; };',
                  'allow-notify { key "bind"; }; allow-transfer { 127.0.0.1; };')],
    }[peer]
    for old, new in swaps:
        block = _replace(block, old, new)
    block = block.replace("192.0.2.1", "127.0.0.1")
    return block + ("  provide-xfr: 127.0.0.1 NOKEY\n" if peer == "nsd" else "")


def the_readmes_secondaries_copy_our_zone(setup: Secondaries, tmp_path: Path) -> None:
    """NSD, Knot and BIND configured as README.md shows (our address, port and secret put
    in) transfer the zone from us, signed with their key, and serve what we serve."""
    ours = served(setup.srv.port, REAL, setup.keys.tests)
    serial = serial_of(setup.srv.port, REAL)
    for peer, (kind, _) in PEERS.items():
        name, algorithm, secret = setup.keys.peers[peer]
        assert (name, algorithm) == (peer, "hmac-sha256")  # the README's key
        workdir = tmp_path / peer
        extra = _as_here(peer, readme_block(README_BLOCKS[peer]), secret, setup.srv.port,
                         workdir)
        running = kind().start(workdir, [], check=True, extra=extra)
        try:
            running.wait_ready([Zone(REAL.rstrip("."), setup.path(REAL), serial)], timeout=60)
            assert served(running.port, REAL) == ours, f"{peer} as the README says"
        finally:
            running.stop()

# -- edits, one after the other --------------------------------------------------------

def _replace(text: str, old: str, new: str) -> str:
    if old not in text:
        raise ValueError(f"the zone has no {old!r} to edit")
    return text.replace(old, new, 1)


def _bump(text: str) -> str:
    """The zone text with its serial (a `NNN ; serial` line) one higher."""
    serial = int(re.search(r"(\d+) ; serial", text)[1])  # type: ignore[index]
    return _replace(text, f"{serial} ; serial", f"{serial + 1} ; serial")


# Each edit of the realistic zone (its serial raised too, unless said otherwise).
EDITS: list[tuple[str, str, str]] = [
    ("add a record", "                IN A    192.0.2.41\n",
     "                IN A    192.0.2.41\n                IN A    192.0.2.42\n"),
    ("remove a record", "                IN CAA  0 issue \"letsencrypt.org\"\n", ""),
    ("change a record", "mail            IN A    192.0.2.25", "mail            IN A    192.0.2.26"),
    ("change a TTL only", "ns2      300    IN A    192.0.2.2", "ns2      900    IN A    192.0.2.2"),
    ("add a wildcard", "*.apps          IN A    192.0.2.80\n",
     "*.apps          IN A    192.0.2.80\n*.shop          IN AAAA 2001:db8::443\n"),
    ("change a wildcard", "*.apps          IN A    192.0.2.80",
     "*.apps          IN A    192.0.2.81"),
    ("add a delegation with glue", "old             IN DNAME",
     "lab             IN NS   ns1.lab\n                IN NS   ns.elsewhere.example.\n"
     "ns1.lab         IN A    192.0.2.120\n                IN AAAA 2001:db8::120\n"
     "old             IN DNAME"),
    ("remove a delegation and its glue",
     "dev             IN NS   ns1.dev\n                IN NS   ns2.dev\n"
     "                IN DS   12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE0F0A4D3B1D4E4B5A"
     "4B3C2D1E\nns1.dev         IN A    192.0.2.100\nns2.dev         IN AAAA 2001:db8::100\n", ""),
    ("change the SOA only (its refresh timer)", "2h         ; refresh", "3h         ; refresh"),
]
UNBUMPED = ("change a record, not the serial", "192.0.2.50", "192.0.2.51")


def _expected_serial(file_serial: int, served: int) -> int:
    """What `serial = "auto"` serves for a changed file: its serial if that is newer than
    the one served (RFC 1982), else the next after the one served."""
    newer = 0 < (file_serial - served) % 2**32 < 2**31
    return file_serial if newer else (served + 1) % 2**32


def _follow(setup: Secondaries, what: str, text: str) -> None:
    """Write the zone file; then we serve it, every secondary serves exactly what we serve,
    and each got there by one IXFR from the serial before, signed with its key."""
    before = serial_of(setup.srv.port, REAL)
    file_serial = int(re.search(r"(\d+) ; serial", text)[1])  # type: ignore[index]
    serial = _expected_serial(file_serial, before)
    write_atomically(str(setup.path(REAL)), text)
    wait_serving(setup, REAL, serial)
    ours = served(setup.srv.port, REAL, setup.keys.tests)
    assert ours == with_serial(parsed(text, REAL), serial), what
    for peer, running in setup.peers.items():
        got = wait_transfer(setup.srv, REAL, peer, serial)
        assert (got.kind, got.from_serial) == ("IXFR", before), (what, got)
        assert served(running.port, REAL) == ours, f"{what}: {peer} serves otherwise"


def they_follow_every_shape_of_edit_by_ixfr(setup: Secondaries) -> None:
    def whole_copies() -> list[Transfer]:
        return [t for t in transfers(setup.srv, REAL) if t.kind != "IXFR" and t.key in PEERS]

    whole_before = whole_copies()
    text = setup.path(REAL).read_text()
    for what, old, new in EDITS:
        text = _bump(_replace(text, old, new))
        _follow(setup, what, text)
    # No serial bump (`serial = "auto"`, the default): we raise it, they follow.
    what, old, new = UNBUMPED
    text = _replace(text, old, new)
    _follow(setup, what, text)
    _follow(setup, "a bump again, after ours", _bump(_replace(text, "192.0.2.51", "192.0.2.52")))
    # Never the whole zone again; every NOTIFY acknowledged.
    assert whole_copies() == whole_before
    serial = serial_of(setup.srv.port, REAL)
    status = subprocess.run([sys.executable, "-m", "dnsbackend", "status", "--data",
                             str(setup.srv.data)], capture_output=True, text=True).stdout
    for running in setup.peers.values():
        assert f"NOTIFY 127.0.0.1 port {running.port}: acknowledged serial {serial}" in status


# -- edits every 100 ms while they transfer ------------------------------------------------

BURST = 40  # edits, 100 ms apart
PADDING = 300  # records of each version beyond the named ones


@dataclass
class Burst:
    """What the writer wrote (each version's records by serial) and what the querier saw."""

    written: dict[int, Records] = field(default_factory=dict)
    queries: int = 0
    failures: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def write(self, path: Path) -> None:
        """Versions 2 to BURST + 1 of the zone, 100 ms apart; each kept before written."""
        try:
            for n in range(2, BURST + 2):
                text = versioned_zone(BUSY, n, padding=PADDING)
                self.written[n] = parsed(text, BUSY)
                write_atomically(str(path), text)
                time.sleep(0.1)
        finally:
            self.done.set()

    def query(self, port: int) -> None:
        """Ask us steadily until the writer is done: every answer whole and of one version."""
        q = dns.message.make_query("www." + BUSY, "A")
        while not self.done.is_set():
            self.queries += 1
            try:
                r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
            except dns.exception.DNSException as exc:
                self.failures.append(f"query {self.queries}: {exc!r}")
                continue
            if r.rcode() != dns.rcode.NOERROR or len(r.answer) != 1 or \
                    len(versions_in(r)) != 1:
                self.failures.append(f"query {self.queries}: {r}")
            time.sleep(0.005)  # steady, not flat out: the secondaries need the CPU too

    def check(self, source: str, records: Records) -> int:
        """The serial of a whole copy of the zone that equals the version written with it;
        AssertionError otherwise."""
        serial = next(int(rdata.split()[2]) for _, _, rdtype, rdata in records
                      if rdtype == "SOA")
        assert records == self.written.get(serial), f"{source}: serial {serial} is not as written"
        return serial


def edits_every_100ms_while_they_transfer(setup: Secondaries) -> None:
    burst = Burst(written={1: parsed(setup.path(BUSY).read_text(), BUSY)})
    before = len(transfers(setup.srv, BUSY))
    writer = threading.Thread(target=burst.write, args=(setup.path(BUSY),))
    querier = threading.Thread(target=burst.query, args=(setup.srv.port,))
    writer.start()
    querier.start()
    seen: dict[str, set[int]] = {"us": set(), **{peer: set() for peer in setup.peers}}
    try:
        while not burst.done.is_set():  # copies of every server's state while it changes
            seen["us"].add(burst.check("our AXFR", served(setup.srv.port, BUSY,
                                                          setup.keys.tests)))
            for peer, running in setup.peers.items():
                seen[peer].add(burst.check(peer, served(running.port, BUSY)))
    finally:
        writer.join()
        querier.join()
    assert not burst.failures and burst.queries > 0, burst.failures[:5]
    final = BURST + 1
    wait_serving(setup, BUSY, final)
    for peer, running in setup.peers.items():
        assert burst.check(peer, served(running.port, BUSY)) == final
        during = [t for t in transfers(setup.srv, BUSY)[before:] if t.key == peer]
        assert len(during) >= 2, (peer, during)  # it did transfer while we changed
    # Each was copied while it changed (more than one version seen of each).
    assert all(len(serials) > 1 for serials in seen.values()), seen

