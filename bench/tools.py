"""What compare.py needs on the machine (dnsperf, NSD, Knot, BIND, taskset), and its log."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from testkit import programs

PACKAGES = {"dnsperf": "dnsperf", "nsd": "nsd", "knotd": "knot", "named": "bind9",
            "taskset": "util-linux"}


def log(msg: str) -> None:
    """A progress line on stderr, with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ensure_tools() -> None:
    """Install dnsperf, NSD, Knot and BIND from Debian when any is missing."""
    missing = sorted({pkg for tool, pkg in PACKAGES.items() if programs.find(tool) is None})
    if not missing:
        return
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        sys.exit(f"compare.py: missing {' '.join(missing)}; run: sudo {' '.join(cmd)}")
    log(f"installing {' '.join(missing)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(cmd, check=True, env=env)
