"""End to end: the real server process queried by dig, kdig and dnspython over UDP and TCP."""

from __future__ import annotations

import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testkit import procfs
from testkit.server import ServerProcess
from testkit.zones import EXAMPLE_ZONE

BIG_TXT_RECORDS = 230  # 255-byte strings: a response of about 62 KB, only TCP can carry it


def zones_dir(root: Path) -> Path:
    """The example.com zone (the tests' copy), and big.test with a 62 KB TXT RRset."""
    zones = root / "zones"
    zones.mkdir(exist_ok=True)
    shutil.copy(EXAMPLE_ZONE, zones / "example.com.zone")
    text = ["$TTL 60", "@ SOA ns1 hostmaster 1 3600 600 86400 60", "@ NS ns1",
            "ns1 A 192.0.2.1"]
    text += [f'big TXT "{i:03d}{"x" * 252}"' for i in range(BIG_TXT_RECORDS)]
    (zones / "big.test.zone").write_text("\n".join(text) + "\n")
    return zones


def start_server(root: Path, config: str | None = None) -> ServerProcess:
    config_path = None
    if config is not None:
        config_path = root / "dnsbackend.toml"
        config_path.write_text(config)
    srv = ServerProcess(zones_dir(root), root / "db", config=config_path)
    try:
        srv.wait_served("example.com.")
        srv.wait_served("big.test.")
    except BaseException:
        srv.stop()
        raise
    return srv


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with the default settings, shared by the tests that do not change it."""
    srv = start_server(tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server from a settings file: two TCP connections, each closed after 2 quiet
    seconds, and an EDNS payload size of 1400."""
    srv = start_server(tmp_path_factory.mktemp("limited"),
                       "tcp_max_connections = 2\ntcp_idle_timeout = 2\nudp_payload = 1400\n")
    yield srv
    srv.stop()


def tcp_connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def recv_message(sock: socket.socket) -> dns.message.Message:
    size = struct.unpack("!H", recv_exact(sock, 2))[0]
    return dns.message.from_wire(recv_exact(sock, size))


def frame(q: dns.message.Message) -> bytes:
    wire = q.to_wire()
    return struct.pack("!H", len(wire)) + wire


def is_closed_by_peer(sock: socket.socket) -> bool:
    """True once the server closed the connection (waits up to the socket's timeout)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


# ---------------------------------------------------------------------------------------
# Real clients


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig (bind9-dnsutils) not installed")
@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_dig(server: ServerProcess, transport: str) -> None:
    out = subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(server.port), "+norec", transport, "+time=2",
         "+tries=2", "www.example.com", "A"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert "status: NOERROR" in out.stdout
    assert " aa" in out.stdout.split("flags:")[1].split(";")[0]
    assert " ra" not in out.stdout.split("flags:")[1].split(";")[0]
    assert "www.example.com.\t3600\tIN\tCNAME\texample.com." in out.stdout
    assert "example.com.\t\t3600\tIN\tA\t192.0.2.10" in out.stdout
    assert "EDNS: version: 0" in out.stdout and "udp: 1232" in out.stdout


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig (bind9-dnsutils) not installed")
def test_dig_short_answers(server: ServerProcess) -> None:
    def short(*args: str) -> list[str]:
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(server.port), "+norec", "+short",
                              "+time=2", "+tries=2", *args],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stderr
        return sorted(out.stdout.split("\n")[:-1])

    assert short("example.com", "MX") == ["10 mail.example.com.", "20 mail2.example.net."]
    assert short("x.apps.example.com", "TXT") == ['"wildcard for apps"']
    assert short("EXAMPLE.COM", "AAAA") == ["2001:db8::10"]
    assert short("_sip._tcp.example.com", "SRV") == ["10 60 5060 sip.example.com."]


@pytest.mark.skipif(shutil.which("kdig") is None, reason="kdig (knot-dnsutils) not installed")
@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_kdig(server: ServerProcess, transport: str) -> None:
    out = subprocess.run(
        ["kdig", "@127.0.0.1", "-p", str(server.port), "+norec", transport, "+time=2",
         "+retry=1", "foo.dev.example.com", "A"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert "status: NOERROR" in out.stdout
    flags = out.stdout.split("Flags:")[1].split(";")[0]
    assert "aa" not in flags.split() and "ra" not in flags.split()  # a referral
    assert "dev.example.com.    \t3600\tIN\tNS\tns1.dev.example.com." in out.stdout
    assert "ns1.dev.example.com.\t3600\tIN\tA\t192.0.2.100" in out.stdout
    assert "ns2.dev.example.com.\t3600\tIN\tAAAA\t2001:db8::100" in out.stdout


@pytest.mark.skipif(shutil.which("kdig") is None, reason="kdig (knot-dnsutils) not installed")
def test_kdig_nxdomain(server: ServerProcess) -> None:
    out = subprocess.run(
        ["kdig", "@127.0.0.1", "-p", str(server.port), "+norec", "+time=2", "+retry=1",
         "nothing.example.com", "A"], capture_output=True, text=True, timeout=20)
    assert "status: NXDOMAIN" in out.stdout
    assert "example.com.        \t300\tIN\tSOA\tns1.example.com. hostmaster.example.com." \
        in out.stdout


@pytest.mark.parametrize("tcp", [False, True])
def test_dnspython(server: ServerProcess, tcp: bool) -> None:
    r = server.query("www.example.com", "A", tcp=tcp)
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert [rrset.rdtype for rrset in r.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    r = server.query("example.org", "A", tcp=tcp)
    assert r.rcode() == dns.rcode.REFUSED
    r = server.query("nothing.example.com", "A", tcp=tcp, edns=True)
    assert r.rcode() == dns.rcode.NXDOMAIN and r.edns == 0 and r.payload == 1232


# ---------------------------------------------------------------------------------------
# TCP


def test_tcp_pipelining(server: ServerProcess) -> None:
    names = ["example.com", "www.example.com", "mail.example.com", "x.apps.example.com",
             "nothing.example.com", "foo.dev.example.com", "api.example.com", "example.org"]
    queries = [dns.message.make_query(n, "A") for n in names]
    with tcp_connect(server.port) as sock:
        sock.sendall(b"".join(frame(q) for q in queries))  # all at once, before any answer
        answers = [recv_message(sock) for _ in queries]
    assert [a.id for a in answers] == [q.id for q in queries]
    assert [a.question[0].name.to_text() for a in answers] == [n + "." for n in names]
    assert answers[4].rcode() == dns.rcode.NXDOMAIN
    assert answers[7].rcode() == dns.rcode.REFUSED


def test_tcp_query_split_across_segments(server: ServerProcess) -> None:
    q = dns.message.make_query("api.example.com", "A")
    data = frame(q)
    with tcp_connect(server.port) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            sock.sendall(data[i : i + 1])
        r = recv_message(sock)
    assert r.id == q.id and len(r.answer[0]) == 2


def _rss_bytes(pid: int) -> int:
    kib = procfs.status_kib(pid, "VmRSS")
    assert kib, f"no VmRSS for {pid}"
    return kib * 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_client_that_does_not_read_gets_answers_later_not_all_at_once(
        server: ServerProcess) -> None:
    count = 2000  # 2000 answers of 62 KB: 124 MB if the server answered them all at once
    q = dns.message.make_query("big.big.test", "TXT")
    before = _rss_bytes(server.proc.pid)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as slow:
        # A small receive buffer (set before connecting, so the window is small from the
        # start): this side's kernel takes a few KB of answers, not the megabytes its
        # autotuning allows (tcp_rmem), so the server feels the back-pressure early.
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", server.port))
        slow.sendall(frame(q) * count)
        # Others are still served, and by then the server has read the queries.
        assert server.query("example.com", "SOA", tcp=True).answer
        assert server.query("example.com", "SOA").answer
        grown = _rss_bytes(server.proc.pid) - before
        assert grown < 24 << 20, f"server grew by {grown >> 20} MB"
        # Reading now gets every answer, whole and in order.
        slow.settimeout(30)
        for _ in range(count):
            size = struct.unpack("!H", recv_exact(slow, 2))[0]
            wire = recv_exact(slow, size)
            assert wire[:2] == q.to_wire()[:2] and size > 60000


def test_payload_size_from_settings_file(limited: ServerProcess) -> None:
    assert limited.query("example.com", "SOA", edns=True).payload == 1400
    big = limited.query("big.big.test", "TXT", edns=True)
    assert big.flags & dns.flags.TC and big.payload == 1400


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_many_spellings_of_a_big_query_do_not_pile_up(server: ServerProcess) -> None:
    # Letter case and EDNS payload make distinct query bytes for one 62 KB answer.
    name = "big.big.test"
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    before = _rss_bytes(server.proc.pid)
    with tcp_connect(server.port) as sock:
        for n in range(1000):
            spelled = "".join(c.upper() if i in letters and n >> letters.index(i) & 1 else c
                              for i, c in enumerate(name))
            q = dns.message.make_query(spelled, "TXT", use_edns=0, payload=1232 + n // 1024)
            sock.sendall(frame(q))
            size = struct.unpack("!H", recv_exact(sock, 2))[0]
            assert recv_exact(sock, size)[:2] == q.to_wire()[:2]
    grown = _rss_bytes(server.proc.pid) - before
    assert grown < 24 << 20, f"server grew by {grown >> 20} MB for 1000 spellings"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_many_big_queries_do_not_pile_up(server: ServerProcess) -> None:
    # Each query carries 60 KB of EDNS padding (RFC 7830), one byte different each time.
    before = _rss_bytes(server.proc.pid)
    with tcp_connect(server.port) as sock:
        for n in range(1000):
            padding = dns.edns.GenericOption(dns.edns.OptionType.PADDING,
                                             n.to_bytes(4, "big") + bytes(60000))
            q = dns.message.make_query("example.com", "SOA", use_edns=0, options=[padding])
            wire = q.to_wire(max_size=65535)
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            assert recv_message(sock).id == q.id
    grown = _rss_bytes(server.proc.pid) - before
    assert grown < 24 << 20, f"server grew by {grown >> 20} MB for 1000 queries"


def test_tcp_idle_timeout_closes_connection(limited: ServerProcess) -> None:
    with tcp_connect(limited.port) as sock:
        q = dns.message.make_query("example.com", "SOA")
        sock.sendall(frame(q))
        assert recv_message(sock).id == q.id
        sock.settimeout(20)  # far longer than the idle timeout: the server must close first
        assert is_closed_by_peer(sock)


def test_tcp_connection_cap(limited: ServerProcess) -> None:
    q = dns.message.make_query("example.com", "SOA")
    # Connections of other tests on this server may still be closing: wait for two slots.
    first = second = None
    for _ in range(200):
        first, second = tcp_connect(limited.port), tcp_connect(limited.port)
        try:
            for sock in (first, second):
                sock.sendall(frame(q))
                assert recv_message(sock).id == q.id
            break
        except ConnectionError:
            first.close()
            second.close()
            first = second = None
            time.sleep(0.05)  # give the server a moment to see earlier connections close
    assert first is not None and second is not None, "two connections never fitted"
    try:
        with tcp_connect(limited.port) as third:
            third.sendall(frame(q))
            assert is_closed_by_peer(third)  # over the cap: closed, not answered
        # The ones already open still work.
        first.sendall(frame(q))
        assert recv_message(first).id == q.id
    finally:
        first.close()
    # Closing one gives its slot back once the server has seen the close.
    for _ in range(200):
        with tcp_connect(limited.port) as fourth:
            fourth.sendall(frame(q))
            try:
                if recv_message(fourth).id == q.id:
                    break
            except ConnectionError:
                time.sleep(0.05)
                continue
    else:
        raise AssertionError("a closed connection's slot was never given back")
    second.close()


@pytest.mark.parametrize("garbage", [
    b"\x00\x05hello",  # shorter than a DNS header
    b"\x00\x00",  # zero length
    b"\x00\x14" + b"\xff" * 20,  # a header that makes no sense
    b"\x00\x0c" + b"\x00" * 12,  # a header with no question
])
def test_malformed_tcp_frame_does_not_hang(server: ServerProcess, garbage: bytes) -> None:
    q = dns.message.make_query("example.com", "SOA")
    with tcp_connect(server.port) as sock:
        # The garbage and then a good query: the server answers the garbage with an error,
        # drops it (a QR=1 message) or closes the connection; the good query is then
        # answered or the connection is closed. Never silence until the idle timeout.
        sock.sendall(garbage + frame(q))
        try:
            first = recv_message(sock)
            if first.id != q.id:
                assert first.rcode() == dns.rcode.FORMERR
                assert recv_message(sock).id == q.id
        except (ConnectionError, dns.exception.DNSException) as exc:
            assert isinstance(exc, ConnectionError), exc
    assert server.query("example.com", "SOA", tcp=True).answer  # still serving


@settings(max_examples=40, deadline=None)
@given(chunks=st.lists(st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"\x00\x00", b"\x00\x0b", b"\xff\xff"]),
    st.builds(lambda name: frame(dns.message.make_query(name, "A")),
              st.sampled_from(["example.com", "www.example.com", "nothing.example.com"]))),
    max_size=8))
def test_random_tcp_streams(server: ServerProcess, chunks: list[bytes]) -> None:
    """Any byte stream, in any pieces, leaves the server answering the next client."""
    with tcp_connect(server.port) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server gave up on this stream: allowed
    q = dns.message.make_query("example.com", "SOA")
    with tcp_connect(server.port) as sock:
        sock.sendall(frame(q))
        assert recv_message(sock).id == q.id


def test_tcp_frame_announcing_more_than_sent_then_close(server: ServerProcess) -> None:
    with tcp_connect(server.port) as sock:
        sock.sendall(b"\xff\xff" + b"\x00" * 100)
    assert server.query("example.com", "SOA", tcp=True).answer
    assert server.query("example.com", "SOA").answer


def test_large_response_over_tcp(server: ServerProcess) -> None:
    q = dns.message.make_query("big.big.test", "TXT")
    with tcp_connect(server.port) as sock:
        sock.sendall(frame(q))
        size = struct.unpack("!H", recv_exact(sock, 2))[0]
        wire = recv_exact(sock, size)
    assert 60000 < size <= 65535
    r = dns.message.from_wire(wire)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == BIG_TXT_RECORDS
    udp = server.query("big.big.test", "TXT", edns=True)
    assert udp.flags & dns.flags.TC and not udp.answer
    assert udp.question[0].name.to_text() == "big.big.test."


# ---------------------------------------------------------------------------------------
# UDP


def test_garbage_udp_does_not_crash(server: ServerProcess) -> None:
    rng = random.Random(1234)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        for size in [0, 1, 2, 11, 12, 13, 40, 512, 1500, 4000]:
            for _ in range(5):
                sock.sendto(bytes(rng.randrange(256) for _ in range(size)),
                            ("127.0.0.1", server.port))
        for junk in [b"\x00" * 12, b"\x12\x34\x00\x00\x00\x01" + b"\x00" * 6 + b"\xc0\x0c",
                     b"\xff" * 12]:
            sock.sendto(junk, ("127.0.0.1", server.port))
    for tcp in (False, True):
        assert server.query("example.com", "SOA", tcp=tcp).answer
    assert server.proc.poll() is None
    assert "Traceback" not in server.output()


def test_udp_truncation_then_tcp(server: ServerProcess) -> None:
    r = server.query("example.com", "ANY", tcp=False)
    assert len(r.answer) == 1  # RFC 8482 over UDP
    r = server.query("example.com", "ANY", tcp=True)
    assert len(r.answer) >= 6


# ---------------------------------------------------------------------------------------
# Start-up failures


def test_port_in_use_exits_with_one_clear_line(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        env = dict(os.environ)
        proc = subprocess.run(
            [sys.executable, "-m", "dnsbackend", "serve", "--zones", str(zones), "--data",
             str(tmp_path / "db"), "--listen", "127.0.0.1", "--port", str(port)],
            capture_output=True, text=True, timeout=60, cwd=str(tmp_path), env=env)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("dnsbackend: "), proc.stderr
    line = errors[0]
    assert f"port {port}" in line and "127.0.0.1" in line
    assert "in use" in line  # why
    assert "--port" in line  # what to do


def test_address_not_on_this_machine(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "dnsbackend", "serve", "--zones", str(zones), "--data",
         str(tmp_path / "db"), "--listen", "192.0.2.1", "--port", "0"],
        capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("dnsbackend: "), proc.stderr
    assert "192.0.2.1" in errors[0] and "--listen" in errors[0]
