"""The serving process: opens the store, binds the sockets, serves, and keeps the store in sync."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

from . import loader
from .answer import Settings as EngineSettings
from .server import Responder, TCPLimits, open_sockets, serve_sockets
from .settings import Settings
from .snapshot import Reader
from .store import Store

log = logging.getLogger("dnsbackend")


def _reconcile_job(data_dir: str, zones_dir: str) -> list[loader.Outcome]:
    """Runs in a child process: parsing holds the GIL, so it must not share the server's."""
    store = Store(data_dir)
    try:
        return loader.reconcile(store, zones_dir)
    finally:
        store.close()


def writer_pool() -> ProcessPoolExecutor:
    """A child process for parsing and writing, started clean (no inherited LMDB handles)."""
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


async def run(settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM."""
    store = Store(settings.data)
    freed = loader.recover(store)
    if freed:
        log.info("freed %d zone versions left by an unclean stop", freed)
    reader = Reader(store)
    held = reader.snapshot().zones
    socks = open_sockets(settings.listen, settings.port, reuse_port=settings.workers > 1)
    responder = Responder(reader, EngineSettings(udp_payload=settings.udp_payload))
    limits = TCPLimits(settings.tcp_max_connections, settings.tcp_idle_timeout)
    handles = await serve_sockets(socks, responder, limits)
    where = ", ".join(f"{s.getsockname()[0]} port {s.getsockname()[1]}"
                      for s in socks if s.type == 2)
    log.info("listening on %s (UDP and TCP); serving %d zones from the store", where, len(held))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    pool = writer_pool()
    try:
        outcomes = await loop.run_in_executor(
            pool, _reconcile_job, os.path.abspath(settings.data), os.path.abspath(settings.zones))
        for outcome in outcomes:
            loader.log_outcome(outcome)
        await stop.wait()
        log.info("stopping")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for handle in handles:
            handle.close()
        store.close()
