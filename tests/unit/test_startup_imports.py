"""What the server imports before it serves: the writers' code stays in the writers."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from dnsbackend.update import jobs, named

ROOT = Path(__file__).resolve().parents[2]
# Modules only the writers need (the zone readers, the signing, dnspython's zone and DNSSEC
# code, cryptography): update.jobs brings them all.
WRITERS_ONLY = ("dnsbackend.update.jobs", "dnsbackend.zone.build", "dnsbackend.sign",
                "dns.dnssec", "dns.zone", "cryptography")


def _imported(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(*sys.modules)"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return set(out.split())


def _writers_only(modules: set[str]) -> list[str]:
    return sorted(m for m in modules
                  if any(m == w or m.startswith(w + ".") for w in WRITERS_ONLY))


def test_the_serving_process_imports_none_of_the_writers_code() -> None:
    modules = _imported("import dnsbackend.cli, dnsbackend.settings, dnsbackend.daemon")
    assert "dnsbackend.daemon" in modules
    assert _writers_only(modules) == []


def test_the_command_line_alone_imports_neither_settings_nor_dnspython() -> None:
    """`dnsbackend serve` starts the writers' fork server before its own heavy imports."""
    modules = _imported("import dnsbackend.cli")
    assert {"dnsbackend.settings", "pydantic", "dns", "asyncio"} & modules == set()


@pytest.mark.parametrize("name", [n for n in named.__all__ if n != "Job"])
def test_a_named_job_runs_the_job_of_its_name(name: str) -> None:
    job = getattr(named, name)
    assert isinstance(job, named.Job) and job.name == name
    assert callable(getattr(jobs, name))
    copy = pickle.loads(pickle.dumps(job))  # as it reaches a writer
    assert isinstance(copy, named.Job) and copy.name == name


def test_a_named_job_calls_through_and_returns_the_jobs_result(tmp_path: Path) -> None:
    data = tmp_path / "db"
    assert named.recover_job(str(data)) == (0, False)  # a new store: nothing to free
    assert {p.name for p in data.iterdir()} == {"catalog", "zones"}
