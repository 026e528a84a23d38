"""Shared fixtures; their logic is in the test kit (testkit/).

tests/unit: in this process, no server process. tests/system: real processes (our server,
peer servers, the command line), marked `system`; those that start a peer server (NSD...)
are marked `interop` too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from testkit.server import ServerProcess, StartServer

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SYSTEM = Path(__file__).resolve().parent / "system"

# No time limit per example: a test checks behaviour, not speed, and hypothesis' default
# deadline (200 ms) fails examples that were only slow because the machine was busy.
settings.register_profile("dnsbackend", deadline=None)
settings.load_profile("dnsbackend")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/system starts processes: mark it `system`."""
    for item in items:
        if item.path.is_relative_to(SYSTEM):
            item.add_marker(pytest.mark.system)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[StartServer]:
    """Start servers (on `tmp_path/zones` unless told), each stopped when the test ends."""
    started: list[ServerProcess] = []

    def start(zones: Path | None = None, extra: list[str] | None = None,
              config: Path | None = None) -> ServerProcess:
        zones = zones or tmp_path / "zones"
        zones.mkdir(exist_ok=True)
        srv = ServerProcess(zones, tmp_path / "db", extra, config)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
