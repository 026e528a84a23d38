"""The two watcher tasks: zone files and the settings file, each feeding its writer process."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import anyio
import watchfiles

from ..store.database import Store
from ..store.format import ServedSettings
from ..zone.files import (
    ZONE_SUFFIX,
    file_stamp,
    not_regular,
    origin_for_file,
    skipped_zone_files,
)
from ..zone.writing import any_open_for_writing
from . import background, named
from .outcome import Outcome, report
from .policy import ZonePolicy

log = logging.getLogger("dnsbackend")
T = TypeVar("T")

WRITE_POLL_SECONDS = 0.02  # how often a file open for writing is asked about again
WRITE_WAIT_SECONDS = 30  # after this long, a file still open for writing is read as it is


def prepare() -> None:
    """Load now what the first watch loads (anyio's asyncio backend, 30-130 ms on a busy
    machine): at a first start, while the server waits for its writers, not between the
    recovery and the start-up sync, where the first load would wait for it. Blocks the
    loop meanwhile; needs a running one."""
    anyio.get_cancelled_exc_class()


class ZoneWatcher:
    """Watches zone directories; reloads, adds or removes the zone a changed file belongs to.

    A zone has at most one job in flight; changes that arrive meanwhile make it run once
    more. After each job the file is checked again, so the store always ends up serving
    the file's final content even when a write raced the parse.
    """

    def __init__(self, store: Store, pools: list[Executor], data_dir: str,
                 policy: ZonePolicy, debounce_ms: int,
                 on_outcome: Callable[[Outcome], None] | None = None) -> None:
        self.store = store
        self.on_outcome = on_outcome  # told of every outcome once it is logged
        # One single-process pool per zone writer: a zone's job goes to the writer that did
        # its last one when that writer is free (it diffs in memory against what it wrote),
        # else to the least busy, so a small zone never waits behind a big zone's parse.
        self.pools = pools
        self.busy = [0] * len(pools)
        self.writer_of: dict[str, int] = {}  # zone file path -> the writer of its last job
        self.data_dir = data_dir
        self.policy = policy
        self.debounce_ms = debounce_ms
        self.running: dict[str, asyncio.Task[None]] = {}  # by zone file path
        self.again: set[str] = set()
        self.warming: set[str] = set()  # zone files whose next job is a warm one (warm())
        # Writers at SCHED_IDLE for a warm job (update.background), by writer, and the
        # zone file whose warm job each runs.
        self.lowered: dict[int, background.Lowered] = {}
        self.warm_in: dict[str, int] = {}
        self.restart = asyncio.Event()
        self.jobs_done = 0  # progress counter, for watchdogs
        self.said: set[tuple[str, str]] = set()  # problems logged (and not solved since)

    def set_policy(self, policy: ZonePolicy) -> None:
        if self._dirs(policy) != self._dirs(self.policy):
            self.restart.set()
        self.policy = policy

    @staticmethod
    def _dirs(policy: ZonePolicy) -> list[str]:
        """The directories to watch: the zones directory, those of listed zone files outside
        it, and those of the files that zone files in it link to."""
        dirs = {policy.zones_dir}
        files = [w.file for w in policy.explicit.values()]
        files += [os.path.realpath(p) for p in _links(policy)]
        for path in files:
            parent = os.path.dirname(path)
            if parent != policy.zones_dir and not parent.startswith(policy.zones_dir + os.sep):
                dirs.add(parent)
        return sorted(d for d in dirs if os.path.isdir(d))

    async def run(self, stop: asyncio.Event) -> None:
        watched: list[str] | None = None  # what the last watch covered; None before the first
        while not stop.is_set():
            self.restart.clear()
            dirs = self._dirs(self.policy)
            self._say_what_is_missing_or_skipped()
            if watched is not None and dirs != watched:
                # Files in newly watched directories may have changed before the watch
                # began (or the zones directory was only now created): look at every zone
                # once (unchanged ones cost a digest).
                asyncio.get_running_loop().create_task(self._rescan())
            watched = dirs
            if not dirs:
                await _wait_any(stop, self.restart, timeout=1.0)
                continue
            halt = _either(stop, self.restart)
            async for changes in watchfiles.awatch(
                *dirs, watch_filter=None, debounce=max(self.debounce_ms, 1),
                step=max(min(self.debounce_ms, 20), 1), stop_event=halt,
                recursive=True, ignore_permission_denied=True,
            ):
                self.on_changes({path for _, path in changes})
                if self._dirs(self.policy) != dirs:
                    self.restart.set()  # a link to a new directory, or one that appeared

    def _say_what_is_missing_or_skipped(self) -> None:
        """One log line for each thing in the way of serving, said once until it changes."""
        zones_dir = self.policy.zones_dir
        problems = set()
        if not os.path.isdir(zones_dir):
            problems.add((zones_dir, "the zones directory does not exist; its zones will be "
                                     "served once it is created"))
        for path, why in skipped_zone_files(zones_dir):
            problems.add((path, f"{why}, not a regular file; skipped"))
        for path, why in sorted(problems - self.said):
            log.warning("%s: %s", path, why)
        self.said = problems

    async def _rescan(self) -> None:
        for _ in range(3):
            await asyncio.sleep(0)  # let the new watch set itself up first
        for wanted in self.policy.wanted_zones().values():
            self.schedule(wanted.origin, wanted.file)

    def on_changes(self, paths: set[str]) -> None:
        zones = self._zones_for(paths)
        for origin, path in zones:
            self.schedule(origin, path)
        self._say_what_is_missing_or_skipped()

    def _zones_for(self, paths: set[str]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        policy = self.policy
        by_file = {w.file: w.origin for w in policy.explicit.values()}
        # Files elsewhere that zone files of the zones directory link to.
        targets: dict[str, list[str]] = {}
        for link in _links(policy):
            targets.setdefault(os.path.realpath(link), []).append(link)
        includes: dict[str, list[tuple[str, str]]] = {}
        for entry in self.store.entries().values():
            for inc in entry.includes:
                includes.setdefault(inc, []).append((entry.origin, entry.file))
        for raw in paths:
            absolute = os.path.abspath(raw)
            real = os.path.realpath(raw) if os.path.exists(raw) else absolute
            if real in by_file:
                found.add((by_file[real], real))
            elif _is_zone_name(absolute, policy.zones_dir):
                found |= _discovered(absolute)
            found.update((origin_for_file(link).to_text(), link)
                         for link in targets.get(real, []))
            found.update(includes.get(real, []))
            if os.path.isdir(real):
                # A new directory: what is written into it before its watch is set up is
                # never reported, so the zones that include a file below it are read now.
                below = real + os.sep
                for inc, zones in includes.items():
                    if inc.startswith(below):
                        found.update(zones)
        return found

    async def first_writer(self, job: Callable[..., T], *args: Any) -> T:
        """A job in the first zone writer, counted as busy there (the start-up sync: it
        keeps what it parses for those zones' next edits, which then go to it)."""
        self._lift(0)
        self.busy[0] += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pools[0], job, *args)
        finally:
            self.busy[0] -= 1

    def parsed_in_first_writer(self, paths: list[str]) -> None:
        """These zone files were read by the first writer: their next jobs go there, unless
        another job of theirs has run since."""
        for path in paths:
            if path not in self.writer_of and path not in self.running:
                self.writer_of[path] = 0

    async def warm(self, zones: list[tuple[str, str]]) -> None:
        """At start, one zone at a time: each zone's file read by the writer that will take
        its next edit, so that this edit is read only where it changed (jobs.load_zone_job,
        warm). One at a time, so that the other writer stays free for the edits of small
        zones; an edit that comes meanwhile waits for its zone's read, then uses it."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        for origin, path in zones:
            self.warming.add(path)
            self.schedule(origin, path)
            task = self.running.get(path)
            if task is not None:
                await task
        if zones:
            log.info("read %d large zone file%s in the writers for their next edits (%.1fs)",
                     len(zones), "" if len(zones) == 1 else "s", loop.time() - started)

    def schedule(self, origin: str, path: str) -> None:
        if path in self.running:
            self.again.add(path)
            if path in self.warm_in:  # an edit waits for this read: not at SCHED_IDLE
                self._lift(self.warm_in[path])
            return
        self.running[path] = asyncio.get_running_loop().create_task(self._job(origin, path))

    async def _job(self, origin: str, path: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                self.again.discard(path)
                await self._until_closed(origin, path)
                writer = self._pick_writer(path)
                warm = path in self.warming
                self.warming.discard(path)
                self._lower_for(writer, path, warm)
                self.busy[writer] += 1
                try:
                    outcomes, stamp = await loop.run_in_executor(
                        self.pools[writer], named.load_zone_job, self.data_dir,
                        self.policy.zones_dir, origin, path, warm)
                except Exception as exc:  # the writer process died: say so, keep watching
                    log.error("zone %s: update failed: %s", origin, exc)
                    return
                finally:
                    self.busy[writer] -= 1
                    if self.warm_in.get(path) == writer:
                        del self.warm_in[path]
                        self._lift(writer)
                self.writer_of[path] = writer
                self.jobs_done += 1
                for outcome in outcomes:
                    report(outcome)
                    if self.on_outcome is not None:
                        self.on_outcome(outcome)
                if path in self.again or file_stamp(path) != stamp:
                    continue  # the file changed while we read it: read it again
                return
        finally:
            del self.running[path]


    def _lower_for(self, writer: int, path: str, warm: bool) -> None:
        """Before a job goes to `writer`: a warm job given to a free writer runs at
        SCHED_IDLE (update.background), so that it takes only what the serving process
        leaves of the CPU; any other job lifts the writer first, so that it never waits
        behind a warm read starved by a busy server."""
        if not warm or self.busy[writer]:
            self._lift(writer)
            return
        lowered = background.lower(self.pools[writer])
        if lowered is not None:
            self.lowered[writer] = lowered
            self.warm_in[path] = writer

    def _lift(self, writer: int) -> None:
        lowered = self.lowered.pop(writer, None)
        if lowered is not None:
            background.lift(lowered)

    def _pick_writer(self, path: str) -> int:
        last = self.writer_of.get(path)
        if last is not None and self.busy[last] == 0:
            return last
        return min(range(len(self.pools)), key=self.busy.__getitem__)

    async def _until_closed(self, origin: str, path: str) -> None:
        """Wait while the zone's files are open for writing: a save under way (a slow copy, a
        program writing in pieces) is read once its writer has closed the file, not half
        written. A writer that keeps the file open for WRITE_WAIT_SECONDS is given up on."""
        loop = asyncio.get_running_loop()
        files = [path, *self._includes_of(path)]
        started = loop.time()
        said = False
        while await loop.run_in_executor(None, any_open_for_writing, files):
            waited = loop.time() - started
            if waited >= WRITE_WAIT_SECONDS:
                log.warning("zone %s: %s is still open for writing after %d s; reading it "
                            "as it is", origin, path, WRITE_WAIT_SECONDS)
                return
            if not said and waited >= 1.0:
                log.info("zone %s: waiting for the writer of %s to close it", origin, path)
                said = True
            await asyncio.sleep(WRITE_POLL_SECONDS)

    def _includes_of(self, path: str) -> list[str]:
        for entry in self.store.entries().values():
            if entry.file == path:
                return list(entry.includes)
        return []


class SettingsWatcher:
    """Watches the settings file; each valid change is one policy transaction."""

    def __init__(self, config_path: str, debounce_ms: int,
                 on_change: Callable[[], tuple[ZonePolicy, ServedSettings] | None],
                 sync: Callable[[ZonePolicy, ServedSettings], Awaitable[object]]) -> None:
        self.config_path = os.path.abspath(config_path)
        self.debounce_ms = debounce_ms
        self.on_change = on_change
        self.sync = sync

    async def run(self, stop: asyncio.Event) -> None:
        directory = os.path.dirname(self.config_path)
        name = os.path.basename(self.config_path)
        async for _ in watchfiles.awatch(
            directory, watch_filter=lambda _c, p: os.path.basename(p) == name,
            debounce=max(self.debounce_ms, 1), step=max(min(self.debounce_ms, 20), 1),
            stop_event=stop, recursive=False, ignore_permission_denied=True,
        ):
            changed = self.on_change()
            if changed is not None:
                await self.sync(*changed)


def _either(*events: asyncio.Event) -> asyncio.Event:
    """An event set as soon as any of `events` is."""
    merged = asyncio.Event()

    async def watch(event: asyncio.Event) -> None:
        await event.wait()
        merged.set()

    for event in events:
        asyncio.get_running_loop().create_task(watch(event))
    return merged


async def _wait_any(*events: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for w in waiters:
        w.cancel()


def _discovered(path: str) -> set[tuple[str, str]]:
    """The zone an `<origin>.zone` path of the zones directory is, when it is one to read."""
    if not_regular(path) not in (None, "missing", "a dangling symbolic link"):
        return set()  # a FIFO or the like: said once, never opened
    try:
        return {(origin_for_file(path).to_text(), path)}
    except Exception:
        log.warning("%s: file name is not a domain name; ignored", path)
        return set()


def _is_zone_name(path: str, zones_dir: str) -> bool:
    """Whether `path` names a discoverable `<origin>.zone` file of the zones directory."""
    return (os.path.dirname(path) == zones_dir and path.endswith(ZONE_SUFFIX)
            and not os.path.basename(path).startswith("."))


def _links(policy: ZonePolicy) -> list[str]:
    """The discovered zone files of a policy that are symbolic links."""
    if not policy.discover:
        return []
    try:
        names = os.listdir(policy.zones_dir)
    except OSError:
        return []
    paths = (os.path.join(policy.zones_dir, name) for name in sorted(names)
             if name.endswith(ZONE_SUFFIX) and not name.startswith("."))
    return [path for path in paths if os.path.islink(path)]
