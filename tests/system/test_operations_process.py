"""The server process as an operator runs it: signals (SIGTERM, SIGINT, SIGHUP), systemd's
readiness protocol, the metrics endpoint and the query log."""

from __future__ import annotations

import mmap
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from dnsbackend import cli
from testkit import programs
from testkit.metrics import scrape, scrape_until, total
from testkit.ports import free_port
from testkit.procs import process_tree
from testkit.server import ServerProcess, StartServer

ZONE = ("$TTL 300\n@ SOA ns hostmaster 7 3600 600 86400 60\n@ NS ns\nns A 192.0.2.53\n"
        "www A 192.0.2.1\n")


def serial(srv: ServerProcess, origin: str) -> int:
    return int(srv.query(origin, "SOA").answer[0][0].serial)


def edit_unseen(path: Path, old: bytes, new: bytes) -> None:
    """Change bytes of a file in place through a shared mapping: inotify reports no change
    made this way (as with edits on some network file systems), so the watchers miss it."""
    assert len(old) == len(new)
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0) as mapped:
        at = mapped.find(old)
        assert at >= 0
        mapped[at:at + len(old)] = new
        mapped.flush()


def exit_code(srv: ServerProcess) -> int:
    return srv.proc.wait(30)


def pids_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
        except OSError:
            pass
    return alive


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_every_process_cleanly(tmp_path: Path, server_factory: StartServer,
                                                   sig: signal.Signals) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "one.test.zone").write_text(ZONE)
    srv = server_factory(zones, extra=["--workers", "2"])
    srv.wait_served("one.test.")
    srv.wait_logged("zone one.test. loaded")
    tree = process_tree(srv.proc.pid)
    assert len(tree) >= 4  # the server, its worker, its writers (and their helpers)
    if sig is signal.SIGINT:
        os.killpg(srv.proc.pid, sig)  # as Ctrl-C in a terminal: to the whole group
    else:
        srv.proc.send_signal(sig)  # as systemd's KillMode=mixed: to the server alone
    assert exit_code(srv) == 0, srv.output()
    out = srv.output()
    assert out.count("stopping") == 1 and f"stopping ({sig.name})" in out, out
    assert not [line for line in out.splitlines()
                if " WARNING " in line or " ERROR " in line or "Traceback" in line], out
    # Helpers such as multiprocessing's resource tracker go once they see the server gone.
    deadline = time.monotonic() + 10
    while pids_alive(tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids_alive(tree) == []


@pytest.mark.parametrize(("workers", "one_cpu"), [(1, False), (2, False), (1, True)])
def test_a_killed_server_leaves_no_process_behind(tmp_path: Path, server_factory: StartServer,
                                                  workers: int, one_cpu: bool) -> None:
    """SIGKILL (the OOM killer, a crash): the writers and the serving workers, forked from
    multiprocessing's fork server, and that server go too (a process that outlived its
    server would be a leak). On one CPU the fork server is started later, by the daemon
    once its sockets are bound, not by the command line."""
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "one.test.zone").write_text(ZONE)
    cpus = os.sched_getaffinity(0)
    if one_cpu:
        os.sched_setaffinity(0, {min(cpus)})  # inherited by the server from its start
    try:
        srv = server_factory(zones, extra=["--workers", str(workers)])
    finally:
        os.sched_setaffinity(0, cpus)
    srv.wait_served("one.test.")
    tree = process_tree(srv.proc.pid)
    assert len(tree) >= 3 + workers  # the server, its three writers, the other workers
    srv.proc.kill()
    srv.proc.wait(30)
    deadline = time.monotonic() + 10
    while pids_alive(tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids_alive(tree) == []


def test_sighup_reads_every_zone_file_and_the_settings_now(tmp_path: Path,
                                                           server_factory: StartServer) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "one.test.zone").write_text(ZONE)
    (zones / "two.test.zone").write_text(ZONE)
    config = tmp_path / "dnsbackend.toml"
    config.write_text('[zone."two.test"]\nenabled = true \n')
    srv = server_factory(zones, config=config)
    srv.wait_served("one.test.")
    srv.wait_served("two.test.")
    edit_unseen(zones / "one.test.zone", b" 7 3600", b" 8 3600")
    edit_unseen(config, b"true ", b"false")
    srv.proc.send_signal(signal.SIGHUP)
    said = "SIGHUP: re-read the settings; re-reading 1 zone file\n"  # two.test. is disabled
    srv.wait_logged(said)
    srv.wait_logged("zone one.test. loaded: serial 8")
    assert serial(srv, "one.test.") == 8
    srv.wait_until("two.test.", "SOA", lambda r: r.rcode() == dns.rcode.REFUSED)
    loaded = srv.output().count(" loaded: ")
    srv.proc.send_signal(signal.SIGHUP)  # nothing changed since: nothing loaded again
    wait_for_count(srv, said, 2)
    assert serial(srv, "one.test.") == 8
    srv.stop()
    assert srv.output().count(" loaded: ") == loaded


def wait_for_count(srv: ServerProcess, text: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while srv.output().count(text) < count:
        assert time.monotonic() < deadline, srv.output()
        time.sleep(0.02)


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A socket in the abstract namespace where the server sends its sd_notify states."""
    name = f"@dnsbackend-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:])
    sock.settimeout(30)
    monkeypatch.setenv("NOTIFY_SOCKET", name)
    yield sock
    sock.close()


def test_systemd_hears_ready_reloading_and_stopping(tmp_path: Path, server_factory: StartServer,
                                                    notify_socket: socket.socket) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "one.test.zone").write_text(ZONE)
    srv = server_factory(zones)
    ready = notify_socket.recv(4096).decode().split("\n")
    assert ready == ["READY=1", f"STATUS=serving on port {srv.port}"]
    srv.wait_served("one.test.")  # READY=1 comes once the zones are reconciled
    srv.proc.send_signal(signal.SIGHUP)
    reloading = notify_socket.recv(4096).decode().split("\n")
    assert reloading[0] == "RELOADING=1" and reloading[1].startswith("MONOTONIC_USEC=")
    assert notify_socket.recv(4096) == b"READY=1"
    srv.proc.send_signal(signal.SIGTERM)
    assert notify_socket.recv(4096) == b"STOPPING=1"
    assert exit_code(srv) == 0


CONTRIB = Path(__file__).resolve().parents[2] / "contrib"


def test_the_systemd_unit_and_its_user_pass_systemds_own_checks(tmp_path: Path) -> None:
    """contrib/dnsbackend.service passes `systemd-analyze verify` (which names any line it
    cannot parse) with ExecStart pointed at this install, its command line is one `serve`
    takes, and contrib/dnsbackend.sysusers makes the user and group the unit runs as, with
    the unit's state directory as home."""
    analyze, sysusers = programs.find("systemd-analyze"), programs.find("systemd-sysusers")
    programs.needed([f"{name} is needed here (Debian package systemd)"
                     for name, found in (("systemd-analyze", analyze),
                                         ("systemd-sysusers", sysusers)) if found is None])
    assert analyze is not None and sysusers is not None
    text = (CONTRIB / "dnsbackend.service").read_text()
    fields = dict(line.split("=", 1) for line in text.splitlines()
                  if "=" in line and not line.startswith("#"))
    program, *args = fields["ExecStart"].split()
    here = str(Path(sys.executable).with_name("dnsbackend"))
    unit = tmp_path / "dnsbackend.service"
    unit.write_text(text.replace(f"ExecStart={program} ", f"ExecStart={here} "))
    done = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    assert fields["Type"] == "notify" and "CAP_NET_BIND_SERVICE" in fields["AmbientCapabilities"]
    parsed = cli._parser().parse_args(args)  # what `serve` makes of the unit's arguments
    assert parsed.command == "serve" and parsed.config == "/etc/dnsbackend/dnsbackend.toml"
    done = subprocess.run([sysusers, "--dry-run", f"--root={tmp_path / 'root'}",
                           str(CONTRIB / "dnsbackend.sysusers")], capture_output=True,
                          text=True, timeout=60)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert f"Creating group '{fields['Group']}'" in said, said
    assert f"Creating user '{fields['User']}'" in said, said
    (entry,) = [line.split() for line in (CONTRIB / "dnsbackend.sysusers").read_text()
                .splitlines() if line.startswith("u ")]
    assert entry[1] == fields["User"] and entry[-1] == f"/var/lib/{fields['StateDirectory']}"


# --- metrics -------------------------------------------------------------------------------

BIG = "big TXT " + " ".join(['"' + "x" * 200 + '"'] * 3) + "\n"  # > 512 bytes: TC over UDP


class NotifyListener:
    """A secondary that acknowledges every NOTIFY it is sent (over UDP, on a thread)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            notify = dns.message.from_wire(data)
            self.sock.sendto(dns.message.make_response(notify).to_wire(), peer)

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


def udp_raw(port: int, data: bytes) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.sendto(data, ("127.0.0.1", port))
        try:
            return sock.recv(4096)
        except TimeoutError:
            return None


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_count_what_was_answered(tmp_path: Path, server_factory: StartServer,
                                         workers: int) -> None:
    metrics_port = free_port()
    secondary = NotifyListener()
    try:
        zones = tmp_path / "zones"
        zones.mkdir()
        zone_file = zones / "one.test.zone"
        zone_file.write_text(ZONE + BIG)
        config = tmp_path / "dnsbackend.toml"
        config.write_text(f'metrics = "127.0.0.1:{metrics_port}"\n[transfer]\n'
                          f'allow = [{{ address = "127.0.0.1" }}]\n'
                          f'notify = [{{ address = "127.0.0.1", port = {secondary.port} }}]\n')
        srv = server_factory(zones, extra=["--workers", str(workers)], config=config)
        srv.wait_served("one.test.")
        scrape_until(metrics_port, "dnsbackend_notifies_acknowledged_total", 1)
        udp = "udp"
        sent = {("one.test.", "A", "NOERROR", udp): 5, ("one.test.", "A", "NXDOMAIN", udp): 3,
                ("one.test.", "SOA", "NOERROR", "tcp"): 2, ("(none)", "A", "REFUSED", udp): 2,
                ("one.test.", "TXT", "NOERROR", udp): 1, ("(none)", "", "FORMERR", udp): 1}
        queries = ([("www.one.test.", "A", False)] * 5 + [("nx.one.test.", "A", False)] * 3
                   + [("one.test.", "SOA", True)] * 2 + [("www.other.test.", "A", False)] * 2
                   + [("big.one.test.", "TXT", False)])
        for name, rdtype, tcp in queries:
            srv.query(name, rdtype, tcp=tcp)
        assert udp_raw(srv.port, b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00") \
            is not None  # one question announced, none there: FORMERR
        query = dns.message.make_query("www.one.test.", "A").to_wire()
        assert udp_raw(srv.port, query[:2] + b"\x80" + query[3:]) is None  # a response: dropped
        samples = scrape_until(metrics_port, "dnsbackend_queries_total", 1, zone="(none)",
                               rcode="FORMERR")  # the last one answered
        for (zone, rdtype, rcode, transport), count in sent.items():
            assert total(samples, "dnsbackend_queries_total", zone=zone, type=rdtype,
                         rcode=rcode, transport=transport) == count, (zone, rdtype, rcode)
        counted = {(labels["zone"], labels["type"], labels["rcode"], labels["transport"])
                   for labels, _ in samples["dnsbackend_queries_total"]}
        waited = {("one.test.", "SOA", "NOERROR", udp), ("(none)", "SOA", "REFUSED", udp),
                  ("(none)", "SOA", "SERVFAIL", udp)}  # not ready: the store was empty
        assert set(sent) <= counted <= set(sent) | waited  # wait_served() asked too
        assert {labels["worker"] for labels, _ in samples["dnsbackend_queries_total"]} <= \
            {str(i) for i in range(workers)}
        assert total(samples, "dnsbackend_responses_truncated_total") == 1
        assert total(samples, "dnsbackend_queries_malformed_total") == 1
        assert total(samples, "dnsbackend_queries_dropped_total", reason="not a query") == 1
        assert total(samples, "dnsbackend_zone_loads_total", zone="one.test.") == 1
        assert total(samples, "dnsbackend_notifies_sent_total") == 1
        assert total(samples, "dnsbackend_journal_depth", zone="one.test.") == 0

        xfr = dns.query.xfr("127.0.0.1", "one.test.", port=srv.port, timeout=5)
        assert len(list(xfr)) >= 1
        scrape_until(metrics_port, "dnsbackend_transfers_total", 1, kind="AXFR")
        zone_file.write_text(ZONE.replace(" 7 3600", " 8 3600"))
        srv.wait_logged("zone one.test. loaded: serial 8")
        samples = scrape_until(metrics_port, "dnsbackend_notifies_acknowledged_total", 2)
        assert total(samples, "dnsbackend_zone_loads_total", zone="one.test.") == 2
        assert total(samples, "dnsbackend_edit_to_visible_seconds_count") == 1
        assert total(samples, "dnsbackend_journal_depth", zone="one.test.") == 1
        zone_file.write_text(ZONE.replace(" 7 3600", " 9 3600") + "www A not-an-address\n")
        srv.wait_logged("zone one.test. rejected")
        samples = scrape(metrics_port)
        assert total(samples, "dnsbackend_zone_rejections_total", zone="one.test.") == 1
        assert total(samples, "dnsbackend_zone_load_seconds_count", outcome="rejected") == 1
        assert total(samples, "dnsbackend_journal_depth", zone="one.test.") == 1
        if workers == 1:  # again, serving what the store holds from the start
            srv.stop()
            zone_file.write_text(ZONE.replace(" 7 3600", " 8 3600"))  # what it serves
            again = server_factory(zones, config=config)
            again.wait_logged("zone one.test. serving serial 8 from the store")
            samples = scrape(metrics_port)
            assert total(samples, "dnsbackend_journal_depth", zone="one.test.") == 1
            assert total(samples, "dnsbackend_zone_loads_total") == 0
    finally:
        secondary.close()


def test_the_metrics_endpoint_survives_garbage(tmp_path: Path,
                                               server_factory: StartServer) -> None:
    metrics_port = free_port()
    config = tmp_path / "dnsbackend.toml"
    config.write_text(f'metrics = "127.0.0.1:{metrics_port}"\n')
    srv = server_factory(config=config)
    for garbage in (b"\x00\xff" * 100 + b"\r\n\r\n", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n",
                    b"POST /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n", b""):
        reply = b""
        with socket.create_connection(("127.0.0.1", metrics_port), timeout=5) as conn:
            conn.sendall(garbage)
            conn.shutdown(socket.SHUT_WR)
            while chunk := conn.recv(65536):
                reply += chunk
        # an HTTP answer, an error page (HTTP/0.9 has no status line), or closed
        assert not reply or reply.startswith(b"HTTP/1.") or b"Error code" in reply, reply
    assert "dnsbackend_writer_queue" in scrape(metrics_port)  # and it still answers
    assert srv.proc.poll() is None


def serve_to_fail(tmp_path: Path, settings: str) -> subprocess.CompletedProcess[str]:
    """`dnsbackend serve` with these settings, expected to stop at once."""
    config = tmp_path / "dnsbackend.toml"
    config.write_text(settings)
    return subprocess.run(
        [sys.executable, "-m", "dnsbackend", "serve", "--config", str(config), "--zones",
         str(tmp_path), "--data", str(tmp_path / "db"), "--port", "0", "--listen",
         "127.0.0.1"], capture_output=True, text=True, timeout=60)


def test_a_metrics_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = serve_to_fail(tmp_path, f'metrics = "127.0.0.1:{port}"\n')
    assert proc.returncode == 1
    assert f"setting 'metrics': cannot listen on 127.0.0.1 port {port}" in proc.stderr


# --- the query log -------------------------------------------------------------------------

def wait_for_lines(path: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 30
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return lines
        assert time.monotonic() < deadline, lines
        time.sleep(0.05)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_query_log_has_a_line_per_query(tmp_path: Path, server_factory: StartServer,
                                            workers: int) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "one.test.zone").write_text(ZONE)
    log_path = tmp_path / "queries.log"
    config = tmp_path / "dnsbackend.toml"
    config.write_text(f'query_log = "{log_path}"\n')
    srv = server_factory(zones, extra=["--workers", str(workers)], config=config)
    srv.wait_served("one.test.")
    asked = [("www.one.test.", "A", False), ("nx.one.test.", "AAAA", False),
             ("one.test.", "SOA", True), ("www.other.test.", "TXT", False)]
    sizes = []
    for name, rdtype, tcp in asked:
        sizes.append(len(srv.query(name, rdtype, tcp=tcp).to_wire()))
    deadline = time.monotonic() + 30
    while True:  # the lines but those of wait_served()'s queries (SOA over UDP)
        lines = [line for line in log_path.read_text().splitlines()
                 if " udp one.test. SOA " not in line]
        if len(lines) >= len(asked) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) == len(asked), lines
    got = sorted((line.split(" ") for line in lines), key=lambda f: f[2:8])  # any order
    want = sorted([
        ["udp", "www.one.test.", "A", "NOERROR", str(sizes[0]), "one.test."],
        ["udp", "nx.one.test.", "AAAA", "NXDOMAIN", str(sizes[1]), "one.test."],
        ["tcp", "one.test.", "SOA", "NOERROR", str(sizes[2]), "one.test."],
        ["udp", "www.other.test.", "TXT", "REFUSED", str(sizes[3]), "(none)"]])
    assert [fields[2:8] for fields in got] == want
    for fields in got:
        assert LINE_TIME.match(fields[0]), fields
        address, _, port = fields[1].partition("#")
        assert address == "127.0.0.1" and port.isdigit()
        assert fields[8] in {str(i) for i in range(workers)}
    # logrotate: the file renamed away, the next lines go to a new file of the name
    log_path.rename(tmp_path / "queries.log.1")
    deadline = time.monotonic() + 30
    while " www.one.test. A NOERROR " not in (log_path.read_text() if log_path.exists()
                                              else ""):
        srv.query("www.one.test.", "A")  # each process looks at the name once a second
        assert time.monotonic() < deadline
        time.sleep(0.2)


LINE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")


def test_the_query_log_to_stdout(tmp_path: Path, server_factory: StartServer) -> None:
    """`query_log = "-"`: the lines go to standard output, beside (not into) the log."""
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "one.test.zone").write_text(ZONE)
    config = tmp_path / "dnsbackend.toml"
    config.write_text('query_log = "-"\n')
    srv = server_factory(zones, config=config)
    srv.wait_served("one.test.")
    size = len(srv.query("www.one.test.", "A").to_wire())
    tail = f" udp www.one.test. A NOERROR {size} one.test. 0"
    deadline = time.monotonic() + 30
    while not [line for line in srv.output().splitlines() if line.endswith(tail)]:
        assert time.monotonic() < deadline, srv.output()
        time.sleep(0.05)
    [line] = [line for line in srv.output().splitlines() if line.endswith(tail)]
    when, client = line.split(" ")[:2]
    assert LINE_TIME.match(when) and client.startswith("127.0.0.1#")


def test_a_query_log_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    proc = serve_to_fail(tmp_path, f'query_log = "{tmp_path / "no" / "such.log"}"\n')
    assert proc.returncode == 1
    assert "setting 'query_log': cannot open" in proc.stderr
