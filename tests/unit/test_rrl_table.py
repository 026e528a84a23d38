"""Rate limiting's fixed-size table (vectors of unboxed ints) against a plain reference model,
and the client prefix the batched UDP layer reads in place against query.rrl.prefix()."""

from __future__ import annotations

import socket
import struct

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dnsbackend.query.rrl import (
    ACCOUNT_MASK,
    DROP,
    PASS,
    SLIP,
    RateLimiter,
    entry_key,
    prefix,
    prefix_key,
)
from dnsbackend.serve.udpbatch import NAME_SLOT, client_ip, client_prefix
from dnsbackend.store.format import RateLimits


class Model:
    """BIND's accounting, one entry per (client prefix, account) in a dict: no table."""

    def __init__(self, rate: int, slip: int, window: int) -> None:
        self.rate, self.slip, self.window = rate, slip, window
        self.entries: dict[tuple[int, int], list[int]] = {}  # balance, stamp, slips

    def spend(self, client: int, account: int, now: int) -> int:
        entry = self.entries.get((client, account))
        if entry is None:
            entry = self.entries[(client, account)] = [self.rate, now, 0]
        elif now > entry[1]:
            age, entry[1] = now - entry[1], now
            entry[0] = self.rate if age > self.window else entry[0] + self.rate * age
            if entry[0] >= self.rate:
                entry[0], entry[2] = self.rate, 0
        entry[0] -= 1
        if entry[0] >= 0:
            return PASS
        entry[0] = max(entry[0], -self.window * self.rate)
        if not self.slip:
            return DROP
        count = entry[2]
        entry[2] = (count + 1) % self.slip
        return SLIP if count == 0 else DROP


CLIENTS = [prefix_key(bytes([192, 0, 2])), prefix_key(bytes([198, 51, 100])),
           prefix_key(bytes([32, 1, 13, 184, 0, 0, 255]))]
clients = st.sampled_from(CLIENTS)
accounts = st.integers(0, ACCOUNT_MASK)
steps = st.lists(st.tuples(clients, st.integers(0, 3), st.integers(0, 3)), max_size=300)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.integers(0, 4), st.integers(1, 20),
       st.lists(accounts, min_size=4, max_size=4, unique=True), steps,
       st.sampled_from([1_800_000_000, (1 << 31) - 20, (1 << 32) - 20]))
def test_the_table_gives_the_models_verdicts(rate: int, slip: int, window: int,
                                             account_of: list[int],
                                             steps: list[tuple[int, int, int]],
                                             start: int) -> None:
    """Any sequence of responses (client, account, seconds later) gets from the table what
    the model gives, as long as no two of its keys share an entry (which the table resets:
    NSD's rrl-size); also where the lower 31 bits of the time it keeps wrap around."""
    size = 1 << 16
    keys = {entry_key(client, account) % size for client in CLIENTS for account in account_of}
    assume(len(keys) == len(CLIENTS) * len(account_of))
    table = RateLimiter(RateLimits(rate, slip, window, size))
    model = Model(rate, slip, window)
    now = start
    for client, which, later in steps:
        now += later - 1  # the clock may also go back a second
        assert table.spend(client, account_of[which], now) == \
            model.spend(client, account_of[which], now)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, (1 << 57) - 1), accounts)
def test_an_entry_taken_by_another_key_starts_afresh(client: int, account: int) -> None:
    table = RateLimiter(RateLimits(1, 2, 15, 1))  # one entry: every key shares it
    assert table.spend(client, account, 100) == PASS
    assert table.spend(client, account, 100) == SLIP
    other = account ^ 1
    assert table.spend(client, other, 100) == PASS  # the entry is the other key's now
    assert table.spend(client, account, 100) == PASS  # and then this one's again, afresh


prefixes = st.one_of(st.binary(min_size=3, max_size=3), st.binary(min_size=7, max_size=7))


@given(prefixes, prefixes)
def test_prefix_keys_tell_every_prefix_apart(a: bytes, b: bytes) -> None:
    assert (prefix_key(a) == prefix_key(b)) == (a == b)
    assert 0 <= prefix_key(a) < 1 << 57


def sockaddr(ip: bytes, port: int, flow: int, scope: int) -> bytes:
    """A sockaddr_in or sockaddr_in6 as recvmmsg writes it, in a name slot."""
    if len(ip) == 4:
        raw = struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + ip
    else:
        raw = struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", port, flow) + ip + \
            struct.pack("=I", scope)
    return raw + bytes(NAME_SLOT - len(raw))


addresses = st.one_of(st.binary(min_size=4, max_size=4), st.binary(min_size=16, max_size=16),
                      st.binary(min_size=4, max_size=4).map(
                          lambda v4: b"\x00" * 10 + b"\xff\xff" + v4),
                      st.binary(min_size=12, max_size=12).map(
                          lambda v6: b"\x00" + v6[1:] + b"\x00" * 4))


@given(st.lists(st.tuples(addresses, st.integers(0, 65535), st.integers(0, (1 << 32) - 1),
                          st.integers(0, (1 << 32) - 1)), min_size=1, max_size=8))
def test_the_sender_prefix_read_in_place_is_query_rrls(
        senders: list[tuple[bytes, int, int, int]]) -> None:
    names = b"".join(sockaddr(*sender) for sender in senders)
    for i, (ip, _, _, _) in enumerate(senders):
        assert client_ip(names, i * NAME_SLOT) == ip
        assert client_prefix(names, i * NAME_SLOT) == prefix_key(prefix(ip))
