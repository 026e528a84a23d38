"""TCPProtocol streaming a transfer: a transfer whose last message is written is done and
logged then, even when the client reads it all and closes before the transfer's next turn."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from dnsbackend.query.responder import Responder
from dnsbackend.serve.tcp import TCPLimits, TCPProtocol, TransferPacer
from dnsbackend.transfer.service import Outgoing


class Transport(asyncio.Transport):
    """Takes every write; pauses the protocol's writing after each if `pause` is set."""

    def __init__(self, protocol: TCPProtocol | None = None) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.protocol = protocol

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))
        if self.protocol is not None:
            self.protocol.pause_writing()  # the buffer is over its high-water mark

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5353) if name == "peername" else default


def _messages(n: int, released: list[bool]) -> Iterator[bytes]:
    try:
        yield from (f"message {i}".encode() for i in range(n))
    finally:
        released.append(True)


@pytest.mark.parametrize("why", ["slice over", "client behind"])
def test_a_transfer_whose_last_message_is_written_is_logged_then(
        why: str, caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> tuple[Transport, list[bool]]:
        limits = TCPLimits(max_connections=4, idle_timeout=10)
        limits.pacer = TransferPacer(slice_s=0.0 if why == "slice over" else 10.0)
        proto = TCPProtocol(cast(Responder, SimpleNamespace(activity=0)), limits)
        transport = Transport(proto if why == "client behind" else None)
        proto.connection_made(transport)
        released: list[bool] = []
        proto.sending = Outgoing("xfr.test.", "127.0.0.1", "AXFR", 7,
                                 messages=_messages(1, released), records=3)
        proto._send_transfer()
        proto.connection_lost(None)  # the client read it all and went
        return transport, released

    with caplog.at_level(logging.INFO, logger="dnsbackend"):
        transport, released = asyncio.run(run())
    assert [w[2:] for w in transport.written] == [b"message 0"]
    assert released == [True]
    assert any(r.getMessage().startswith("transfer of xfr.test. to 127.0.0.1: AXFR, serial 7")
               for r in caplog.records), caplog.records


def test_a_transfer_cut_short_by_the_client_is_not_logged_and_lets_go(
        caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> tuple[Transport, list[bool]]:
        limits = TCPLimits(max_connections=4, idle_timeout=10)
        limits.pacer = TransferPacer(slice_s=0.0)
        proto = TCPProtocol(cast(Responder, SimpleNamespace(activity=0)), limits)
        transport = Transport()
        proto.connection_made(transport)
        released: list[bool] = []
        proto.sending = Outgoing("xfr.test.", "127.0.0.1", "AXFR", 7,
                                 messages=_messages(3, released))
        proto._send_transfer()  # one message, then the next turn
        proto.connection_lost(None)  # gone before it
        await asyncio.sleep(0.01)  # the turn comes, and finds nothing to send
        return transport, released

    with caplog.at_level(logging.INFO, logger="dnsbackend"):
        transport, released = asyncio.run(run())
    assert [w[2:] for w in transport.written] == [b"message 0"]
    assert released == [True]
    assert not any("transfer of" in r.getMessage() for r in caplog.records)
