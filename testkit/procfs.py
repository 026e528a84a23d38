"""Readers of /proc: a process's memory, CPU and scheduler time, who holds a UDP socket."""

from __future__ import annotations

import os


def status_kib(pid: int, key: str) -> int:
    """A `kB` (or count) field of /proc/PID/status, such as VmRSS or Threads; 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages split among the processes that share them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def total_pss_mib(pids: list[int]) -> float:
    """The PSS of these processes together, in MiB (forked workers are not counted twice)."""
    return sum(pss_kib(p) for p in pids) / 1024


def cpu_seconds(pids: list[int], reaped: bool = False) -> float:
    """User plus system CPU time used so far by these processes (all their threads);
    `reaped`: also that of their children that have ended and been waited for (a
    process's time reaches its parent then), so that a sum over a process tree taken
    before and after a span counts what ended within it too."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        if reaped:
            ticks += int(fields[13]) + int(fields[14])  # cutime, cstime (16 and 17)
    return ticks / os.sysconf("SC_CLK_TCK")


def sched_seconds(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, all threads; seconds the main thread was runnable but not running).

    The second figure shows when the main thread was held up by other work on its core
    (its own process's other threads, or other processes), as opposed to having nothing
    to do.
    """
    run = wait = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                run_ns, wait_ns, _ = f.read().split()
        except (OSError, ValueError):
            continue  # the thread ended
        run += int(run_ns)
        if task == str(pid):
            wait = int(wait_ns)
    return run / 1e9, wait / 1e9


def udp_socket_owners(pids: list[int], port: int) -> list[int]:
    """The processes among `pids` holding a UDP socket bound to 127.0.0.1:port."""
    inodes = set()
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1] == f"0100007F:{port:04X}":
                inodes.add(parts[9])
    return [pid for pid in pids if _holds_socket(pid, inodes)]


def _holds_socket(pid: int, inodes: set[str]) -> bool:
    """Whether one of the process's file descriptors is one of these socket inodes."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or '?'."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"
