"""Unbound as a validating resolver on loopback, trusting given keys, asking our server.

    resolver = Unbound().start(workdir, [Stub("example.", port, anchors=[ds_text])])
    answer = resolver.ask("www.example.", "A")       # RD=1, DO=1: AD set if validated
    resolver.flush("example.")                       # forget what it cached of the zone
    resolver.stop()

Each `Stub` zone is asked of 127.0.0.1 at its port (a `stub-zone:`, so no root hints are
needed) and, with `anchors` (DS or DNSKEY records as zone file lines), is a trust anchor: its
answers must validate from those keys down, or Unbound answers SERVFAIL (and says why in its
log, `val-log-level: 2`, and in an Extended DNS Error). A stub without anchors gets its trust
from a parent (a delegation served by the same server, whose DS or proof of no DS says
whether it is signed). Remote control listens on a Unix socket in the workdir, no
certificates, for `flush`. Aggressive use of cached NSEC (RFC 8198) is off, so that each
question is answered from what our server says rather than synthesized from earlier proofs;
the case of query names is randomized (`use-caps-for-id`, "0x20"), so an answer must keep
the question's case to be taken.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query

from . import programs
from .peers import PeerProcess
from .ports import free_port


@dataclass(frozen=True)
class Stub:
    """A zone Unbound asks 127.0.0.1@port for, trusting `anchors` (zone file lines of DS
    or DNSKEY records) for it, or a parent's DS when there are none."""

    origin: str  # absolute, with the final dot
    port: int
    anchors: Sequence[str] = field(default=())


def missing() -> str | None:
    """Why Unbound cannot run here (for a test to skip or fail with), or None."""
    for name in ("unbound", "unbound-control", "unbound-checkconf"):
        if programs.find(name) is None:
            return f"{name} is needed here (Debian package unbound)"
    return None


def configuration(workdir: Path, port: int, stubs: Sequence[Stub], udp_size: int) -> str:
    """unbound.conf for a resolver on 127.0.0.1@port asking only the stub zones, with EDNS
    payload `udp_size` (larger answers come truncated, and it asks again over TCP)."""
    w = workdir
    anchors = "".join(f'  trust-anchor: "{line}"\n' for stub in stubs for line in stub.anchors)
    # Unbound answers names under some top-level domains itself (test., invalid., onion.:
    # RFC 6761, 7686) unless told not to: those of the stubs are asked.
    tlds = sorted({stub.origin.rstrip(".").rpartition(".")[2] + "." for stub in stubs})
    local = "".join(f'  local-zone: "{tld}" nodefault\n' for tld in tlds)
    zones = "".join(f'stub-zone:\n  name: "{stub.origin}"\n  stub-addr: 127.0.0.1@{stub.port}\n'
                    for stub in stubs)
    return f"""server:
  interface: 127.0.0.1@{port}
  port: {port}
  do-ip6: no
  edns-buffer-size: {udp_size}
  num-threads: 1
  so-reuseport: no
  chroot: ""
  username: ""
  directory: "{w}"
  pidfile: "{w}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  val-log-level: 2
  log-servfail: yes
  ede: yes
  do-not-query-localhost: no
  aggressive-nsec: no
  target-fetch-policy: "0 0 0 0 0"
  trust-anchor-signaling: no
  use-caps-for-id: yes
{local}{anchors}remote-control:
  control-enable: yes
  control-interface: "{w}/control.sock"
  control-use-cert: no
{zones}"""


@dataclass
class Resolver:
    """A started Unbound: ask it, flush its cache, stop it."""

    process: PeerProcess
    conf: Path

    @property
    def port(self) -> int:
        return self.process.port

    def ask(self, name: str, rdtype: str, timeout: float = 10.0) -> dns.message.Message:
        """One recursive question with DO=1 (EDNS payload 1232, TCP if truncated)."""
        q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232, want_dnssec=True)
        answer, _ = dns.query.udp_with_fallback(q, "127.0.0.1", port=self.port, timeout=timeout)
        return answer

    def control(self, *args: str) -> str:
        """unbound-control with these arguments; its output. RuntimeError if it fails."""
        done = subprocess.run([programs.require("unbound-control"), "-c", str(self.conf), *args],
                              capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"unbound-control {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def flush(self, origin: str) -> None:
        """Forget everything cached at or below `origin` (answers, RRsets, keys) and every
        negative answer."""
        self.control("flush_zone", origin)
        self.control("flush_negative")

    def log_tail(self, lines: int = 30) -> str:
        return self.process.log_tail(lines)

    def stop(self) -> None:
        self.process.stop()


class Unbound:
    """How to configure, check and start unbound in the foreground (`-d`)."""

    def start(self, workdir: Path, stubs: Sequence[Stub], *, port: int | None = None,
              udp_size: int = 1232, timeout: float = 30.0) -> Resolver:
        """Write the configuration, check it with unbound-checkconf, start it and wait until
        it answers (RuntimeError with its output if it does not); `udp_size`: the EDNS
        payload it asks with (1232, its default)."""
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port() if port is None else port
        conf = workdir / "unbound.conf"
        conf.write_text(configuration(workdir, port, stubs, udp_size))
        checked = subprocess.run([programs.require("unbound-checkconf"), str(conf)],
                                 capture_output=True, text=True, check=False)
        if checked.returncode != 0:
            raise RuntimeError(f"unbound-checkconf: {checked.stdout}{checked.stderr}")
        log_path = workdir / "server.log"
        with open(log_path, "wb") as out:  # the child keeps its own copy
            proc = subprocess.Popen([programs.require("unbound"), "-d", "-c", str(conf)],
                                    stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                                    start_new_session=True)
        resolver = Resolver(PeerProcess("Unbound", proc, port, workdir, log_path), conf)
        try:
            _wait_answering(resolver, timeout)
        except BaseException:
            resolver.stop()
            raise
        return resolver


def _wait_answering(resolver: Resolver, timeout: float) -> None:
    """Until Unbound answers its own health check (`unbound-control status`) and a query."""
    deadline = time.monotonic() + timeout
    proc = resolver.process.proc
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"unbound exited:\n{resolver.log_tail()}")
        try:
            resolver.control("status")
            q = dns.message.make_query("localhost.", "A")
            dns.query.udp(q, "127.0.0.1", port=resolver.port, timeout=1.0)
            return
        except (RuntimeError, dns.exception.DNSException, OSError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"unbound did not answer in {timeout:.0f}s:\n"
                                   f"{resolver.log_tail()}") from None
            time.sleep(0.1)
