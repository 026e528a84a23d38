"""Test-only pause points in the write path: off unless DNSBACKEND_TEST_PAUSE_AT is set.

The crash tests (tests/system/test_crash.py) kill a writer at a point they must be sure of.
With DNSBACKEND_TEST_PAUSE_AT=POINT and DNSBACKEND_TEST_PAUSE_FILE=PATH in its environment,
the first writer process to reach POINT while PATH exists renames PATH to PATH.reached,
writes "POINT PID" and a newline to it, and stops itself (SIGSTOP): the test then knows
where the writer is when it sends SIGKILL. Renaming makes it one writer, once per arming.

The points: "parse" (a zone file parsed, no lock taken, nothing written), "write" (a
transaction's changes made, both locks held, nothing committed) and "between" (the zones
database committed, the catalog not: the new version is written but not pointed at).
"""

from __future__ import annotations

import os
import signal

POINTS = ("parse", "write", "between")


def pause_at(point: str) -> None:
    """Stop this process at `point` if a test asked for it (see the module's docstring)."""
    if os.environ.get("DNSBACKEND_TEST_PAUSE_AT") != point:
        return
    armed = os.environ.get("DNSBACKEND_TEST_PAUSE_FILE", "")
    reached = armed + ".reached"
    try:
        os.rename(armed, reached)
    except OSError:
        return  # not armed, or another writer took it
    with open(reached, "a") as f:
        f.write(f"{point} {os.getpid()}\n")
    os.kill(os.getpid(), signal.SIGSTOP)
