"""Finding the outside programs the kit runs (nsd, knotd, named, unbound, dnsperf, taskset)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


class MissingProgram(RuntimeError):
    """A program the kit needs is neither on PATH nor in /usr/sbin."""


def find(name: str) -> str | None:
    """The program's path: on PATH, else in /usr/sbin (daemons, not always on PATH)."""
    found = shutil.which(name)
    if found:
        return found
    sbin = Path("/usr/sbin", name)
    return str(sbin) if sbin.exists() else None


def require(name: str) -> str:
    """The program's path; MissingProgram if it is not installed."""
    found = find(name)
    if found is None:
        raise MissingProgram(f"{name} not found")
    return found


def pinned(cpus: str | None, cmd: list[str]) -> list[str]:
    """`cmd` under `taskset -c cpus`, or as it is without cpus."""
    return cmd if cpus is None else [require("taskset"), "-c", cpus, *cmd]


def first_line(cmd: list[str]) -> str:
    """The first line a command prints (stdout, then stderr): for version strings."""
    out = subprocess.run(cmd, capture_output=True, text=True)
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "?"


def needed(reasons: list[str]) -> None:
    """Skip the test (locally) or fail it (DNSBACKEND_REQUIRE_PEERS set, as .ci/run does,
    where everything is installed) when there are reasons it cannot run here."""
    if reasons and os.environ.get("DNSBACKEND_REQUIRE_PEERS"):
        pytest.fail("; ".join(reasons))
    if reasons:
        pytest.skip("; ".join(reasons))
