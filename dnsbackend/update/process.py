"""Life of a writer process: forked ready-made, dies with its server, hands memory back."""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import gc
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import signal
from collections.abc import Iterator

_PR_SET_PDEATHSIG = 1
LARGE_ZONE_RECORDS = 50_000  # zones from this size on are followed by release_memory()


def _libc() -> ctypes.CDLL | None:
    """The C library's functions: this process's own symbols (dlopen(NULL)), libc's among
    them. (ctypes.util.find_library ran ldconfig, after importing subprocess, shutil and
    tempfile: 10-30 ms in each writer as it started.)"""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def die_with_parent(sig: int) -> None:
    """Ask Linux to send `sig` to this process when the process that started it dies."""
    libc = _libc()
    if libc is not None and hasattr(libc, "prctl"):
        libc.prctl(_PR_SET_PDEATHSIG, sig)
    # elsewhere the server stops its writers itself on a clean exit


def release_memory(records: int) -> None:
    """After a large zone, hand the parse's freed memory back to the system (glibc keeps
    it otherwise, and an idle writer would hold hundreds of MB).

    What the parse froze (zone.records.paused_gc) stays frozen: nothing built there forms
    cycles (a collection after a 200,000-record load finds 10 unreachable objects) and
    frozen objects are still freed by their reference counts, while unfreezing them made
    the next collection walk every object the writer keeps (its memo of the zone's nodes
    for the next edit, zone.incremental): 0.4 s at 200,000 records, over a second at
    1,000,000, which the zone's next edit waited for. The collection here walks only what
    was made outside the pause."""
    if records < LARGE_ZONE_RECORDS:
        return
    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


# What the process writers are forked from imports once: the server's main module (run as
# `dnsbackend` or `python -m dnsbackend`, as spawn would import it in each) and the jobs.
WRITER_PRELOAD = ["__main__", "dnsbackend.cli", "dnsbackend.update.jobs"]


def writer_context() -> multiprocessing.context.ForkServerContext:
    """Where writer processes come from: forked from multiprocessing's fork server, a clean
    process (no event loop, no LMDB handle, no thread) that imported the package once.
    Spawning each writer imported it in each (0.3-0.5 s of CPU, three at once at start on
    two cores, before the first zone could be parsed); a fork from the serving process
    would inherit its open LMDB environment, event loop and threads."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WRITER_PRELOAD)
    return context


def start_writer_server() -> None:
    """Start the fork server now (it imports in the background, beside the server's own
    start), ignoring SIGINT and SIGHUP as its writers do (see group_signals_ignored)."""
    writer_context()
    with group_signals_ignored():
        multiprocessing.forkserver.ensure_running()


def stop_writer_server() -> None:
    """Stop the fork server started by start_writer_server() (the server did not start:
    a bad setting), rather than leave it to finish its imports before it sees us gone."""
    server = multiprocessing.forkserver._forkserver
    pid = getattr(server, "_forkserver_pid", None)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        server._stop()  # type: ignore[attr-defined]  # (reaps it, closes its pipe)


@contextlib.contextmanager
def group_signals_ignored() -> Iterator[None]:
    """SIGINT and SIGHUP ignored while child processes start: they keep that through exec,
    so a Ctrl-C or hangup sent to the whole process group is for this process alone (it
    stops them in order, and they take their settings from the store), even for a child
    still starting up."""
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _drop_fork_server_pipe() -> None:
    """A process forked by the fork server holds the write end of its "alive" pipe, which
    keeps the fork server running while any holder lives: closed here, the server's death
    (even by SIGKILL) ends the fork server, and that its writers (die_with_parent)."""
    server = multiprocessing.forkserver._forkserver  # multiprocessing's own, since 3.4
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        os.close(fd)
        server._forkserver_alive_fd = None  # type: ignore[attr-defined]


def init_serving_worker() -> None:
    """Runs first in a serving worker of `--workers N`, forked from the fork server too: it
    gets SIGTERM (and stops in order) when the fork server ends, which it does with the
    server, since the worker does not hold its "alive" pipe either."""
    _drop_fork_server_pipe()
    die_with_parent(signal.SIGTERM)


def init_writer_process() -> None:
    """Runs first in every writer process: stacks on SIGUSR1, as in the server."""
    # A writer killed with its server is a crash the store survives (see the crash tests);
    # a writer that outlives its server is a leak. Its parent is the fork server, which
    # exits when the server does.
    _drop_fork_server_pipe()
    die_with_parent(signal.SIGKILL)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops us in order
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a SIGHUP to the group is for the server
