"""Live-update benchmarks: edit-to-answer delay, queries during a big reload, qps under edits.

Run from the repository root (about 20 minutes with the 1,000,000-record zone):

    .venv/bin/python bench/live.py [--sizes 10,10000,1000000] [--edits 100] [--budget 600]

It starts the real server (`dnsbackend serve`) on a kernel-chosen port of 127.0.0.1 and
measures, in one run:

1. visibility: the time from a zone file's write (complete: after os.replace, or after the
   in-place rewrite is closed) to the first answer that shows the new content, polled
   with a raw UDP socket and a prebuilt question every millisecond; edits alternate
   between the two ways of writing. The changed record is the file's last line, so an
   answer only counts once the whole file was read; an answer showing neither the old nor
   the new value (a half-written file served) is counted as a glitch.
2. reload: dnsperf against the biggest zone all along, first for a window without a
   reload, then while that zone reloads (from the write until a prober, polling every
   10 ms, sees the new content). Once at a fixed rate (-Q) with `-v`, whose per-query
   latencies are split into seconds by the `-S 1` lines printed in the same stream, so
   p50/p99 are taken over exactly those windows; once unlimited, for queries per second.
   `srv cpu` is the share of the window the serving process's threads spent on a CPU,
   `srv wait` the share its main (serving) thread was runnable but waiting for its core
   (other work on the same core); `us/q` is the process's CPU time per answered query,
   which waiting does not inflate.
3. edits: dnsperf (unlimited) against a small zone rewritten every 100 ms, as a ratio to
   the same run without edits (runs alternate: quiet, edited, quiet, edited); also the
   same ratio from the serving process's CPU time per query (its capacity), which does
   not depend on how much CPU the load generator and the writers left it.
4. the rejected design, for contrast: an asyncio responder (uvloop, answers with
   dnsbackend.answer.answer from the same store) that parses the biggest zone with
   `build_zone` in a thread of its own process, so the parse holds the GIL; measured
   like 2 (fixed rate, -v latencies) before and during the parse.

With two or more cores the serving process runs on core 0; its writer processes, dnsperf
and the probers run on core 1 (a parse must run somewhere: the point of the design is
that it is not in the serving process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import dns.message
import dns.name
from gen_zone import generate  # bench/gen_zone.py, next to this file
from procs import process_tree

ROOT = Path(__file__).resolve().parent.parent
SERVE_CORE = 0
LOAD_CORE = 1
POLL_INTERVAL = 0.001  # seconds between polls of the visibility prober
GEN_ZONE_MINIMUM = 14  # gen_zone.generate() always writes a 13-record head
GEN_ZONE_SERIAL = "\t\t2026112601 ; serial\n"  # its serial line, which edits change


# -- zone files ----------------------------------------------------------------------------

class ZoneFile:
    """A generated zone whose SOA serial and last record (`probe A`) each edit changes.

    Zones of 14 records or more come from bench/gen_zone.py (a realistic mix of types);
    smaller ones are an SOA, an NS, its address and host addresses. The last line is always
    `probe A <address>`. The text is generated once; an edit only changes the serial and
    the probe's address in memory, then writes the whole file.
    """

    def __init__(self, directory: Path, origin: str, records: int) -> None:
        self.origin = origin if origin.endswith(".") else origin + "."
        self.path = directory / f"{self.origin}zone"
        self.serial = 0
        if records >= GEN_ZONE_MINIMUM:
            scratch = directory / f".{self.origin}gen"
            self.records = generate(str(scratch), self.origin, records - 1) + 1
            text = scratch.read_text()
            scratch.unlink()
            head, found, tail = text.partition(GEN_ZONE_SERIAL)
            if not found:
                raise RuntimeError("bench/gen_zone.py changed: no serial line to edit")
            self.head, self.tail = head.encode(), tail.encode()
            self.serial_line = "\t\t{} ; serial\n"
        else:
            self.records = records
            self.head = f"$ORIGIN {self.origin}\n$TTL 300\n".encode()
            self.serial_line = "@ SOA ns1 hostmaster {} 3600 600 86400 300\n"
            text = "@ NS ns1\nns1 A 192.0.2.1\n" + "".join(
                f"h{i} A 10.0.{i >> 8 & 255}.{i & 255}\n" for i in range(max(records - 4, 0)))
            self.tail = text.encode()
        self.owners = self._owners(text)

    def _owners(self, text: str) -> list[str]:
        """Owner names that start a line of the zone text, absolute, in file order."""
        owners: list[str] = []
        for line in text.splitlines():
            if not line or line[0] in " \t;$(":
                continue
            token = line.split(None, 1)[0]
            if "*" in token:
                continue
            name = self.origin if token == "@" else (
                token if token.endswith(".") else f"{token}.{self.origin}")
            if not owners or owners[-1] != name:
                owners.append(name)
        return owners

    def names(self, count: int) -> list[str]:
        """About `count` owner names of the zone (and the probe), spread over all of it."""
        step = max(len(self.owners) // max(count, 1), 1)
        return [*self.owners[::step][:count], f"probe.{self.origin}"]

    @staticmethod
    def address(edit: int) -> bytes:
        """The probe's address after edit number `edit` (distinct for 2**24 edits)."""
        return bytes((172, (edit >> 16) & 255, (edit >> 8) & 255, edit & 255))

    def content(self, edit: int) -> bytes:
        probe = "probe A {}.{}.{}.{}\n".format(*self.address(edit)).encode()
        serial = self.serial_line.format(2026000000 + edit).encode()
        return self.head + serial + self.tail + probe

    def write(self, edit: int, how: str) -> None:
        """Write edit `edit`: 'replace' = temp file + os.replace, 'inplace' = rewrite."""
        data = self.content(edit)
        if how == "replace":
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, self.path)
        else:
            with open(self.path, "r+b" if self.path.exists() else "wb") as f:
                f.truncate(0)
                f.write(data)
        self.serial = edit


# -- the server under test -------------------------------------------------------------------

def sched_seconds(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, all threads; seconds the main thread was runnable but not running).

    The second figure shows when the serving thread was held up by other work on its core
    (its own process's other threads, or other processes: this machine is shared), as
    opposed to having nothing to do.
    """
    run = wait = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                run_ns, wait_ns, _ = f.read().split()
        except (OSError, ValueError):
            continue  # the thread ended
        run += int(run_ns)
        if task == str(pid):
            wait = int(wait_ns)
    return run / 1e9, wait / 1e9


@dataclass
class Share:
    """How the serving process spent a window, as shares of its length."""

    cpu: float  # running (all threads)
    waiting: float  # main thread runnable, waiting for its core

    @classmethod
    def between(cls, before: tuple[float, float], after: tuple[float, float],
                seconds: float) -> Share:
        return cls((after[0] - before[0]) / seconds, (after[1] - before[1]) / seconds)

    def us_per_query(self, qps: float | None) -> float | None:
        """CPU microseconds the serving process spent per answered query."""
        return self.cpu / qps * 1e6 if qps else None


def pin(pid: int, core: int | None) -> None:
    if core is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {core})


class Server:
    """`dnsbackend serve` on 127.0.0.1, its log in a file; writers moved to the load core."""

    def __init__(self, zones: Path, data: Path, log_path: Path, pinned: bool) -> None:
        self.log_path = log_path
        self.pinned = pinned
        args = [str(ROOT / ".venv" / "bin" / "dnsbackend"), "serve", "--zones", str(zones),
                "--data", str(data), "--listen", "127.0.0.1", "--port", "0"]
        if pinned:
            args = ["taskset", "-c", str(SERVE_CORE), *args]
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.pinned_children: set[int] = set()
        self.port = self._wait_for_port()
        self.pin_writers()

    def pin_writers(self) -> None:
        """Move writer processes to the load core, new ones too (pools start them lazily)."""
        if not self.pinned:
            return
        for child in process_tree(self.proc.pid)[1:]:
            if child not in self.pinned_children:
                pin(child, LOAD_CORE)
                self.pinned_children.add(child)

    def _wait_for_port(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"listening on 127\.0\.0\.1 port (\d+)", self.log_path.read_text())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            time.sleep(0.05)
        raise RuntimeError("server did not start listening")

    def loads(self, origin: str) -> int:
        """How many times the log says `origin` was loaded."""
        return self.log_path.read_text().count(f"zone {origin} loaded:")

    def check_alive(self) -> None:
        """Raise if the server died; called about once a second, so it re-pins too."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"server died: {self.log_path.read_text()[-2000:]}")
        self.pin_writers()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# -- UDP probers -----------------------------------------------------------------------------

def make_query(name: str, rdtype: str = "A") -> bytes:
    query = dns.message.make_query(name, rdtype, use_edns=False)
    query.flags = 0
    return bytes(query.to_wire())


class Prober:
    """One UDP socket asking prebuilt questions one at a time."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setblocking(False)

    def ask(self, query: bytes, timeout: float = 1.0) -> tuple[bytes | None, float]:
        """(response or None on timeout, seconds from send to receipt)."""
        sock = self.sock
        with contextlib.suppress(BlockingIOError):
            while True:
                sock.recv(4096)  # late answers to earlier questions
        started = time.perf_counter()
        sock.send(query)
        while True:
            left = timeout - (time.perf_counter() - started)
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                return None, time.perf_counter() - started
            response = sock.recv(4096)
            if response[:2] == query[:2]:
                return response, time.perf_counter() - started

    def close(self) -> None:
        self.sock.close()


class Watch:
    """Polls a name (every millisecond by default) until an answer shows a wanted value."""

    def __init__(self, port: int, name: str, interval: float = POLL_INTERVAL) -> None:
        self.prober = Prober(port)
        self.query = make_query(name)
        self.interval = interval
        self.glitches = 0  # answers that were neither the old nor the new content

    def until(self, new: bytes, old: bytes | None, timeout: float,
              alive: Callable[[], None]) -> float | None:
        """Poll until an answer holds `new`; return time.perf_counter() of that answer."""
        deadline = time.perf_counter() + timeout
        next_check = time.perf_counter() + 1.0
        while True:
            sent = time.perf_counter()
            response, _ = self.prober.ask(self.query)
            now = time.perf_counter()
            if response is not None:
                if new in response:
                    return now
                if old is not None and old not in response:
                    self.glitches += 1
            if now > deadline:
                return None
            if now > next_check:
                alive()
                next_check = now + 1.0
            pause = self.interval - (time.perf_counter() - sent)
            if pause > 0:
                time.sleep(pause)


# -- dnsperf ---------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p99 of fewer than 100 values is the largest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


@dataclass
class Latency:
    """Per-query latencies of dnsperf's queries answered inside one time window."""

    answered: int
    lost: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: list[float], lost: int) -> Latency:
        ms = [s * 1000 for s in seconds]
        return cls(len(ms), lost, percentile(ms, 50), percentile(ms, 99),
                   max(ms, default=math.nan))


@dataclass
class Second:
    """One second of a dnsperf run: the `-S 1` line that ends it and the `-v` lines in it."""

    end: float  # epoch time printed by dnsperf at the end of the second
    qps: float
    latencies: list[float] = field(default_factory=list)  # seconds, answered queries
    lost: int = 0


@dataclass
class PerfResult:
    qps: float  # over the whole run
    sent: int
    lost: int
    avg_latency_ms: float
    max_latency_ms: float
    seconds: list[Second]

    def _inside(self, start: float, end: float) -> list[Second]:
        """The whole seconds that lie in [start, end]."""
        return [s for s in self.seconds if start + 1 <= s.end <= end]

    def qps_between(self, start: float, end: float) -> float | None:
        inside = self._inside(start, end)
        return sum(s.qps for s in inside) / len(inside) if inside else None

    def latency_between(self, start: float, end: float) -> Latency:
        inside = self._inside(start, end)
        return Latency.of([x for s in inside for x in s.latencies], sum(s.lost for s in inside))


_PER_SECOND = re.compile(r"^(\d{9,}\.\d+): ([\d.]+)$")
_ANSWERED = re.compile(r"^> \S+ \S+ \S+ ([\d.]+)$")


class Dnsperf:
    """dnsperf in the background on the load core; `-S 1` always, `-v` if `verbose`.

    With `-v` dnsperf prints one line per query as it completes; the `-S 1` lines come in
    the same stream, so they split the per-query latencies into the seconds they fell in.
    """

    def __init__(self, port: int, query_file: Path, seconds: float, pinned: bool,
                 out: Path, rate: int | None = None, verbose: bool = False,
                 clients: int = 4) -> None:
        args = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(query_file),
                "-c", str(clients), "-l", f"{seconds:g}", "-S", "1"]
        if rate:
            args += ["-Q", str(rate)]
        if verbose:
            args.append("-v")
        if pinned:
            args = ["taskset", "-c", str(LOAD_CORE), *args]
        self.out = out
        self.output = open(out, "w")  # noqa: SIM115 - closed in result()
        self.proc = subprocess.Popen(args, stdout=self.output, stderr=subprocess.STDOUT)

    def stop(self) -> PerfResult:
        self.proc.send_signal(signal.SIGINT)  # dnsperf stops and prints its statistics
        return self.result()

    def result(self) -> PerfResult:
        self.proc.wait()
        self.output.close()
        text = self.out.read_text()
        if self.proc.returncode != 0:
            raise RuntimeError(f"dnsperf failed: {text[-2000:]}")
        seconds: list[Second] = []
        pending = Second(0.0, 0.0)
        for line in text.splitlines():
            if line.startswith("> "):
                m = _ANSWERED.match(line)
                if m:
                    pending.latencies.append(float(m.group(1)))
                else:
                    pending.lost += 1
                continue
            m = _PER_SECOND.match(line)
            if m:
                pending.end, pending.qps = float(m.group(1)), float(m.group(2))
                seconds.append(pending)
                pending = Second(0.0, 0.0)

        def number(label: str) -> float:
            m = re.search(rf"{label}\s+([\d.]+)", text)
            if m is None:
                raise RuntimeError(f"no '{label}' in dnsperf output: {text[-2000:]}")
            return float(m.group(1))

        latency = re.search(r"Average Latency \(s\):\s+([\d.]+) \(min [\d.]+, max ([\d.]+)\)",
                            text)
        return PerfResult(
            qps=number("Queries per second:"), sent=int(number("Queries sent:")),
            lost=int(number("Queries lost:")),
            avg_latency_ms=float(latency.group(1)) * 1000 if latency else math.nan,
            max_latency_ms=float(latency.group(2)) * 1000 if latency else math.nan,
            seconds=seconds)


def query_file(path: Path, names: list[str]) -> Path:
    path.write_text("".join(f"{name} A\n" for name in names))
    return path


# -- 1. visibility -----------------------------------------------------------------------------

@dataclass
class Visibility:
    records: int
    edits: int = 0
    delays_ms: list[float] = field(default_factory=list)
    by_mode_ms: dict[str, list[float]] = field(default_factory=dict)
    write_ms: list[float] = field(default_factory=list)
    missed: int = 0  # edits never seen within the timeout
    glitches: int = 0


def bench_visibility(server: Server, zone: ZoneFile, edits: int, budget: float,
                     timeout: float) -> Visibility:
    result = Visibility(zone.records)
    watch = Watch(server.port, f"probe.{zone.origin}")
    started = time.perf_counter()
    last_delay = 0.0
    for n in range(edits):
        if n and time.perf_counter() - started + last_delay > budget:
            break
        edit = zone.serial + 1
        how = "replace" if n % 2 == 0 else "inplace"
        before = time.perf_counter()
        zone.write(edit, how)
        written = time.perf_counter()
        seen = watch.until(ZoneFile.address(edit), ZoneFile.address(edit - 1), timeout,
                           server.check_alive)
        result.edits += 1
        result.write_ms.append((written - before) * 1000)
        if seen is None:
            result.missed += 1
            print(f"  {zone.records} records: edit {edit} ({how}) not seen after {timeout}s",
                  flush=True)
            break
        last_delay = seen - written
        result.delays_ms.append(last_delay * 1000)
        result.by_mode_ms.setdefault(how, []).append(last_delay * 1000)
        if zone.records >= 100_000:
            print(f"  {zone.records} records: edit {n + 1} ({how}) seen after "
                  f"{last_delay:.2f}s", flush=True)
        time.sleep(0.02)  # keep edits apart: each one is a separate change
    result.glitches = watch.glitches
    watch.prober.close()
    return result


# -- 2. queries during a reload ----------------------------------------------------------------

@dataclass
class ReloadRun:
    records: int
    rate: int | None  # dnsperf's -Q, or None for as fast as it goes
    reload_seconds: float  # from the write to the first answer showing the new content
    quiet: Latency
    during: Latency
    quiet_qps: float | None
    during_qps: float | None
    quiet_server: Share
    during_server: Share
    dnsperf_qps: float
    dnsperf_sent: int
    dnsperf_lost: int
    glitches: int


def bench_reload(server: Server, zone: ZoneFile, qfile: Path, quiet_seconds: float,
                 pinned: bool, timeout: float, rate: int | None, out: Path) -> ReloadRun:
    """dnsperf all along: a window without a reload, then one reload of `zone`."""
    server.check_alive()
    perf = Dnsperf(server.port, qfile, timeout + quiet_seconds + 10, pinned, out, rate,
                   verbose=rate is not None)
    watch = Watch(server.port, f"probe.{zone.origin}", interval=0.01)
    time.sleep(1.0)  # dnsperf is up
    cpu0, quiet_start = sched_seconds(server.proc.pid), time.time()
    time.sleep(quiet_seconds)
    cpu1, quiet_end = sched_seconds(server.proc.pid), time.time()
    edit = zone.serial + 1
    zone.write(edit, "replace")
    written, reload_start = time.perf_counter(), time.time()
    seen = watch.until(ZoneFile.address(edit), ZoneFile.address(edit - 1), timeout,
                       server.check_alive)
    cpu2, reload_end = sched_seconds(server.proc.pid), time.time()
    result = perf.stop()
    watch.prober.close()
    if seen is None:
        raise RuntimeError(f"reload of {zone.origin} not seen after {timeout}s")
    return ReloadRun(
        zone.records, rate, seen - written,
        result.latency_between(quiet_start, quiet_end),
        result.latency_between(reload_start, reload_end),
        result.qps_between(quiet_start, quiet_end), result.qps_between(reload_start, reload_end),
        Share.between(cpu0, cpu1, quiet_end - quiet_start),
        Share.between(cpu1, cpu2, reload_end - reload_start), result.qps, result.sent,
        result.lost, watch.glitches)


# -- 3. throughput with a zone rewritten every 100 ms ------------------------------------------

@dataclass
class EditRun:
    edited: bool
    qps: float
    lost: int
    avg_latency_ms: float
    server: Share
    loads: int  # versions the server loaded during the run
    writes: int


def bench_edits(server: Server, zone: ZoneFile, qfile: Path, seconds: float, edited: bool,
                pinned: bool, out: Path, interval: float = 0.1) -> EditRun:
    loads_before = server.loads(zone.origin)
    stop = threading.Event()
    writes = 0

    def rewrite() -> None:
        nonlocal writes
        next_at = time.perf_counter()
        while not stop.is_set():
            zone.write(zone.serial + 1, "replace")
            writes += 1
            next_at += interval
            stop.wait(max(next_at - time.perf_counter(), 0))

    editor = threading.Thread(target=rewrite)
    server.check_alive()
    cpu0, start = sched_seconds(server.proc.pid), time.perf_counter()
    perf = Dnsperf(server.port, qfile, seconds, pinned, out)
    if edited:
        editor.start()
    result = perf.result()
    cpu1, end = sched_seconds(server.proc.pid), time.perf_counter()
    stop.set()
    if edited:
        editor.join()
    time.sleep(0.5)  # the last edit's load
    return EditRun(edited, result.qps, result.lost, result.avg_latency_ms,
                   Share.between(cpu0, cpu1, end - start), server.loads(zone.origin) - loads_before,
                   writes)


# -- 4. the rejected design: the parse in a thread of the serving process -----------------------

def rejected_responder(data: str, zone_file: str, origin: str) -> None:
    """Serve from the store with dnsbackend.answer.answer; on 'parse' on stdin, parse
    `zone_file` with build_zone in a thread of this very process (the design we rejected)."""
    from dnsbackend.query.engine import answer
    from dnsbackend.store.database import Store
    from dnsbackend.store.snapshot import Reader
    from dnsbackend.zone.build import build_zone

    reader = Reader(Store(data))

    class Protocol(asyncio.DatagramProtocol):
        transport: asyncio.DatagramTransport

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.DatagramTransport, transport)

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            response = answer(data, reader.snapshot(), False)
            if response is not None:
                self.transport.sendto(response, addr)

    def parse() -> None:
        started = time.perf_counter()
        built = build_zone(zone_file, dns.name.from_text(origin), os.path.dirname(zone_file))
        print(f"parsed {built.contents.meta.records} records in "
              f"{time.perf_counter() - started:.1f}s", flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(Protocol,
                                                           local_addr=("127.0.0.1", 0))
        print(f"port {transport.get_extra_info('sockname')[1]}", flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if line.strip() == "parse":
            threading.Thread(target=parse, daemon=True).start()
            print("parsing", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # until told to stop

    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())


@dataclass
class RejectedRun:
    records: int
    rate: int
    quiet: Latency
    parsing: Latency
    quiet_qps: float | None
    parsing_qps: float | None
    window_seconds: float
    parse_done: str  # the responder's "parsed N records in S s", if it finished in time


def bench_rejected(data: Path, zone: ZoneFile, qfile: Path, quiet_seconds: float,
                   parse_seconds: float, pinned: bool, rate: int, out: Path) -> RejectedRun:
    args = [sys.executable, __file__, "rejected-responder", str(data), str(zone.path),
            zone.origin]
    if pinned:
        args = ["taskset", "-c", str(SERVE_CORE), *args]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        port = int(proc.stdout.readline().split()[1])
        perf = Dnsperf(port, qfile, quiet_seconds + parse_seconds + 10, pinned, out, rate,
                       verbose=True)
        time.sleep(1.0)
        quiet_start = time.time()
        time.sleep(quiet_seconds)
        quiet_end = time.time()
        proc.stdin.write("parse\n")
        proc.stdin.flush()
        proc.stdout.readline()  # "parsing"
        parse_start = time.time()
        done = ""
        if select.select([proc.stdout], [], [], parse_seconds)[0]:
            done = proc.stdout.readline().strip()  # "parsed N records in S s"
        parse_end = time.time()
        result = perf.stop()
    finally:
        proc.kill()
        proc.wait()
    return RejectedRun(zone.records, rate, result.latency_between(quiet_start, quiet_end),
                       result.latency_between(parse_start, parse_end),
                       result.qps_between(quiet_start, quiet_end),
                       result.qps_between(parse_start, parse_end), parse_end - parse_start,
                       done)


# -- the run -----------------------------------------------------------------------------------

def wait_served(port: int, zones: list[ZoneFile], timeout: float,
                alive: Callable[[], None]) -> None:
    for zone in zones:
        watch = Watch(port, f"probe.{zone.origin}", interval=0.05)
        if watch.until(ZoneFile.address(zone.serial), None, timeout, alive) is None:
            raise RuntimeError(f"{zone.origin} not served after {timeout}s")
        watch.prober.close()


def wait_watching(server: Server, zone: ZoneFile, attempts: int = 10) -> int:
    """Edit `zone` until an edit shows up, so that measurements start with a working watcher.

    Before commit f0578ff the watcher started only after the start-up load, and a file
    written in between was not read again until it changed once more; this benchmark hit
    that gap. Returns how many edits it took (1 since the fix).
    """
    watch = Watch(server.port, f"probe.{zone.origin}")
    try:
        for attempt in range(1, attempts + 1):
            edit = zone.serial + 1
            zone.write(edit, "replace")
            if watch.until(ZoneFile.address(edit), None, 2.0, server.check_alive) is not None:
                return attempt
        raise RuntimeError(f"no edit of {zone.origin} showed up in {attempts} tries")
    finally:
        watch.prober.close()


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f}%"


def latency_row(label: str, lat: Latency, qps: float | None, srv: Share | None) -> str:
    return (f"{label:<20} {lat.answered:>9,} {lat.lost:>5} {fmt(lat.p50_ms, 2):>7} "
            f"{fmt(lat.p99_ms, 2):>7} {fmt(lat.max_ms, 2):>7} {fmt(qps, 0):>7} "
            f"{percent(srv.cpu if srv else None):>8} "
            f"{percent(srv.waiting if srv else None):>9} "
            f"{fmt(srv.us_per_query(qps) if srv else None):>7}")


LATENCY_HEADER = (f"{'window':<20} {'answered':>9} {'lost':>5} {'p50 ms':>7} {'p99 ms':>7} "
                  f"{'max ms':>7} {'qps':>7} {'srv cpu':>8} {'srv wait':>9} {'us/q':>7}")


def report(vis: list[Visibility], reloads: list[ReloadRun], edits: list[EditRun],
           rejected: RejectedRun | None) -> Iterator[str]:
    yield "1. Edit to first answer showing it (ms; edits alternate os.replace / in-place)"
    yield (f"{'records':>10} {'edits':>6} {'p50':>9} {'p99':>9} {'max':>9} "
           f"{'replace p50':>12} {'in-place p50':>13} {'missed':>7} {'glitches':>9}")
    for v in vis:
        yield (f"{v.records:>10,} {v.edits:>6} {fmt(percentile(v.delays_ms, 50)):>9} "
               f"{fmt(percentile(v.delays_ms, 99)):>9} {fmt(max(v.delays_ms, default=None)):>9} "
               f"{fmt(percentile(v.by_mode_ms.get('replace', []), 50)):>12} "
               f"{fmt(percentile(v.by_mode_ms.get('inplace', []), 50)):>13} "
               f"{v.missed:>7} {v.glitches:>9}")
    for r in reloads:
        load = f"dnsperf -Q {r.rate}, -v latencies" if r.rate else "dnsperf unlimited"
        yield ""
        yield (f"2. Queries while the {r.records:,}-record zone reloads ({load}; reload took "
               f"{r.reload_seconds:.1f}s from write to new answer)")
        yield LATENCY_HEADER
        yield latency_row("no reload", r.quiet, r.quiet_qps, r.quiet_server)
        yield latency_row("during reload", r.during, r.during_qps, r.during_server)
        yield (f"dnsperf whole run: {r.dnsperf_qps:,.0f} qps, {r.dnsperf_sent:,} sent, "
               f"{r.dnsperf_lost} lost; glitches {r.glitches}")
    if rejected is not None:
        j = rejected
        yield ""
        yield (f"   REJECTED DESIGN, for contrast: build_zone of the {j.records:,}-record zone "
               f"in a thread of the serving process (dnsperf -Q {j.rate}; {j.window_seconds:.0f}s "
               "window)")
        yield "   " + LATENCY_HEADER
        yield "   " + latency_row("no parse", j.quiet, j.quiet_qps, None)
        yield "   " + latency_row("parse in a thread", j.parsing, j.parsing_qps, None)
        yield ("   (the window ends with the parse: " + j.parse_done + ")" if j.parse_done
               else "   (the parse was still running at the end of the window)")
    if edits:
        yield ""
        yield ("3. dnsperf (unlimited) qps with the zone rewritten every 100 ms (os.replace), "
               "vs no edits")
        yield (f"{'run':<10} {'qps':>10} {'lost':>6} {'mean ms':>8} {'srv cpu':>8} "
               f"{'srv wait':>9} {'us/q':>6} {'writes':>7} {'loads':>6}")
        for e in edits:
            yield (f"{'edited' if e.edited else 'no edits':<10} {e.qps:>10,.0f} {e.lost:>6} "
                   f"{e.avg_latency_ms:>8.2f} {percent(e.server.cpu):>8} "
                   f"{percent(e.server.waiting):>9} {fmt(e.server.us_per_query(e.qps)):>6} "
                   f"{e.writes:>7} {e.loads:>6}")

        def mean(values: list[float | None]) -> float:
            known = [v for v in values if v is not None]
            return sum(known) / len(known) if known else math.nan

        quiet = [e for e in edits if not e.edited]
        edited = [e for e in edits if e.edited]
        if quiet and edited:
            ratio = mean([e.qps for e in edited]) / mean([e.qps for e in quiet])
            yield f"ratio edited / no edits, dnsperf qps (means): {ratio:.3f}"
            cost = (mean([e.server.us_per_query(e.qps) for e in quiet]) /
                    mean([e.server.us_per_query(e.qps) for e in edited]))
            yield (f"ratio edited / no edits, serving capacity from CPU per query "
                   f"(means): {cost:.3f}")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "rejected-responder":
        rejected_responder(*sys.argv[2:5])
        return 0
    p = argparse.ArgumentParser(description="Live-update benchmarks (see the module docstring).")
    p.add_argument("--sizes", default="10,10000,1000000",
                   help="zone sizes (records) for the visibility benchmark")
    p.add_argument("--edits", type=int, default=100, help="edits per zone size")
    p.add_argument("--budget", type=float, default=600,
                   help="seconds at most spent on the edits of one zone size")
    p.add_argument("--timeout", type=float, default=900,
                   help="seconds to wait for one edit to show up before calling it missed")
    p.add_argument("--load-seconds", type=float, default=20,
                   help="length of each dnsperf run of the edit benchmark, and of the "
                   "windows without a reload")
    p.add_argument("--rate", type=int, default=10_000,
                   help="dnsperf -Q for the latency measurements")
    p.add_argument("--contrast-seconds", type=float, default=120,
                   help="how long at most to measure the rejected design while it parses")
    p.add_argument("--work", default="/tmp/dnsbackend-bench-live", help="scratch directory")
    p.add_argument("--json", help="also write the figures as JSON to this file")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    args = p.parse_args()
    pinned = not args.no_pin and (os.cpu_count() or 1) >= 2
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(args.work)
    zones_dir, data_dir = work / "zones", work / "db"
    for d in (zones_dir, data_dir):
        d.mkdir(parents=True, exist_ok=True)
    for old in [*zones_dir.iterdir(), *data_dir.glob("*/*")]:
        old.unlink()
    if pinned:
        pin(0, LOAD_CORE)  # this process probes: it belongs with the load generator
    load_at_start = os.getloadavg()

    print(f"generating zones of {sizes} records", flush=True)
    zones = [ZoneFile(zones_dir, f"z{n}.live.test", n) for n in sizes]
    small = ZoneFile(zones_dir, "edited.live.test", 10)
    for zone in [*zones, small]:
        zone.write(1, "replace")
    biggest = max(zones, key=lambda z: z.records)
    big_queries = query_file(work / "big.queries", biggest.names(10_000))
    small_queries = query_file(work / "small.queries", small.names(10))
    started = time.perf_counter()
    server = Server(zones_dir, data_dir, work / "server.log", pinned)
    vis: list[Visibility] = []
    reloads: list[ReloadRun] = []
    edit_runs: list[EditRun] = []
    try:
        wait_served(server.port, [*zones, small], args.timeout, server.check_alive)
        print(f"server up on port {server.port}, all zones served after "
              f"{time.perf_counter() - started:.1f}s", flush=True)
        tries = wait_watching(server, small)
        print(f"zone watcher running (edits it took to see one: {tries})", flush=True)
        for zone in zones:
            print(f"1. visibility, {zone.records:,} records", flush=True)
            vis.append(bench_visibility(server, zone, args.edits, args.budget, args.timeout))
        for rate in (args.rate, None):
            print(f"2. queries during a reload of {biggest.records:,} records "
                  f"(dnsperf {f'-Q {rate}' if rate else 'unlimited'})", flush=True)
            reloads.append(bench_reload(server, biggest, big_queries, args.load_seconds,
                                        pinned, args.timeout, rate, work / "dnsperf.out"))
        print("3. qps with a zone rewritten every 100 ms", flush=True)
        for edited in (False, True, False, True):
            edit_runs.append(bench_edits(server, small, small_queries, args.load_seconds,
                                         edited, pinned, work / "dnsperf.out"))
        server.check_alive()
    finally:
        server.stop()
    print("4. the rejected design (parse in a thread of the serving process)", flush=True)
    rejected = bench_rejected(data_dir, biggest, big_queries, args.load_seconds,
                              args.contrast_seconds, pinned, args.rate, work / "dnsperf.out")

    placement = ("serving process on core 0; writers, dnsperf and probers on core 1"
                 if pinned else "not pinned")
    print()
    print(f"# bench/live.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores, {placement}; load average at start "
          f"{load_at_start[0]:.1f}, at end {os.getloadavg()[0]:.1f}")
    for line in report(vis, reloads, edit_runs, rejected):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "visibility": [asdict(v) for v in vis],
            "reloads": [asdict(r) for r in reloads],
            "edits": [asdict(e) for e in edit_runs],
            "rejected": asdict(rejected)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
