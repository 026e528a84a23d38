"""A writer's optional work (the warm read at start) at SCHED_IDLE: lowered, lifted by the server.

The warm read (jobs.load_zone_job, warm) re-reads every large zone file after a restart so
that the next edit finds a memo; it ran beside the serving process, on its core when both
are pinned to one, and took half of that core for seconds (docs/PERFORMANCE.md, helper
warmidle). Under SCHED_IDLE the writer runs only when nothing else on its core wants to.

The serving process (its zone watcher) is the one actor: it lowers a free writer process
before it hands it a warm job, and lifts it when the job is done, when an edit of that zone
comes (which would otherwise wait for a read that a busy server starves) and when any other
job is given to that writer. A zone.split child forked meanwhile inherits the policy, and
is lifted with its writer. Going back from SCHED_IDLE needs CAP_SYS_NICE (root) or an
RLIMIT_NICE of 20 or more (`LimitNICE=20` in systemd); without either, nothing is lowered
(`can_lift`), so a writer is never left where it cannot be brought back from.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import Executor
from dataclasses import dataclass

_LIFTABLE: bool | None = None  # can_lift(), found once


@dataclass
class Lowered:
    """A writer process put at SCHED_IDLE: its pid, and each thread's policy before."""

    pid: int
    policies: dict[int, int]  # thread id -> policy (SCHED_OTHER or SCHED_BATCH)


def can_lift() -> bool:
    """Whether this process may bring a thread back from SCHED_IDLE to SCHED_OTHER: tried
    once, on a thread of its own that ends with the try (the policy is a thread's)."""
    global _LIFTABLE
    if _LIFTABLE is None:
        result: list[bool] = []
        probe = threading.Thread(target=lambda: result.append(_round_trip()),
                                 name="sched-idle-probe")
        probe.start()
        probe.join()
        _LIFTABLE = bool(result and result[0])
    return _LIFTABLE


def _round_trip() -> bool:
    """SCHED_IDLE and back to SCHED_OTHER on the calling thread; False if either is refused."""
    if not hasattr(os, "SCHED_IDLE"):
        return False  # not Linux
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except OSError:
        return False
    return True


def writer_pid(pool: Executor) -> int | None:
    """The process of a one-process writer pool, once started (None: not yet, or not a
    process pool)."""
    # ProcessPoolExecutor._processes (pid -> process), as daemon.stop_pool reads it.
    processes = getattr(pool, "_processes", None) or {}
    return next(iter(processes), None) if len(processes) == 1 else None


def lower(pool: Executor) -> Lowered | None:
    """Put the pool's writer process at SCHED_IDLE, every thread of it that is at
    SCHED_OTHER or SCHED_BATCH; None (nothing done) where that could not be undone, the
    writer is not started, or it is gone."""
    pid = writer_pid(pool)
    if pid is None or not can_lift():
        return None
    lowered = Lowered(pid, {})
    for tid in _threads(pid):
        with contextlib.suppress(OSError):
            policy = os.sched_getscheduler(tid)
            if policy in (os.SCHED_OTHER, os.SCHED_BATCH):
                os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
                lowered.policies[tid] = policy
    return lowered if lowered.policies else None


def lift(lowered: Lowered) -> None:
    """The writer's threads back at their policies of before, and its children (a
    zone.split child forked while it was lowered) at its main thread's."""
    for tid, policy in lowered.policies.items():
        with contextlib.suppress(OSError):  # (a thread or process gone meanwhile)
            os.sched_setscheduler(tid, policy, os.sched_param(0))
    main = lowered.policies.get(lowered.pid, os.SCHED_OTHER)
    for child in _children(lowered.pid):
        for tid in _threads(child):
            with contextlib.suppress(OSError):
                if os.sched_getscheduler(tid) == os.SCHED_IDLE:
                    os.sched_setscheduler(tid, main, os.sched_param(0))


def _threads(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def _children(pid: int) -> list[int]:
    """The process's children, from each of its threads' /proc children list."""
    out: list[int] = []
    for tid in _threads(pid):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out
