"""bench/edits.py's server: ours, from this checkout or another (`--tree`), and what it writes.

The server is bench/live.py's (serving process on core 0, writer processes moved to core
1 with the prober); only how it is started differs for another tree. The bytes a writer
writes are the `wchar` of /proc/PID/io: bytes passed to write(2) and pwrite(2), which is
how LMDB writes its pages (it does not write through its map without MDB_WRITEMAP).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import dns.exception

from testkit.ports import free_port
from testkit.procs import process_tree
from testkit.server import ServerProcess

from .live_server import SERVE_CORE, LiveServer
from .servers import inherited_affinity

STORE_FILES = ("zones/data.mdb", "catalog/data.mdb")  # under the data directory


@dataclass(frozen=True)
class Tree:
    """A checkout whose package the server is run from, and the interpreter to run it."""

    path: Path
    python: str

    def env(self) -> dict[str, str]:
        """This environment with the tree's directory first on the module path."""
        rest = os.environ.get("PYTHONPATH")
        return {**os.environ, "PYTHONPATH": f"{self.path}{os.pathsep + rest if rest else ''}"}

    def run(self, cwd: Path, *args: str) -> str:
        """`python ARGS` as the server would run (its environment and directory): stdout."""
        return subprocess.run([self.python, *args], capture_output=True, text=True, cwd=cwd,
                              env=self.env(), check=True).stdout

    def check_import(self, cwd: Path) -> str:
        """The file `import dnsbackend` loads there; an error unless it is the tree's."""
        found = Path(self.run(cwd, "-c", "import dnsbackend; print(dnsbackend.__file__)")
                     .strip()).resolve()
        if not found.is_relative_to(self.path.resolve()):
            raise RuntimeError(f"{self.python} with PYTHONPATH={self.path} in {cwd} imports "
                               f"{found}, not the tree's package")
        return str(found)

    def compiled(self) -> bool:
        """Whether the tree's package has compiled (mypyc) modules next to its sources."""
        return any((self.path / "dnsbackend").rglob("*.so"))


class TreeServer(ServerProcess):
    """`PYTHON -m dnsbackend serve` with the tree's package, otherwise a ServerProcess.

    It runs in the same directory as a ServerProcess (the work directory, which holds no
    package, so that PYTHONPATH decides); its writer processes (spawned) inherit the
    environment and import the same package.
    """

    def __init__(self, zones: Path, data: Path, tree: Tree) -> None:
        self.zones, self.data = zones, data
        self.log_path = data.parent / f"server-{os.getpid()}-{id(self)}.log"
        self.port_path = self.log_path.with_suffix(".port")
        self.port_path.unlink(missing_ok=True)
        cwd = zones.parent
        tree.check_import(cwd)
        # --port-file came with commit 06dd1a5; a tree older than that gets a fixed free
        # port instead (free when asked, so another program could take it first) and is
        # waited for until it answers on it.
        port_file = "--port-file" in tree.run(cwd, "-m", "dnsbackend", "serve", "--help")
        fixed = 0 if port_file else free_port()
        args = [tree.python, "-m", "dnsbackend", "serve", "--zones", str(zones), "--data",
                str(data), "--listen", "127.0.0.1", "--port", str(fixed)]
        if port_file:
            args += ["--port-file", str(self.port_path.resolve())]
        self.log = open(self.log_path, "w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd,
                                     env=tree.env(), start_new_session=True)
        self.port = self._wait_for_port() if port_file else self._wait_answering(fixed)

    def _wait_answering(self, port: int, timeout: float = 60.0) -> int:
        """`port` once the server answers a query there (any answer: zones may still load)."""
        self.port = port
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()}")
            try:
                self.query(".", "SOA", timeout=0.2)
                return port
            except (dns.exception.Timeout, OSError):
                time.sleep(0.05)
        raise RuntimeError(f"server did not answer on port {port}: {self.output()}")


class EditServer(LiveServer):
    """bench/live.py's LiveServer, started from `tree` when given.

    LiveServer.__init__ is not called, because it starts this checkout's server; this sets
    what it sets, with the process started here.
    """

    def __init__(self, zones: Path, data: Path, pinned: bool, tree: Tree | None) -> None:
        with inherited_affinity(str(SERVE_CORE) if pinned else None):
            self.server = (ServerProcess(zones, data) if tree is None
                           else TreeServer(zones, data, tree))
        self.pinned = pinned
        self.pinned_children: set[int] = set()
        self.pin_writers()

    def writers_wchar(self) -> dict[int, int]:
        """wchar of each process below the server (its writers), by pid."""
        counts = {}
        for pid in process_tree(self.proc.pid)[1:]:
            count = wchar(pid)
            if count is not None:
                counts[pid] = count
        return counts

    def written_since(self, before: dict[int, int], settle: float = 0.05,
                      timeout: float = 5.0) -> int:
        """Bytes the writers wrote since `before`, once the count stops moving for `settle`
        seconds (the job returned before its line was logged; this only waits out stragglers).
        A writer started since counts from 0; one that ended since is lost."""
        deadline = time.monotonic() + timeout
        last = -1
        while True:
            now = self.writers_wchar()
            total = sum(count - before.get(pid, 0) for pid, count in now.items())
            if total == last or time.monotonic() > deadline:
                return total
            last = total
            time.sleep(settle)


def wchar(pid: int) -> int | None:
    """The `wchar` of /proc/PID/io (bytes passed to write calls so far); None if gone."""
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def store_bytes(data: Path) -> int:
    """What the store's LMDB files take on disk (allocated blocks: the map is sparse)."""
    files = [data / name for name in STORE_FILES]
    return sum(f.stat().st_blocks * 512 for f in files if f.exists())
