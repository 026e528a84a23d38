"""A lock-order checker in the spirit of the kernel's lockdep: catalog before zones, always.

Every writer lock is declared here before it is taken. Taking a lock whose rank is not
above every lock the thread already holds raises at once, before the thread can block,
so a reversed code path fails its first run instead of deadlocking under load one day.
"""

from __future__ import annotations

import threading

RANKS = {"catalog": 1, "zones": 2}  # the one order in which writer locks may be taken


class LockOrderError(RuntimeError):
    """A code path tried to take the writer locks out of order."""


_state = threading.local()


def held() -> list[str]:
    """The writer locks this thread holds, in the order taken."""
    stack: list[str] | None = getattr(_state, "stack", None)
    if stack is None:
        stack = _state.stack = []
    return stack


def acquiring(name: str) -> None:
    """Declare that this thread is about to take lock `name`; raise if that breaks the order."""
    stack = held()
    rank = RANKS[name]
    for other in stack:
        if RANKS[other] >= rank:
            raise LockOrderError(
                f"lock order violated: taking {name!r} while holding {stack}; "
                f"the order is {' -> '.join(sorted(RANKS, key=RANKS.__getitem__))}"
            )
    stack.append(name)


def released(name: str) -> None:
    """Declare that this thread has let go of lock `name`."""
    stack = held()
    if name in stack:
        stack.remove(name)
