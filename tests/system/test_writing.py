"""zone.writing: a file still open for writing is told from a closed one (read lease, /proc)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dnsbackend.zone import writing

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="read leases and /proc are Linux's"
)

MODULE = Path(writing.__file__)
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, another uid)")

HALF = "example. 3600 IN SOA ns.example. hostmaster.example. 1 7200 3600 1209600 300\n"
REST = "example. 3600 IN NS ns.example.\nns.example. 3600 IN A 192.0.2.1\n"

# A writer: opens the file (mode: w = O_WRONLY|O_TRUNC, a = O_WRONLY|O_APPEND, rw = O_RDWR,
# r = O_RDONLY, path = O_PATH), writes the first half, says "half", waits for the test's
# go-ahead, pauses, writes the rest, closes, says "closed", and lives on until stdin ends.
# Run as another user, a child of ours starts as root and drops to that user itself: the
# interpreter may sit where that user cannot reach (/root), so it cannot be exec'd as them.
DROP = r"""
import ctypes, os
def drop(uid):
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)  # all capabilities go: no CAP_LEASE, no CAP_SYS_PTRACE
    # As if exec'd as that user: a change of uid leaves a process undumpable, its /proc/<pid>
    # root's (proc(5), PR_SET_DUMPABLE); exec makes it dumpable again.
    ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE
"""

WRITER = DROP + r"""
import sys, time
path, mode, pause, half, rest, user = sys.argv[1:7]
pause = float(pause)
if user:
    drop(int(user))
flags = {"w": os.O_WRONLY | os.O_TRUNC, "a": os.O_WRONLY | os.O_APPEND, "rw": os.O_RDWR,
         "r": os.O_RDONLY, "path": os.O_PATH}[mode]
fd = os.open(path, flags)
if half:
    os.write(fd, half.encode())
print("half", flush=True)
sys.stdin.readline()
time.sleep(pause)
if rest:
    os.write(fd, rest.encode())
os.close(fd)
print("closed", flush=True)
sys.stdin.read()
"""

# The module loaded from its file, not through the package (whose import checks compiled
# modules), for checks run in a process of their own.
LOAD = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("writing", sys.argv[1])
w = importlib.util.module_from_spec(spec)
sys.modules["writing"] = w
spec.loader.exec_module(w)
"""

CHECK = LOAD + DROP + r"""
if sys.argv[2]:
    drop(int(sys.argv[2]))
for path in sys.argv[3:]:
    scan = w.proc_scan(path)
    print(json.dumps({"lease": w.lease_test(path), "open": w.open_for_writing(path),
                      "scan": None if scan is None else [list(scan.writers), scan.skipped]}))
"""


class Writer:
    """A writer process, started and seen to have opened the file and written its first half."""

    def __init__(self, path: Path, mode: str, pause: float = 0.0, half: str = "",
                 rest: str = "", user: int | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), mode, str(pause), half, rest,
             "" if user is None else str(user)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=path.parent,
        )
        self.pid = self.proc.pid
        assert self._line() == "half"

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def go(self) -> None:
        """Let it pause, write the rest and close the file."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def wait_closed(self) -> None:
        assert self._line() == "closed"
        assert self.proc.poll() is None  # closed the file, still running

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def start_writer() -> Iterator[Callable[..., Writer]]:
    started: list[Writer] = []

    def start(*args: object, **kwargs: object) -> Writer:
        writer = Writer(*args, **kwargs)  # type: ignore[arg-type]
        started.append(writer)
        return writer

    yield start
    for writer in started:
        writer.stop()


def zone_file(directory: Path, text: str = "") -> Path:
    path = directory / "example.zone"
    path.write_text(text)
    return path


def is_open(way: str, path: Path, pid: int) -> bool | None:
    """The answer one way gives; for the /proc scan: is this writer among those it saw."""
    if way == "open_for_writing":
        return writing.open_for_writing(str(path))
    if way == "lease":
        return writing.lease_test(str(path))
    scan = writing.proc_scan(str(path))
    assert scan is not None
    return pid in scan.writers


def wait_while_open(check: Callable[[], bool | None]) -> None:
    """What the zone watcher does: ask again until the file is not open for writing."""
    deadline = time.monotonic() + 60
    while check():
        assert time.monotonic() < deadline, "still open for writing after 60 s"
        time.sleep(0.005)


WAYS = ["open_for_writing", "lease", "proc"]


@pytest.mark.parametrize("pause", [0.15, 2.0], ids=["150ms", "2s"])
@pytest.mark.parametrize("way", WAYS)
def test_a_writer_paused_mid_file_is_open_until_it_closes(
    tmp_path: Path, start_writer: Callable[..., Writer], way: str, pause: float
) -> None:
    path = zone_file(tmp_path)
    writer = start_writer(path, "w", pause, HALF, REST)
    assert path.read_text() == HALF  # valid, partial: what was served
    assert is_open(way, path, writer.pid) is True
    writer.go()
    wait_while_open(lambda: is_open(way, path, writer.pid))
    assert path.read_text() == HALF + REST  # not read before the writer closed it
    writer.wait_closed()
    assert is_open(way, path, writer.pid) is False
    if way == "proc":
        scan = writing.proc_scan(str(path))
        assert scan is not None and scan.writers == ()
        assert scan.answer is (None if scan.skipped else False)


@pytest.mark.parametrize(
    "mode, expected",
    [("r", False), ("path", False), ("rw", True), ("a", True)],
    ids=["O_RDONLY", "O_PATH", "O_RDWR", "O_WRONLY"],
)
def test_only_opens_for_writing_count(
    tmp_path: Path, start_writer: Callable[..., Writer], mode: str, expected: bool
) -> None:
    path = zone_file(tmp_path, HALF)
    holder = start_writer(path, mode)
    for way in WAYS:
        assert is_open(way, path, holder.pid) is expected, way


def test_this_process_counts_too(tmp_path: Path) -> None:
    path = zone_file(tmp_path, HALF)
    with open(path, "r+b"):
        assert writing.lease_test(str(path)) is True
        scan = writing.proc_scan(str(path))
        assert scan is not None and os.getpid() in scan.writers
    with open(path, "rb"):  # our own reader does not stand in the lease's way
        assert writing.lease_test(str(path)) is False
        assert writing.open_for_writing(str(path)) is False


def test_symlinks_are_followed(tmp_path: Path, start_writer: Callable[..., Writer]) -> None:
    target = zone_file(tmp_path, HALF)
    link = tmp_path / "link.zone"
    link.symlink_to(target)
    holder = start_writer(target, "a")
    for way in WAYS:
        assert is_open(way, link, holder.pid) is True, way
    holder.go()
    holder.wait_closed()
    for way in WAYS:
        assert is_open(way, link, holder.pid) is False, way


def test_a_missing_file_is_not_open(tmp_path: Path) -> None:
    dangling = tmp_path / "dangling.zone"
    dangling.symlink_to(tmp_path / "gone.zone")
    for path in (tmp_path / "gone.zone", dangling, tmp_path / "gone.zone" / "below"):
        assert writing.open_for_writing(str(path)) is False
        assert writing.lease_test(str(path)) is False
        assert writing.proc_scan(str(path)) == writing.ProcScan((), 0)
        assert writing.any_open_for_writing([str(path)]) is False


def test_what_is_not_a_regular_file_never_hangs_and_cannot_be_told(
    tmp_path: Path, start_writer: Callable[..., Writer]
) -> None:
    lonely = tmp_path / "lonely.fifo"  # no writer: a blocking open for reading would hang
    os.mkfifo(lonely)
    held = tmp_path / "held.fifo"  # a writer holds it open (O_RDWR does not block on Linux)
    os.mkfifo(held)
    start_writer(held, "rw")
    paths = [lonely, held, tmp_path, Path("/dev/null")]
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(MODULE), "", *map(str, paths)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert answers == [{"lease": None, "open": None, "scan": None}] * len(paths)


def test_any_open_for_writing(tmp_path: Path, start_writer: Callable[..., Writer]) -> None:
    zone = zone_file(tmp_path, HALF)
    include = tmp_path / "hosts.inc"
    include.write_text(REST)
    files = [str(zone), str(include)]
    assert writing.any_open_for_writing(files) is False
    holder = start_writer(include, "a")
    assert writing.any_open_for_writing(files) is True
    assert writing.any_open_for_writing([str(zone)]) is False
    holder.go()
    holder.wait_closed()
    assert writing.any_open_for_writing([*files, str(tmp_path)]) is None  # a directory


@as_root
def test_another_users_file_is_leased_by_cap_lease(
    tmp_path: Path, start_writer: Callable[..., Writer]
) -> None:
    path = zone_file(tmp_path, HALF)
    os.chown(path, NOBODY, NOBODY)
    writer = start_writer(path, "a")
    assert writing.lease_test(str(path)) is True  # the lease answered, not the /proc scan
    writer.go()
    writer.wait_closed()
    assert writing.lease_test(str(path)) is False


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory another user may enter (tmp_path's parents are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="writing-"))
    path.chmod(0o755)
    if not all(os.stat(up).st_mode & stat.S_IXOTH for up in path.parents):
        shutil.rmtree(path)
        pytest.skip(f"{path.parent} is not open to other users")
    yield path
    shutil.rmtree(path)


@dataclass
class Answers:
    """What a check in a process of its own said about one file."""

    lease: bool | None
    open: bool | None
    writers: list[int]
    skipped: int


def check_as_nobody(path: Path) -> Answers:
    """CHECK's answers for one file, from a process of the user nobody."""
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(MODULE), str(NOBODY), str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    return Answers(answer["lease"], answer["open"], *answer["scan"])


@as_root
def test_without_a_lease_the_proc_scan_answers(
    shared_dir: Path, start_writer: Callable[..., Writer]
) -> None:
    """As nobody, root's file cannot be leased (EACCES: not its owner, no CAP_LEASE), so the
    /proc scan answers: it sees nobody's writer, and cannot see root's, so it says None
    (cannot tell), never False."""
    path = zone_file(shared_dir, HALF)
    path.chmod(0o666)

    alone = check_as_nobody(path)
    assert alone.lease is None
    assert alone.writers == [] and alone.skipped > 0  # root's processes, to begin with
    assert alone.open is None

    theirs = start_writer(path, "a", user=NOBODY)
    seen = check_as_nobody(path)
    assert seen.lease is None
    assert seen.open is True
    assert theirs.pid in seen.writers
    theirs.go()
    theirs.wait_closed()

    roots = start_writer(path, "a")
    unseen = check_as_nobody(path)
    assert unseen.lease is None
    assert unseen.open is None  # a writer it may not see: not "provably not"
    assert roots.pid not in unseen.writers
    assert writing.open_for_writing(str(path)) is True  # root's own answer, by the lease


def test_a_write_lease_holder_is_asked_to_give_way(tmp_path: Path) -> None:
    """Another process's write lease (an SMB server's oplock: its client may cache writes):
    True, without waiting for the holder, until it has downgraded its lease."""
    path = zone_file(tmp_path, HALF)
    holder_code = r"""
import fcntl, os, signal, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGURG)
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
print("leased", flush=True)
sys.stdin.readline()
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
print("downgraded", flush=True)
sys.stdin.read()
"""
    holder = subprocess.Popen([sys.executable, "-c", holder_code, str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "leased"
        assert writing.lease_test(str(path)) is True  # O_NONBLOCK: EWOULDBLOCK, not 45 s
        assert writing.open_for_writing(str(path)) is True
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "downgraded"
        assert writing.lease_test(str(path)) is False
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
        holder.stdout.close()


# Holds a read lease as lease_test() does, while a writer opens the file: the kernel signals
# the lease holder (fcntl(2)). argv[2]: "module" uses LEASE_SIGNAL, "default" SIGIO.
BREAK = LOAD + r"""
import fcntl, os, subprocess, time
path, how = sys.argv[2], sys.argv[3]
fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
if how == "module":
    fcntl.fcntl(fd, fcntl.F_SETSIG, w.LEASE_SIGNAL)
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
opener = f"import os; os.close(os.open({path!r}, os.O_WRONLY))"
breaker = subprocess.Popen([sys.executable, "-c", opener])
deadline = time.monotonic() + 30
while fcntl.fcntl(fd, fcntl.F_GETLEASE) != fcntl.F_UNLCK:  # the break has begun: signalled
    assert time.monotonic() < deadline
    time.sleep(0.001)
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
assert breaker.wait(timeout=30) == 0
print("alive", flush=True)
"""


def test_a_writer_opening_during_the_lease_does_not_kill_the_caller(tmp_path: Path) -> None:
    path = zone_file(tmp_path, HALF)
    run = [sys.executable, "-c", BREAK, str(MODULE), str(path)]
    ours = subprocess.run([*run, "module"], capture_output=True, text=True, timeout=60)
    assert (ours.returncode, ours.stdout) == (0, "alive\n"), ours.stderr
    # Why: with the default signal, SIGIO, the same lease break kills the process.
    default = subprocess.run([*run, "default"], capture_output=True, text=True, timeout=60)
    assert default.returncode == -signal.SIGIO


STRESS = LOAD + r"""
import os, subprocess
path = sys.argv[2]
breaker = subprocess.Popen([sys.executable, "-c",
    f"import os\nfor _ in range(20000): os.close(os.open({path!r}, os.O_WRONLY))"])
answers = set()
while breaker.poll() is None:
    answers.add(w.lease_test(path))
assert breaker.returncode == 0
print(json.dumps(sorted(answers, key=str)), flush=True)
"""


def test_lease_tests_racing_a_writer_that_opens_and_closes(tmp_path: Path) -> None:
    path = zone_file(tmp_path, HALF)
    done = subprocess.run([sys.executable, "-c", STRESS, str(MODULE), str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr  # never killed by the lease break's signal
    assert set(json.loads(done.stdout)) <= {True, False}


def test_proc_scan_reads_fd_links_and_fdinfo(tmp_path: Path) -> None:
    """A /proc of links and fdinfo files: flags decide, the inode number confirms."""
    path = zone_file(tmp_path, HALF)
    real, ino = os.path.realpath(path), os.stat(path).st_ino
    other = "/elsewhere/example.zone"  # another mount's path to it, or another file
    fds = {
        100: (real, "0100001", ino),  # O_WRONLY|O_LARGEFILE: a writer
        101: (real, "0100000", ino),  # O_RDONLY
        102: (other, "02", ino),  # O_RDWR, through a bind mount: a writer
        103: (other, "02", ino + 1),  # another file of that name
        104: (real + " (deleted)", "01", ino),  # an unlinked file that was here
        105: (real, "01", None),  # no ino: line (old kernels): the exact path, a writer
        106: (other, "01", None),  # no ino: line, another path: not enough
        107: (real, "010000000", ino),  # O_PATH
        108: ("/x/notexample.zone", "01", ino),
    }
    proc = tmp_path / "proc"
    for pid, (target, flags, fd_ino) in fds.items():
        (proc / str(pid) / "fd").mkdir(parents=True)
        (proc / str(pid) / "fdinfo").mkdir()
        (proc / str(pid) / "fd" / "3").symlink_to(target)
        info = f"pos:\t0\nflags:\t{flags}\nmnt_id:\t24\n" + (
            f"ino:\t{fd_ino}\n" if fd_ino is not None else "")
        (proc / str(pid) / "fdinfo" / "3").write_text(info)
    (proc / "109").mkdir()  # exited: no fd directory, not counted as skipped
    (proc / "self").symlink_to("100")
    scan = writing.proc_scan(str(path), str(proc))
    assert scan == writing.ProcScan((100, 102, 105), 0)
    assert scan.answer is True
    assert writing.ProcScan((), 0).answer is False
    assert writing.ProcScan((), 3).answer is None
    assert writing.proc_scan(str(path), str(tmp_path / "no-proc")) is None
