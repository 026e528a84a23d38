"""The two watcher tasks: zone files and the settings file, each feeding its writer process."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

import watchfiles

from ..store.database import Store
from ..store.format import ServedSettings
from ..zone.files import ZONE_SUFFIX, file_stamp, origin_for_file
from . import jobs
from .outcome import report
from .policy import ZonePolicy

log = logging.getLogger("dnsbackend")


class ZoneWatcher:
    """Watches zone directories; reloads, adds or removes the zone a changed file belongs to.

    A zone has at most one job in flight; changes that arrive meanwhile make it run once
    more. After each job the file is checked again, so the store always ends up serving
    the file's final content even when a write raced the parse.
    """

    def __init__(self, store: Store, pool: Executor, data_dir: str, policy: ZonePolicy,
                 debounce_ms: int) -> None:
        self.store = store
        self.pool = pool
        self.data_dir = data_dir
        self.policy = policy
        self.debounce_ms = debounce_ms
        self.running: dict[str, asyncio.Task[None]] = {}  # by zone file path
        self.again: set[str] = set()
        self.restart = asyncio.Event()
        self.jobs_done = 0  # progress counter, for watchdogs

    def set_policy(self, policy: ZonePolicy) -> None:
        if self._dirs(policy) != self._dirs(self.policy):
            self.restart.set()
        self.policy = policy

    @staticmethod
    def _dirs(policy: ZonePolicy) -> list[str]:
        dirs = {policy.zones_dir}
        for wanted in policy.explicit.values():
            parent = os.path.dirname(wanted.file)
            if not parent.startswith(policy.zones_dir + os.sep):
                dirs.add(parent)
        return sorted(d for d in dirs if os.path.isdir(d))

    async def run(self, stop: asyncio.Event) -> None:
        first = True
        while not stop.is_set():
            self.restart.clear()
            dirs = self._dirs(self.policy)
            if not dirs:
                await _wait_any(stop, self.restart, timeout=1.0)
                continue
            halt = _either(stop, self.restart)
            if not first:
                # Files in newly watched directories may have changed before the watch
                # began: look at every zone once (unchanged ones cost a digest).
                asyncio.get_running_loop().create_task(self._rescan())
            first = False
            async for changes in watchfiles.awatch(
                *dirs, watch_filter=None, debounce=max(self.debounce_ms, 1),
                step=max(min(self.debounce_ms, 20), 1), stop_event=halt,
                recursive=True, ignore_permission_denied=True,
            ):
                self.on_changes({path for _, path in changes})

    async def _rescan(self) -> None:
        for _ in range(3):
            await asyncio.sleep(0)  # let the new watch set itself up first
        for wanted in self.policy.wanted_zones().values():
            self.schedule(wanted.origin, wanted.file)

    def on_changes(self, paths: set[str]) -> None:
        zones = self._zones_for(paths)
        for origin, path in zones:
            self.schedule(origin, path)

    def _zones_for(self, paths: set[str]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        by_file = {w.file: w.origin for w in self.policy.explicit.values()}
        includes: dict[str, list[tuple[str, str]]] = {}
        for entry in self.store.entries().values():
            for inc in entry.includes:
                includes.setdefault(inc, []).append((entry.origin, entry.file))
        for raw in paths:
            path = os.path.realpath(raw) if os.path.exists(raw) else os.path.abspath(raw)
            if path in by_file:
                found.add((by_file[path], path))
            elif (os.path.dirname(path) == self.policy.zones_dir and path.endswith(ZONE_SUFFIX)
                  and not os.path.basename(path).startswith(".")):
                try:
                    found.add((origin_for_file(path).to_text(), path))
                except Exception:
                    log.warning("%s: file name is not a domain name; ignored", path)
            for zone in includes.get(path, []):
                found.add(zone)
        return found

    def schedule(self, origin: str, path: str) -> None:
        if path in self.running:
            self.again.add(path)
            return
        self.running[path] = asyncio.get_running_loop().create_task(self._job(origin, path))

    async def _job(self, origin: str, path: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                self.again.discard(path)
                try:
                    outcomes, stamp = await loop.run_in_executor(
                        self.pool, jobs.load_zone_job, self.data_dir, self.policy.zones_dir,
                        origin, path)
                except Exception as exc:  # the writer process died: say so, keep watching
                    log.error("zone %s: update failed: %s", origin, exc)
                    return
                self.jobs_done += 1
                for outcome in outcomes:
                    report(outcome)
                if path in self.again or file_stamp(path) != stamp:
                    continue  # the file changed while we read it: read it again
                return
        finally:
            del self.running[path]


class SettingsWatcher:
    """Watches the settings file; each valid change is one policy transaction."""

    def __init__(self, config_path: str, debounce_ms: int,
                 on_change: Callable[[], tuple[ZonePolicy, ServedSettings] | None],
                 sync: Callable[[ZonePolicy, ServedSettings], Awaitable[None]]) -> None:
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
