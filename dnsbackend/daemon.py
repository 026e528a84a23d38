"""The serving process: opens the store, binds the sockets, serves, and runs the two watchers.

The outer layer: it ties the network layer (serve/) to the write jobs (update/) by the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dns.name

from . import sdnotify
from .logs import install, open_handler, setup_logging
from .metrics import MULTIPROC_ENV, prepare_directory
from .metrics.querylog import QueryLog
from .query.responder import Responder
from .serve.counters import SERVE
from .serve.endpoints import Handle, serve_sockets
from .serve.notify import NotifySender
from .serve.querylog import QueryLogBuffer
from .serve.sockets import open_sockets
from .serve.tcp import TCPLimits
from .settings import (
    DEFAULT_CONFIG,
    RESTART_ONLY,
    Settings,
    SettingsError,
    load_settings,
    metrics_endpoint,
    notify_targets,
    policy_from_settings,
    served_settings,
)
from .store.database import Store, open_shared
from .store.format import ServedSettings
from .store.snapshot import Reader
from .store.transaction import journal_sizes
from .transfer.service import TransferService
from .transfer.tsig import TsigKey
from .update import named
from .update.outcome import Action, Outcome, report
from .update.policy import ZonePolicy
from .update.process import (
    group_signals_ignored,
    init_serving_worker,
    init_writer_process,
    start_writer_server,
    writer_context,
)
from .update.watch import SettingsWatcher, ZoneWatcher
from .update.watch import prepare as prepare_watching
from .zone.files import origin_key

log = logging.getLogger("dnsbackend")
T = TypeVar("T")

ZONE_WRITERS = 2
RESIGN_EVERY = 3600.0  # seconds between looks for signatures due for refresh
NOTIFY_ACKS = "notify.json"  # in the data directory: what each NOTIFY target acknowledged
WORKER_STOP_SECONDS = 5.0  # at shutdown, to finish what they are sending
WRITER_STOP_SECONDS = 5.0  # at shutdown, then writer processes still busy are killed


@dataclass
class Launch:
    """How the server was started: what a settings reload starts from again."""

    settings: Settings
    config: str | None  # the settings file named on the command line, if any
    overrides: dict[str, Any] = field(default_factory=dict)  # flags, which win over the file
    base_dir: str = "."  # where relative paths in settings are taken from
    port_file: str | None = None  # where to write the port once serving (--port-file)

    @property
    def config_path(self) -> str:
        return os.path.abspath(self.config or DEFAULT_CONFIG)


async def in_writer(pool: ProcessPoolExecutor, job: Callable[..., T], *args: Any) -> T:
    """A job in a writer pool, submitted from a thread: the pool starts its process at its
    first job, and a start waits for the fork server to be ready (its imports, at start:
    0.5-0.8 s on a busy machine), which must not hold up the event loop and the serving of
    what the store holds."""
    loop = asyncio.get_running_loop()
    future = await loop.run_in_executor(None, pool.submit, job, *args)
    return await asyncio.wrap_future(future)


def writer_pool(processes: int) -> ProcessPoolExecutor:
    """Writer processes, started clean (no inherited LMDB handles or event loop), forked
    from the fork server (update.process.writer_context)."""
    return ProcessPoolExecutor(max_workers=processes, mp_context=writer_context(),
                               initializer=init_writer_process)


class Daemon:
    """Ties the store, the responder and the two watchers together."""

    def __init__(self, launch: Launch) -> None:
        self.launch = launch
        self.settings = launch.settings
        self.data_dir = os.path.abspath(self.settings.data)
        self.store = Store(self.data_dir)
        self.reader = Reader(self.store)
        self.responder = Responder(self.reader)
        self.served_payload = self.settings.udp_payload  # as last stored by a policy sync
        self.workers: list[multiprocessing.process.BaseProcess] = []
        self.starting: list[asyncio.Task[None]] = []  # the zone writers' first jobs
        self.warming: set[asyncio.Task[None]] = set()  # ZoneWatcher.warm, under way
        self.worker_started: list[Any] = []  # a multiprocessing Event each, set once serving
        self.catalog_pool = writer_pool(1)
        # Two zone writers, so that a small zone's edit never waits behind a large zone's
        # parse; the zone watcher keeps at most one job per zone in flight.
        self.zone_pools = [writer_pool(1) for _ in range(ZONE_WRITERS)]
        self.policy = policy_from_settings(self.settings, launch.base_dir)
        self.zones = ZoneWatcher(self.store, list(self.zone_pools), self.data_dir, self.policy,
                                 self.settings.debounce_ms, self.zone_changed)
        self.notify = NotifySender(os.path.join(self.data_dir, NOTIFY_ACKS))
        self.query_log = open_query_log(self.settings, launch.base_dir, self.reader, 0)
        self.metrics = Metrics(self) if self.settings.metrics else None
        if self.metrics is not None and self.query_log is not None:
            self.metrics.folder.query_log_dropped = self.query_log.counted_drops()

    def zone_changed(self, outcome: Outcome) -> None:
        """An outcome of the zone watcher's (a file changed, or SIGHUP)."""
        self.outcome_happened(outcome, edited=True)

    def outcome_happened(self, outcome: Outcome, edited: bool = False) -> None:
        """A zone has a new version: NOTIFY its targets of the serial now served. Counted
        in the metrics, `edited` ones (not those of the start-up sync) also for the time
        from the file's edit to its version served."""
        if self.metrics is not None:
            self.metrics.outcome(outcome, edited)
        if outcome.action is not Action.LOADED:
            return
        self._notify(outcome.origin, notify_targets(self.settings, outcome.origin))

    def _notify(self, origin: str, targets: list[tuple[str, int, TsigKey | None]]) -> None:
        """NOTIFY the targets ((address, port, TSIG key or None)) of the zone's serial."""
        if not targets:
            return
        zone = self.reader.snapshot().zones.get(origin_key(dns.name.from_text(origin)))
        if zone is not None:
            meta = zone.meta
            self.notify.changed(meta.origin, meta.serial, (meta.soa_ttl, meta.soa_rdata),
                                targets)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        hangup = asyncio.Event()
        # Before anything starts, so that a signal during start-up is not the default action
        # (SIGTERM, SIGHUP: die at once); SIGHUP waits until the start-up sync is done.
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop_on, sig, stop)
        loop.add_signal_handler(signal.SIGHUP, hangup.set)
        handles, port, recovering = await self._start_serving(loop)
        watch_settings = SettingsWatcher(self.launch.config_path, self.settings.debounce_ms,
                                         self.reload_settings, self.sync)
        tasks: list[asyncio.Task[None]] = []
        try:
            if not self.reader.snapshot().zones:
                # Nothing to serve yet, so the loop is free while the writers start: the
                # watchers' first import is done now, off the path of the first load.
                prepare_watching()
            freed, emptied = await recovering
            if emptied:
                log.info("the store in %s had an older layout; rebuilt from the zone files",
                         self.data_dir)
            if freed:
                log.info("freed %d zone versions left by an unclean stop", freed)
            # Watch first, then reconcile: a file changed in between is seen by one or both.
            tasks = [loop.create_task(self.zones.run(stop)),
                     loop.create_task(watch_settings.run(stop))]
            for _ in range(3):
                await asyncio.sleep(0)  # each watcher sets up its inotify watches, then waits
            loaded = await self.sync(self.policy, served_settings(self.settings), startup=True)
            self._warm(None, loaded)
            tasks.append(loop.create_task(self._on_hangup(hangup, stop)))
            if self.workers:
                tasks.append(loop.create_task(self._keep_workers(port, stop)))
            if self.metrics is not None:
                tasks.append(loop.create_task(self.metrics.folder.run()))
            tasks.append(loop.create_task(self._refresh_signatures(stop)))
            if self.query_log is not None:
                tasks.append(loop.create_task(self.query_log.run()))
            sdnotify.notify("READY=1", f"STATUS=serving on port {port}")
            await stop.wait()
        finally:
            self._shut_down(stop, tasks, handles)

    def _stop_on(self, sig: signal.Signals, stop: asyncio.Event) -> None:
        """SIGINT or SIGTERM: stop serving, the workers and the writers, and exit 0."""
        if not stop.is_set():
            log.info("stopping (%s)", sig.name)
            sdnotify.notify("STOPPING=1")
        stop.set()

    async def _on_hangup(self, hangup: asyncio.Event, stop: asyncio.Event) -> None:
        """SIGHUP: read the settings file and every zone file now, as if each had changed
        (for operators whose tooling sends it; the watchers do this by themselves)."""
        while not stop.is_set():
            await hangup.wait()
            hangup.clear()
            await self.reread()

    async def _refresh_signatures(self, stop: asyncio.Event) -> None:
        """At start (signatures may have aged while the server was down), then every
        RESIGN_EVERY seconds: signed zones get fresh signatures where theirs are within a
        quarter of their lifetime of expiry (update.named.resign_job)."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if any(z.signing for z in self.policy.explicit.values()):
                try:
                    outcomes = await loop.run_in_executor(self.catalog_pool, named.resign_job,
                                                          self.data_dir)
                except Exception as exc:
                    outcomes = []
                    log.error("refreshing signatures failed: %s", exc)
                for outcome in outcomes:
                    report(outcome)
                    self.outcome_happened(outcome)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), RESIGN_EVERY)

    async def reread(self) -> None:
        """The settings, then every zone the policy serves: unchanged files cost a digest."""
        sdnotify.reloading()
        changed = self.reload_settings()
        if changed is not None:
            await self.sync(*changed)
        served = [zone for zone in self.zones.policy.wanted_zones().values() if zone.enabled]
        log.info("SIGHUP: re-read the settings; re-reading %d zone file%s", len(served),
                 "" if len(served) == 1 else "s")
        for zone in served:
            self.zones.schedule(zone.origin, zone.file)
        sdnotify.notify("READY=1")

    async def _start_serving(self, loop: asyncio.AbstractEventLoop
                             ) -> tuple[list[Handle], int, asyncio.Task[tuple[int, bool]]]:
        """Bind, serve what the store holds and start the serving workers, while the writers
        start and recover: the handles, the port and the recovery job (freed versions, and
        whether an old store was emptied)."""
        held = self.reader.snapshot().zones
        # Bind before any writer process exists: a bind error then exits at once.
        socks = open_sockets(self.settings.listen, self.settings.port,
                             reuse_port=self.settings.workers > 1)
        # Serve what the store holds at once; the writers start meanwhile (the zone writers
        # too, not at the first edit: starting one takes a while).
        start_writer_server()  # (already running if `serve` started it: more than one CPU)
        recovering = loop.create_task(in_writer(self.catalog_pool, named.recover_job,
                                                self.data_dir))
        self.starting = [loop.create_task(in_writer(pool, named.warm_up, self.data_dir))
                         for pool in self.zone_pools]
        limits = TCPLimits(self.settings.tcp_max_connections, self.settings.tcp_idle_timeout)
        handles = await serve_sockets(socks, self.responder, limits,
                                      transfers=TransferService(self.reader))
        self.notify.start()
        if self.metrics is not None:
            self.metrics.listen()
        gc.freeze()  # start-up objects live as long as the process: spare the collector them
        where = ", ".join(f"{s.getsockname()[0]} port {s.getsockname()[1]}"
                          for s in socks if s.type == socket.SOCK_DGRAM)
        log.info("listening on %s (UDP and TCP); serving %d zone%s from the store",
                 where, len(held), "" if len(held) == 1 else "s")
        port = socks[0].getsockname()[1]
        if self.launch.port_file:
            write_port_file(self.launch.port_file, port)
        for index in range(1, self.settings.workers):
            self.workers.append(self._start_worker(index, port))
        return handles, port, recovering

    def _shut_down(self, stop: asyncio.Event, tasks: list[asyncio.Task[None]],
                   handles: list[Handle]) -> None:
        """Stop the watchers, the sockets, the serving workers and the writers; close the store."""
        stop.set()
        for task in [*tasks, *self.warming]:
            task.cancel()
        self.notify.stop()
        for handle in handles:
            handle.close()
        deadline = time.monotonic() + WORKER_STOP_SECONDS
        for proc, started in zip(self.workers, self.worker_started, strict=True):
            # One still starting has no SIGTERM handler yet: SIGTERM would kill it outright.
            if proc.is_alive():
                started.wait(max(0.0, deadline - time.monotonic()))
            proc.terminate()
        for index, proc in enumerate(self.workers, 1):
            proc.join(WORKER_STOP_SECONDS)
            if proc.exitcode != 0:
                log.warning("worker %d stopped with exit code %s", index, proc.exitcode)
        deadline = time.monotonic() + WRITER_STOP_SECONDS
        for pool in self.zone_pools:
            stop_pool(pool, deadline)
        stop_pool(self.catalog_pool, deadline)
        if self.metrics is not None:
            self.metrics.close()
        self.store.close()

    def _start_worker(self, index: int, port: int) -> multiprocessing.process.BaseProcess:
        # Forked from the writers' fork server (clean: no event loop, LMDB handle or
        # thread), which has imported most of what a worker needs: a spawn imported it all.
        context = writer_context()
        started = context.Event()
        proc = context.Process(
            target=worker_main,
            args=(self.settings.model_dump(), self.launch.base_dir, port, index, started,
                  os.environ.get(MULTIPROC_ENV)),
            name=f"dnsbackend-worker-{index}", daemon=True)
        with group_signals_ignored():
            proc.start()
        if index <= len(self.worker_started):
            self.worker_started[index - 1] = started
        else:
            self.worker_started.append(started)
        return proc

    async def _keep_workers(self, port: int, stop: asyncio.Event) -> None:
        """Restart a serving worker that died (it holds no state: the store has it all)."""
        while not stop.is_set():
            await asyncio.sleep(1.0)
            for i, proc in enumerate(self.workers):
                if not proc.is_alive() and not stop.is_set():
                    log.error("worker %d exited (code %s); starting it again", i + 1,
                              proc.exitcode)
                    self.workers[i] = self._start_worker(i + 1, port)

    async def sync(self, policy: ZonePolicy, served: ServedSettings,
                   startup: bool = False) -> set[str]:
        """One policy transaction in the catalog writer process; at start, in the first
        zone writer, which keeps what it parses for the zones' next edits. Returns the
        origins it loaded."""
        args = (self.data_dir, policy.pack(), served.pack())
        try:
            if startup:
                outcomes = await self.zones.first_writer(named.sync_policy_job, *args, True)
            else:
                outcomes = await asyncio.get_running_loop().run_in_executor(
                    self.catalog_pool, named.sync_policy_job, *args)
        except Exception as exc:
            log.error("zone policy update failed: %s", exc)
            return set()
        loaded = [o for o in outcomes if o.action is Action.LOADED]
        for outcome in outcomes:
            report(outcome, quiet_kept=not startup)
            self.outcome_happened(outcome)
        # Only now that the store applies the new policy may zone jobs act on it.
        self.zones.set_policy(policy)
        if startup:
            self.zones.parsed_in_first_writer([o.path for o in loaded if o.path])
        else:  # (at start, run() warms the large zones this did not read)
            self._warm({o.origin for o in loaded}, set())
        if served.udp_payload != self.served_payload:
            # Said only now: the size reaches the workers through the store.
            self.served_payload = served.udp_payload
            if not startup:
                log.info("EDNS payload size is now %d", served.udp_payload)
        return {o.origin for o in loaded}

    def _warm(self, origins: set[str] | None, read: set[str]) -> None:
        """Have the zone writers read the large zones among `origins` (None: all) but those
        `read` by one already for their next edits (ZoneWatcher.warm): the policy sync
        parsed them in the catalog writer, or, at start, nobody did. Not the zones we
        sign: their versions hold signatures their texts do not (jobs._adopt)."""
        signed = {w.file for w in self.policy.explicit.values() if w.signing is not None}
        entries = [e for e in self.store.entries().values()
                   if (origins is None or e.origin in origins) and e.origin not in read
                   and e.file not in signed]
        from .update.jobs import worth_warming  # (imported once the zones are served)

        zones = worth_warming(entries)
        if zones:
            task = asyncio.get_running_loop().create_task(self.zones.warm(zones))
            self.warming.add(task)
            task.add_done_callback(self.warming.discard)

    def reload_settings(self) -> tuple[ZonePolicy, ServedSettings] | None:
        """The settings file changed: apply what can change live, say what cannot."""
        launch = self.launch
        try:
            settings = load_settings(launch.config_path if os.path.exists(launch.config_path)
                                     else launch.config, launch.overrides)
            policy = policy_from_settings(settings, launch.base_dir,
                                          self.settings.catalog.zone)
        except SettingsError as exc:
            log.error("settings not applied: %s", exc)
            return None
        for key in RESTART_ONLY:
            if getattr(settings, key) != getattr(self.settings, key):
                log.warning("setting '%s' changed; it takes effect after a restart", key)
        if not self._apply_logging(settings):
            return None
        if policy.zones_dir != self.policy.zones_dir:
            log.info("zones directory is now %s (was %s)", policy.zones_dir,
                     self.policy.zones_dir)
        if policy.catalog != self.policy.catalog:
            log.info("setting 'catalog.zone': the catalog zone is now %s (was %s)",
                     policy.catalog or "off", self.policy.catalog or "off")
        old = self.settings
        self.settings = settings
        self.policy = policy
        self._notify_new_targets(old)
        return policy, served_settings(settings)

    def _apply_logging(self, settings: Settings) -> bool:
        """Apply a new log level or log file; False (said why) if the file cannot be opened."""
        old = self.settings
        if (settings.log_level, settings.log_file) == (old.log_level, old.log_file):
            return True
        moved = settings.log_file != old.log_file
        try:
            handler = open_handler(settings.log_file)
        except OSError as exc:
            log.error("settings not applied: setting 'log_file': cannot open %s: %s",
                      settings.log_file, exc.strerror)
            return False
        if moved:  # said where the log was read until now
            log.info("logging to %s from now on", settings.log_file or "stderr")
        install(handler, settings.log_level)
        if moved:
            log.info("logging here from now on (was %s)", old.log_file or "stderr")
        if settings.log_level != old.log_level:
            log.info("log level is now %s", settings.log_level)
        return True

    def _notify_new_targets(self, old: Settings) -> None:
        """A NOTIFY target added by a settings change hears of the serial served now."""
        for zone in self.reader.snapshot().zones.values():
            origin = dns.name.from_wire(zone.meta.origin, 0)[0].to_text()
            before = set(notify_targets(old, origin))
            self._notify(origin, [t for t in notify_targets(self.settings, origin)
                                  if t not in before])


class StartError(Exception):
    """A setting cannot be put to use at start (a port taken, a file that cannot be
    opened); the message names the setting."""


def open_query_log(settings: Settings, base_dir: str, reader: Reader,
                   worker: int) -> QueryLog | None:
    """The query log of the `query_log` setting (None: off), its buffer filled from now on."""
    if settings.query_log is None:
        return None
    path = settings.query_log
    path = path if path == "-" else os.path.join(base_dir, path)
    SERVE.query_log = QueryLogBuffer()
    try:
        return QueryLog(path, worker, SERVE.query_log, reader)
    except OSError as exc:
        SERVE.query_log = None
        raise StartError(f"setting 'query_log': cannot open {path}: {exc.strerror}") from None


class Metrics:
    """The metrics of the first process: its counts, its gauges, the endpoint."""

    def __init__(self, daemon: Daemon) -> None:
        assert daemon.settings.metrics is not None
        self.directory = prepare_directory()  # before prometheus_client is imported
        from .metrics import exporter

        self.exporter = exporter
        self.daemon = daemon
        self.address = metrics_endpoint(daemon.settings.metrics)
        self.folder = exporter.Folder(daemon.responder, 0)
        self.first = exporter.FirstProcess(lambda: len(daemon.zones.running))
        self.endpoint: Any = None

    def listen(self) -> None:
        host, port = self.address
        try:
            self.endpoint = self.exporter.Endpoint(host, port, self.first)
        except OSError as exc:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise StartError(f"setting 'metrics': cannot listen on {host} port {port}: "
                             f"{exc.strerror}") from None
        log.info("metrics on http://%s/metrics", self.daemon.settings.metrics)

    def outcome(self, outcome: Outcome, edited: bool) -> None:
        if outcome.action is Action.LOADED:
            changed_at = None
            if edited:
                with contextlib.suppress(OSError):
                    changed_at = os.stat(outcome.path).st_mtime
            self.first.loaded(outcome.origin, outcome.seconds, changed_at, time.time(),
                              self._journal_depth(outcome.origin) or 0)
        elif outcome.action in (Action.REMOVED, Action.DISABLED):
            self.first.removed(outcome.origin)
        else:  # served on as the store holds it (kept, enabled, or a file rejected)
            if outcome.action is Action.FAILED:
                self.first.rejected(outcome.origin, outcome.seconds)
            depth = self._journal_depth(outcome.origin)
            if depth is not None:
                self.first.journal_depth[outcome.origin] = depth

    def _journal_depth(self, origin: str) -> int | None:
        """The changesets the journal keeps for a zone; None if it is not served."""
        store = self.daemon.store
        zone = self.daemon.reader.snapshot().zones.get(origin_key(dns.name.from_text(origin)))
        if zone is None:
            return None
        with store.zones_env.begin() as txn:
            return len(journal_sizes(txn, zone.meta.zone_id))

    def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close(self.directory)


def stop_pool(pool: ProcessPoolExecutor, deadline: float) -> None:
    """Stop a pool of writer processes by `deadline` (time.monotonic()), whatever they are
    doing: a job still running then (a huge zone, a file that never ends) is killed, which
    the store survives like any crash (the transaction was never committed)."""
    # ProcessPoolExecutor._processes (pid -> process) is private, but has been there since
    # Python 3.2; without it the pool can only be waited for, not stopped.
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        # Gone when its sentinel (a pipe it holds open) is closed, even if is_alive() cannot
        # tell because another waiter (the pool's manager thread) reaped it first.
        if proc.is_alive() and not multiprocessing.connection.wait([proc.sentinel], 0):
            log.warning("writer process %d did not stop in time; killed", proc.pid)
            proc.kill()
            proc.join(1.0)


def write_port_file(path: str, port: int) -> None:
    """The port we serve on, one line, written whole (rename) once the sockets answer: for
    scripts and tests that start us with --port 0."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


async def run(launch: Launch) -> None:
    """Serve until SIGINT or SIGTERM."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # it logs every change at INFO
    await Daemon(launch).run()


def worker_main(settings_dump: dict[str, Any], base_dir: str, port: int, index: int,
                started: Any, metrics_dir: str | None) -> None:
    """A serving worker of `--workers N`: its own sockets (SO_REUSEPORT), its own store
    handle opened after the start, answers only; the first process does all the writing.
    `metrics_dir`: the first process's metrics directory (a fork of the fork server has
    the environment of the server's start, from before the directory was made)."""
    init_serving_worker()  # ends with the first process (SIGTERM: in order)
    if metrics_dir is not None:
        os.environ[MULTIPROC_ENV] = metrics_dir
    settings = Settings.model_validate(settings_dump)
    try:
        setup_logging(settings.log_level, settings.log_file, f"[worker {index}] ")
    except OSError:
        setup_logging(settings.log_level, None, f"[worker {index}] ")  # the first process said why
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the first process stops us in order
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # settings reach us through the store
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve_worker(settings, base_dir, port, index, started))


async def _serve_worker(settings: Settings, base_dir: str, port: int, index: int,
                        started: Any) -> None:
    tasks: list[asyncio.Task[None]] = []
    store = open_shared(os.path.abspath(settings.data))
    responder = Responder(Reader(store))
    loop = asyncio.get_running_loop()
    query_log = None
    with contextlib.suppress(StartError):  # the first process has said why
        query_log = open_query_log(settings, base_dir, responder.reader, index)
    if query_log is not None:
        tasks.append(loop.create_task(query_log.run()))
    if settings.metrics is not None:  # the first process has set up the directory
        from .metrics import exporter

        folder = exporter.Folder(responder, index)
        if query_log is not None:
            folder.query_log_dropped = query_log.counted_drops()
        tasks.append(loop.create_task(folder.run()))
    socks = open_sockets(settings.listen, port, reuse_port=True)
    limits = TCPLimits(settings.tcp_max_connections, settings.tcp_idle_timeout)
    handles = await serve_sockets(socks, responder, limits,
                                  transfers=TransferService(responder.reader))
    gc.freeze()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    started.set()  # from now on SIGTERM stops us in order
    await stop.wait()
    for handle in handles:
        handle.close()
