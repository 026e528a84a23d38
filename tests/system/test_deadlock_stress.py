"""Both watchers busy at once, with query load, at more concurrency than production.

20 zones are rewritten many times a second, one large zone keeps being replaced, the
catalogue is rewritten several times a second and several clients query throughout, with
dnsperf offering 15,000 queries a second on top. A watchdog fails the test, with every
thread's stack of the server and its writer processes (faulthandler on SIGUSR1), if the
store stops moving for 5 s while edits are being made. At the end every zone must serve its
final file and the catalogue's final state, and dnsperf must have lost (almost) no query
and kept up (nearly) its rate.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from dnsbackend.store.database import Store
from testkit import dnsperf
from testkit.procs import children_map
from testkit.server import ServerProcess, StartServer
from testkit.zones import (
    only_version,
    versioned_zone,
    versions_in,
    write_atomically,
    write_in_place,
)

SMALL_ZONES = 20
LARGE_RECORDS = 20_000
DURATION = 20.0
STALL_SECONDS = 5.0
QUERY_RATE = 15_000  # queries/s offered by dnsperf, above the 12,000/s of the incident
# What dnsperf must report. It keeps IN_FLIGHT queries in flight at most and counts one lost
# when it is not answered within LOST_AFTER seconds. A server that stalls for LOST_AFTER or
# more loses about IN_FLIGHT at once, one that drops queries loses each of them: fail above
# LOST_MOST, 0.01% of the 300,000 sent (every run here lost none: 5 runs, alone and beside
# other system tests; the slowest answer took 80-260 ms). Once those are out, a stalled
# server holds dnsperf to IN_FLIGHT queries per LOST_AFTER seconds, so a longer stall, or a
# server too slow for this rate under the writers, also shows in the rate dnsperf kept up:
# fail below LEAST_RATE, 90% of the rate offered (those runs kept up 96-100%). A stall
# shorter than LOST_AFTER is made up for (dnsperf sends faster after one) and passes.
IN_FLIGHT = 100
LOST_AFTER = 2.0
LOST_MOST = int(QUERY_RATE * DURATION) // 10_000
LEAST_RATE = 0.9 * QUERY_RATE
PAYLOADS = [1232, 1400, 4096]


class Stress:
    """The zones, the catalogue (settings file) and the threads that edit and query them."""

    def __init__(self, server_factory: StartServer, tmp_path: Path) -> None:
        self.zdir = tmp_path / "zones"
        self.zdir.mkdir()
        self.origins = [f"z{i}.stress.test." for i in range(SMALL_ZONES)]
        self.serial = {o: 1 for o in self.origins}
        for origin in self.origins:
            (self.zdir / f"{origin}zone").write_text(versioned_zone(origin, 1))
        self.large = "large.stress.test."
        self.large_serial = 1
        (self.zdir / f"{self.large}zone").write_text(
            versioned_zone(self.large, 1, padding=LARGE_RECORDS))
        self.config = tmp_path / "dnsbackend.toml"
        self.config.write_text("udp_payload = 1232\n")
        self.srv: ServerProcess = server_factory(self.zdir)
        for origin in [*self.origins, self.large]:
            self.srv.wait_served(origin, timeout=120)
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.answered = 0

    def query_client(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            origin = rng.choice(self.origins)
            name = rng.choice([origin, "www." + origin, "x.child." + origin])
            try:
                r = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1",
                                  port=self.srv.port, timeout=2)
            except dns.exception.Timeout:
                continue
            self.answered += 1
            if len(versions_in(r)) > 1:
                self.problems.append(f"mixed versions: {r.to_text()}")

    def zone_editor(self, seed: int, mine: list[str]) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            origin = rng.choice(mine)
            self.serial[origin] += 1
            writer = write_atomically if rng.random() < 0.7 else write_in_place
            writer(str(self.zdir / f"{origin}zone"), versioned_zone(origin, self.serial[origin]))
            time.sleep(rng.uniform(0.0, 0.01))

    def large_editor(self) -> None:
        while not self.stop.is_set():
            self.large_serial += 1
            write_atomically(str(self.zdir / f"{self.large}zone"),
                             versioned_zone(self.large, self.large_serial,
                                            padding=LARGE_RECORDS))
            self.stop.wait(0.5)

    def catalogue_editor(self) -> None:
        rng = random.Random(7)
        while not self.stop.is_set():
            disabled = rng.sample(self.origins, 3)
            text = f"udp_payload = {rng.choice(PAYLOADS)}\n" + "".join(
                f'[zone."{o}"]\nenabled = false\n' for o in disabled)
            write_atomically(str(self.config), text)
            self.stop.wait(0.2)

    def threads(self) -> list[threading.Thread]:
        """4 query clients, 2 editors of half the small zones each, the large zone's editor
        and the catalogue's."""
        halves = [self.origins[: SMALL_ZONES // 2], self.origins[SMALL_ZONES // 2:]]
        threads = [threading.Thread(target=self.query_client, args=(i,)) for i in range(4)]
        threads += [threading.Thread(target=self.zone_editor, args=(i, halves[i]))
                    for i in range(2)]
        threads += [threading.Thread(target=self.large_editor),
                    threading.Thread(target=self.catalogue_editor)]
        return threads

    def start_dnsperf(self, tmp_path: Path) -> dnsperf.Dnsperf:
        """dnsperf's load on top of the clients' for the whole run, its rate each second."""
        if not dnsperf.available():
            pytest.fail("dnsperf is not installed (Debian package dnsperf, which .ci/run "
                        "installs): it makes this test's production-level load")
        queries = tmp_path / "queries.txt"
        queries.write_text("".join(f"www.{o} A\n{o} SOA\nnx.{o} A\n" for o in self.origins))
        load = dnsperf.Load(self.srv.port, queries, seconds=DURATION, clients=4,
                            rate=QUERY_RATE, outstanding=IN_FLIGHT, timeout=LOST_AFTER,
                            every_second=True)
        return dnsperf.Dnsperf(load, tmp_path / "dnsperf.out")

    def watch_store(self, store: Store, started: float) -> None:
        """Until DURATION is up: fail, with every thread's stack of the server and its
        writers, if no write is committed for STALL_SECONDS."""
        last_txn, last_move = -1, time.monotonic()
        while time.monotonic() - started < DURATION:
            with store.catalog_env.begin() as txn:
                txn_id = txn.id()
            if txn_id != last_txn:
                last_txn, last_move = txn_id, time.monotonic()
            elif time.monotonic() - last_move > STALL_SECONDS:
                pid = self.srv.proc.pid
                for each in [pid, *children_map().get(pid, [])]:
                    os.kill(each, signal.SIGUSR1)
                time.sleep(1.0)
                raise AssertionError(
                    f"no write committed for {STALL_SECONDS}s: stacks of every thread of the "
                    f"server and its writers follow\n{self.srv.output()}")
            time.sleep(0.1)

    def settle(self) -> None:
        """Settle the catalogue on a known final state (one zone disabled), then wait for
        every zone's final version."""
        final_disabled = self.origins[0]
        write_atomically(str(self.config), f'[zone."{final_disabled}"]\nenabled = false\n')
        self.srv.wait_until(final_disabled, "SOA", lambda r: r.rcode() == dns.rcode.REFUSED,
                            timeout=30)
        for origin in self.origins[1:]:
            self.srv.wait_until(origin, "SOA", only_version(self.serial[origin]), timeout=30)
        self.srv.wait_until(self.large, "SOA", only_version(self.large_serial), timeout=60)


def test_both_watchers_under_load_never_stall(server_factory: StartServer,
                                              tmp_path: Path) -> None:
    stress = Stress(server_factory, tmp_path)
    threads = stress.threads()
    perf = stress.start_dnsperf(tmp_path)
    store = Store(str(stress.srv.data))
    started = time.monotonic()
    for t in threads:
        t.start()
    try:
        stress.watch_store(store, started)
    finally:
        stress.stop.set()
        for t in threads:
            t.join()
        result = perf.stop()
        print(perf.output())
        store.close()

    stress.settle()
    assert not stress.problems, stress.problems[:3]
    assert stress.answered > 1000
    assert "Traceback" not in stress.srv.output()
    check_load(result.checked())


def check_load(result: dnsperf.PerfResult) -> None:
    """dnsperf's figures: the rate it kept up and the queries it lost (see LOST_MOST)."""
    per_second = [round(second.qps) for second in result.seconds]
    assert result.lost <= LOST_MOST, (
        f"{result.lost} of {result.sent} queries unanswered within {LOST_AFTER} s "
        f"(at most {LOST_MOST}); queries per second: {per_second}")
    assert result.qps >= LEAST_RATE, (
        f"{result.qps:.0f} queries per second kept up, below {LEAST_RATE:.0f} (of "
        f"{QUERY_RATE} offered); each second: {per_second}")
