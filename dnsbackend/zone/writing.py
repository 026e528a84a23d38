"""Whether a zone file is still open for writing, so that a save caught half-written is not read."""

# A writer that pauses mid-file (a slow network copy, a program that writes in pieces) leaves
# a valid but partial zone on disk; reading it then serves half a zone. While any process
# holds the file open for writing, the caller (the zone watcher) waits and asks again.
#
# Two ways to tell, both Linux-only, tried in this order:
#
# 1. A read lease (fcntl(2), "Leases"). The kernel refuses a read lease with EAGAIN while
#    the inode is open for writing by anyone, this process included: fs/locks.c,
#    check_conflicting_open(): `if (arg == F_RDLCK) return inode_is_open_for_write(inode) ?
#    -EAGAIN : 0;`, checked again after the lease is inserted, so an open racing with us is
#    seen. It counts every open for writing on this kernel (other users, other containers,
#    a writable MAP_SHARED mapping whose fd was closed), costs a handful of syscalls, and
#    needs no /proc. Rules, from fcntl(2) and generic_setlease(): "Leases may be taken out
#    only on regular files" (EINVAL otherwise); "An unprivileged process may take out a lease
#    only on a file whose UID (owner) matches the filesystem UID of the process. A process
#    with the CAP_LEASE capability may take out leases on arbitrary files" (EACCES
#    otherwise); "A read lease can be placed only on a file descriptor that is opened
#    read-only"; with /proc/sys/fs/leases-enable at 0, or on a filesystem that grants none
#    (its setlease refuses: NFS, mostly), EINVAL. Its one effect on others: a writer that
#    opens the file in the moment the lease is held waits until it is dropped (two syscalls
#    later, or, should another thread of ours hold the GIL, up to its switch interval), and
#    one that opens with O_NONBLOCK fails with EWOULDBLOCK. Opening the file to take the
#    lease is an IN_OPEN/IN_CLOSE_NOWRITE, which watchfiles does not report as a change.
# 2. A scan of /proc/<pid>/fd and /proc/<pid>/fdinfo (proc(5)), when no lease can be taken.
#    It sees only the processes this one may inspect (its own user's dumpable ones, or all
#    of them with CAP_SYS_PTRACE), so it can prove "a writer is there" but "none is" only
#    when it could inspect every process: otherwise it answers None (cannot tell). It costs
#    some 5-8 us per open fd on the system (2 ms for 80 processes, about 100 ms for 500
#    processes holding 14,000 fds), against some 8 us for the lease.
#
# Neither sees a writer on another host (NFS, SMB: writes from other clients), nor a writer
# that closes the file between its pieces (`echo a > f; sleep 1; echo b >> f`), and both
# see a process that holds the file open for writing but never writes (O_RDWR for a lock):
# the caller needs a limit to its waiting. No event comes when the writer closes the file
# (watchfiles does not report close-write): the caller asks again until the answer changes.

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import stat
from collections.abc import Iterable
from dataclasses import dataclass

_F_SETLEASE: int | None = getattr(fcntl, "F_SETLEASE", None)  # Linux only
_F_SETSIG: int | None = getattr(fcntl, "F_SETSIG", None)

# The signal the kernel sends the lease holder if a writer opens the file while our lease is
# held (a window of microseconds, but real). By default that is SIGIO, whose default action
# kills the process; SIGURG's default action is to ignore it (a process that handles SIGURG
# would see a stray one). The signal is set on our own open file description only
# (F_SETSIG), so nothing else in the process changes.
LEASE_SIGNAL: int = int(signal.SIGURG)

_O_ACCMODE = os.O_RDONLY | os.O_WRONLY | os.O_RDWR  # 3 on Linux


def open_for_writing(path: str) -> bool | None:
    """True if some process has the file at `path` open for writing (O_WRONLY or O_RDWR),
    False if provably none has, None if this system cannot tell.

    Symlinks are followed (zone files may be links). A missing path is False: nothing has
    it open. Anything that is not a regular file (a FIFO, a directory, a device) is None
    and is never opened, so this never blocks. The read lease is tried first; when it
    cannot be taken (another user's file and no CAP_LEASE, a filesystem without leases,
    not Linux), the /proc scan answers, None if it could not inspect every process.

    A True answer does not last: ask again before reading, and to close the race with a
    writer that opens the file while it is being read, ask again after reading too."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    leased = _lease_test(path)
    if leased is not None:
        return leased
    scan = _scan(path, st, "/proc", first=True)
    return None if scan is None else scan.answer


def any_open_for_writing(paths: Iterable[str]) -> bool | None:
    """open_for_writing() over a zone file and its includes: True if any file is open for
    writing (the rest are not asked), else None if any could not be told, else False."""
    unknown = False
    for path in paths:
        answer = open_for_writing(path)
        if answer:
            return True
        unknown = unknown or answer is None
    return None if unknown else False


def lease_test(path: str) -> bool | None:
    """The read-lease way alone: True if the kernel refused a read lease because the file is
    open for writing (or another process holds a write lease on it, which it is now asked
    to give up), False if the lease was granted (and at once released), None if no lease
    could be tried: not Linux, not a regular file, not readable, not ours without
    CAP_LEASE (EACCES), leases off or unsupported by the filesystem (EINVAL). A missing
    path is False."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return _lease_test(path)


def _lease_test(path: str) -> bool | None:
    """lease_test() for a path just seen to be a regular file."""
    if _F_SETLEASE is None or _F_SETSIG is None:
        return None
    try:
        # O_NONBLOCK: should the path have become a FIFO since the stat, opening it must
        # not wait for a writer; and if another process holds a write lease, fcntl(2): "If
        # the lease breaker specifies O_NONBLOCK ... the call immediately fails with the
        # error EWOULDBLOCK" instead of waiting up to lease-break-time (45 s).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except BlockingIOError:
        return True
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        fcntl.fcntl(fd, _F_SETSIG, LEASE_SIGNAL)
        try:
            fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_RDLCK)
        except OSError as e:
            # EAGAIN: open for writing, or a write open is waiting on another's lease
            # (FL_UNLOCK_PENDING in generic_add_lease()). EACCES, EINVAL, ...: no lease.
            return True if e.errno == errno.EAGAIN else None
        # Held until the next syscall: a writer opening now waits until the F_UNLCK (or
        # the close below, which releases the lease too).
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_UNLCK)
        return False
    except OSError:
        return None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class ProcScan:
    """What a /proc scan saw: the processes with the file open for writing, and how many
    processes it was not allowed to inspect."""

    writers: tuple[int, ...]
    skipped: int

    @property
    def answer(self) -> bool | None:
        """True if a writer was seen; False if none was and every process was inspected;
        None if none was seen but some processes could not be inspected."""
        if self.writers:
            return True
        return None if self.skipped else False


def proc_scan(path: str, proc: str = "/proc") -> ProcScan | None:
    """The /proc way alone: which processes have the file at `path` open for writing.
    None if the path is not a regular file or there is no /proc; a missing path is an
    empty scan (no writers, nothing skipped).

    An fd is the file's when readlink(/proc/<pid>/fd/<n>) is the file's real path, or ends
    in its name (another mount: a bind mount, a container), and fdinfo's `ino:` is the
    file's inode number; it is open for writing when fdinfo's `flags:` (octal) has
    O_WRONLY or O_RDWR (a file of the same name and inode number on another filesystem
    would be taken for it: a wait too many, never a read too early). readlink, unlike stat,
    never touches the file's filesystem, so a process with a file open on a dead NFS server
    does not hang the scan (lsof's problem).
    It sees only processes of this PID namespace that this process may inspect; a mapping
    left after its fd was closed, and threads with fd tables of their own, are not seen."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return ProcScan((), 0)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return _scan(path, st, proc)


def _scan(path: str, st: os.stat_result, proc: str, first: bool = False) -> ProcScan | None:
    """proc_scan() for a path whose stat is `st`; `first`: stop at the first writer."""
    real = os.path.realpath(path)
    tail = "/" + os.path.basename(real)
    try:
        pids = sorted((name for name in os.listdir(proc) if name.isdigit()), key=int)
    except OSError:
        return None
    writers: list[int] = []
    skipped = 0
    for pid in pids:
        fd_dir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except PermissionError:
            skipped += 1
            continue
        except OSError:  # gone: it has nothing open now
            continue
        if any(_writes(f"{proc}/{pid}", fd, real, tail, st) for fd in fds):
            writers.append(int(pid))
        if first and writers:
            break
    return ProcScan(tuple(writers), skipped)


def _writes(pid_dir: str, fd: str, real: str, tail: str, st: os.stat_result) -> bool:
    """Whether a process's descriptor is the file (real path `real`, stat `st`) opened for
    writing."""
    try:
        target = os.readlink(f"{pid_dir}/fd/{fd}")
    except OSError:  # closed since the listing
        return False
    if target != real and not target.endswith(tail):  # " (deleted)" ends neither
        return False
    flags, ino = _fdinfo(f"{pid_dir}/fdinfo/{fd}")
    if flags is None or (flags & _O_ACCMODE) not in (os.O_WRONLY, os.O_RDWR):
        return False
    # The inode number settles it; without one (old kernels) only the exact path.
    return ino == st.st_ino or (ino is None and target == real)


def _fdinfo(path: str) -> tuple[int | None, int | None]:
    """(flags, inode number) from a /proc/<pid>/fdinfo/<n> file, None for what is absent."""
    flags: int | None = None
    ino: int | None = None
    try:
        with open(path, "rb") as f:
            text = f.read(4096)
    except OSError:
        return None, None
    for line in text.splitlines():
        key, _, value = line.partition(b":")
        try:
            if key == b"flags":
                flags = int(value.strip(), 8)
            elif key == b"ino":
                ino = int(value.strip())
        except ValueError:
            continue
    return flags, ino
