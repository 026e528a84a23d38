"""Listening sockets: IPv6's wildcard and loopback are skipped where IPv6 is missing; any other
address that cannot be bound stops the start with the reason."""

from __future__ import annotations

import errno
import logging
import socket

import pytest

from dnsbackend.serve import sockets
from dnsbackend.serve.sockets import BindError, open_sockets


def _without_ipv6(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sockets.make_socket

    def make_socket(addr: str, port: int, kind: int, reuse_port: bool) -> socket.socket:
        if ":" in addr:
            raise BindError(f"cannot listen on {addr}: Address family not supported",
                            errno.EAFNOSUPPORT)
        return real(addr, port, kind, reuse_port)

    monkeypatch.setattr(sockets, "make_socket", make_socket)


@pytest.mark.parametrize("wildcard", ["::1", "::"])
def test_ipv6_loopback_or_wildcard_is_skipped_where_there_is_no_ipv6(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        wildcard: str) -> None:
    _without_ipv6(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="dnsbackend"):
        socks = open_sockets(["127.0.0.1", wildcard], 0, False)
    try:
        assert [s.family for s in socks] == [socket.AF_INET, socket.AF_INET]
        assert f"IPv6 is not available here, so {wildcard} is not listened on" in caplog.text
    finally:
        for s in socks:
            s.close()


def test_ipv6_alone_that_cannot_be_bound_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_ipv6(monkeypatch)
    with pytest.raises(BindError):
        open_sockets(["::1"], 0, False)


def test_another_address_that_is_not_here_is_an_error() -> None:
    with pytest.raises(BindError) as caught:
        open_sockets(["127.0.0.1", "192.0.2.199"], 0, False)
    assert caught.value.errno == errno.EADDRNOTAVAIL
    assert "that address is not configured on this machine" in str(caught.value)
