"""Life of a writer process: dies with its server, hands memory back after a large zone."""

from __future__ import annotations

import ctypes
import ctypes.util
import faulthandler
import gc
import signal

_PR_SET_PDEATHSIG = 1
LARGE_ZONE_RECORDS = 50_000  # zones from this size on are followed by release_memory()


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
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


def init_writer_process() -> None:
    """Runs first in every writer process: stacks on SIGUSR1, as in the server."""
    # A writer killed with its server is a crash the store survives (see the crash tests);
    # a writer that outlives its server is a leak.
    die_with_parent(signal.SIGKILL)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops us in order
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a SIGHUP to the group is for the server
