"""Sending NOTIFY: the asyncio side of transfer.notify.Notifier (a UDP socket per address
family, a task that sends what is due, the answers fed back); never blocks queries or writers.
The Notifier is given the loop's clock for its timing and time.time() for TSIG."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from typing import cast

from ..transfer.notify import Notifier, Target
from ..transfer.tsig import TsigKey
from .counters import SERVE

log = logging.getLogger("dnsbackend")


class _Answers(asyncio.DatagramProtocol):
    def __init__(self, sender: NotifySender) -> None:
        self.sender = sender

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sender.received(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error for a target that is down: its retries go on


class NotifySender:
    """Sends the Notifier's messages when they are due; `acks_file` (JSON) keeps what each
    target last acknowledged, for `dnsbackend status`."""

    def __init__(self, acks_file: str | None = None) -> None:
        self.notifier = Notifier()
        self.acks_file = acks_file
        self.transports: dict[int, asyncio.DatagramTransport] = {}
        self.acked_at: dict[tuple[bytes, Target], float] = {}  # time.time() of each last ack
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for transport in self.transports.values():
            transport.close()

    def changed(self, origin: bytes, serial: int, soa: tuple[int, bytes],
                targets: list[tuple[str, int, TsigKey | None]]) -> None:
        """A zone's new serial is committed: NOTIFY its targets ((address, port, the TSIG
        key to sign with or None))."""
        if not targets:
            return
        keys = {(address, port): key for address, port, key in targets if key is not None}
        self.notifier.changed(origin, serial, soa, [(address, port) for address, port, _ in
                                                    targets],
                              asyncio.get_running_loop().time(), keys)
        self.wake.set()

    def received(self, data: bytes, source: Target) -> None:
        now = asyncio.get_running_loop().time()
        acked = self.notifier.answered(data, source, now, time.time())
        for zone, target, why in self.notifier.rejected:
            log.warning("NOTIFY of %s: the answer from %s port %d does not count: %s",
                        _text(zone), target[0], target[1], why)
        self.notifier.rejected.clear()
        if acked is None:
            return
        zone, serial = acked
        SERVE.notifies_acknowledged += 1
        self.acked_at[(zone, source)] = time.time()
        log.info("NOTIFY of %s serial %d acknowledged by %s port %d", _text(zone), serial,
                 source[0], source[1])
        self._save()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            for target, message in self.notifier.due(loop.time(), time.time()):
                await self._send(target, message)
            for zone, target, serial in self.notifier.given_up:
                log.warning("NOTIFY of %s serial %d to %s port %d: no answer; given up until "
                            "the next change", _text(zone), serial, target[0], target[1])
            self.notifier.given_up.clear()
            due = self.notifier.next_due()
            self.wake.clear()
            timeout = None if due is None else max(0.0, due - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)

    async def _send(self, target: Target, message: bytes) -> None:
        family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        transport = self.transports.get(family)
        if transport is None:
            loop = asyncio.get_running_loop()
            local = ("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0)
            try:
                made, _ = await loop.create_datagram_endpoint(
                    lambda: _Answers(self), local_addr=local, family=family)
            except OSError as exc:
                log.warning("NOTIFY to %s: cannot open a socket: %s", target[0], exc.strerror)
                return
            transport = self.transports[family] = cast(asyncio.DatagramTransport, made)
        transport.sendto(message, target)
        SERVE.notifies_sent += 1

    def _save(self) -> None:
        if not self.acks_file:
            return
        acks = [{"zone": _text(zone), "address": target[0], "port": target[1],
                 "serial": acked.serial, "at": self.acked_at.get((zone, target), 0.0)}
                for (zone, target), acked in sorted(self.notifier.acked.items())]
        tmp = f"{self.acks_file}.tmp{os.getpid()}"
        try:
            with open(tmp, "w") as f:
                json.dump({"acknowledged": acks}, f)
            os.replace(tmp, self.acks_file)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.acks_file, exc.strerror)


def _text(origin: bytes) -> str:
    labels = []
    pos = 0
    while origin[pos]:
        size = origin[pos]
        labels.append(origin[pos + 1:pos + 1 + size].decode("ascii", "backslashreplace"))
        pos += size + 1
    return ".".join(labels) + "."
