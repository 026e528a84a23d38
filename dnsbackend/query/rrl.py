"""Response rate limiting (RRL): BIND's model, in a fixed-size table as NSD keeps it.

Responses are accounted per client prefix (IPv4 /24, IPv6 /56) and per kind of answer:
positive answers by query name and type (those made up from a wildcard, or a DNAME, for a
name that does not exist: by zone, so that random names cannot each have an account),
NODATA by name, NXDOMAIN by zone, referrals by the delegation, errors per client. Each
entry earns `responses_per_second` credits a second (at most one second's worth) and
spends one per response; once none is left the response is limited, and the debt may
grow to `window` seconds' worth, so that a client keeps being limited until its rate has
been below the limit for as long as it was above it. Of the
limited responses, every `slip`-th goes out truncated (TC, question only: a real client
asks again over TCP, which is never limited) and the rest are dropped. The table has
`size` entries found by hash; an entry taken by another key starts afresh (NSD's rrl-size).
Only UDP answers are accounted, and not those to a query with a valid server cookie. The
caller passes the address and the time: nothing here reads a clock or a socket.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Final

from librt.vecs import vec
from mypy_extensions import i64

from ..store.format import RateLimits
from ..store.snapshot import Snapshot, StaleSnapshot, ZoneView
from ..wire.codes import AA, NOERROR, NXDOMAIN, TC
from ..wire.message import FormatError, name_end, read_name

# Verdicts.
PASS: Final = 0
DROP: Final = 1
SLIP: Final = 2

# Kinds of answer, accounted apart.
POSITIVE: Final = 1
NODATA: Final = 2
NXDOMAIN_KIND: Final = 3
REFERRAL: Final = 4
ERROR: Final = 5
SYNTHESIZED: Final = 6  # a positive answer for a name that does not exist (wildcard, DNAME)

_COUNTS: Final = struct.Struct("!HHHH")
ACCOUNT_MASK: Final[i64] = (1 << 40) - 1  # accounts and keys: ints the compiled code keeps unboxed
_EXEMPT_CACHE: Final = 4096  # addresses whose exemption is remembered
V6_PREFIX: Final[i64] = 1 << 56  # tells an IPv6 prefix_key() from an IPv4 one
# A table entry's two ints (RateLimiter): its key plus one in the lowest 41 bits (0: no
# entry), the limited responses since the last slip above; the second, its lower 31 bits
# (ages are taken modulo 2 ** 31: a clock gone back by up to 34 years is told from one gone
# forward), above 32 bits of credits (the balance less the deepest debt).
KEY_FIELD: Final[i64] = (1 << 41) - 1
SLIPS_SHIFT: Final = 41
STAMP_SHIFT: Final = 32
STAMP_MASK: Final[i64] = (1 << 31) - 1
STAMP_HALF: Final[i64] = 1 << 30
CREDITS_MASK: Final[i64] = (1 << 32) - 1


def prefix(ip: bytes) -> bytes:
    """The client's prefix an entry is kept for: /24 of IPv4 (also IPv4-mapped), /56 of IPv6."""
    if len(ip) == 4:
        return ip[:3]
    if ip[:12] == b"\x00" * 10 + b"\xff\xff":
        return ip[12:15]
    return ip[:7]


def prefix_key(client: bytes) -> i64:
    """A client prefix (of prefix()) as an int: IPv4's /24 below 1 << 24, IPv6's /56 with
    bit 56 set (what the batched UDP layer reads straight from the sender's address)."""
    key: i64 = 0
    for byte in client:
        key = (key << 8) | byte
    return key | V6_PREFIX if len(client) == 7 else key


def entry_key(client: i64, account: i64) -> i64:
    """The key of a table entry: a client's prefix_key() mixed with an account, both below
    1 << 57, by multiplications that cannot overflow an i64 (the compiled code's wrap
    and the interpreter's growth agree)."""
    mixed = ((client & 0xFFFFFFF) * 0x9E3779B1) ^ ((client >> 28) * 0x85EBCA77) ^ account
    return mixed & ACCOUNT_MASK


def classify(response: bytes, snapshot: Snapshot | None) -> tuple[int, bytes]:
    """(kind, the name it is accounted by) of a response of ours (question echoed); a
    positive answer's name is the query name and type."""
    kind, name, qtype = _classify(response, snapshot)
    return kind, name + qtype.to_bytes(2, "big") if kind == POSITIVE else name


def account_of(kind: int, name: bytes, qtype: int = 0) -> int:
    """The account of an answer: a hash of its kind and what it is accounted by (the
    name's hash, which a bytes object keeps, mixed with the kind and type; in i64, which
    the compiled code keeps unboxed)."""
    mixed: i64 = hash(name)
    mixed ^= (i64(kind) << 32) ^ (i64(qtype) << 16)
    return mixed & ACCOUNT_MASK


def response_account(response: bytes, snapshot: Snapshot | None) -> int:
    """The account of a response, read from its bytes."""
    kind, name, qtype = _classify(response, snapshot)
    return account_of(kind, name, qtype)


def _question_end(response: bytes) -> int:
    """Just past a response's question name (wire.message.name_end); past the message's end
    when the name does not end in it (a response without a question)."""
    end = name_end(response, 12)
    return len(response) + 1 if end < 0 else end


def _classify(response: bytes, snapshot: Snapshot | None) -> tuple[int, bytes, int]:
    end = _question_end(response)
    lower = response[12:end].lower()
    zone = None
    rcode = response[3] & 0xF
    if snapshot is not None and (rcode == NXDOMAIN or (rcode == NOERROR and (
            response[6] or response[7]))):
        zone = snapshot.find_zone(lower)
    return classified(response, zone, lower, end + 4)


def classified(response: bytes, zone: ZoneView | None, lower: bytes,
               question_end: int, made_up: bool = True) -> tuple[int, bytes, int]:
    """(kind, name, type: a positive answer's, else 0) of a response to the question
    `lower` (ending at `question_end`) answered from `zone`, the closest served to it.
    `made_up` False: nothing of the answer was (query.encode.MADE_UP), so the name has a
    node (only a wildcard or a DNAME answers a name without one)."""
    rcode = response[3] & 0xF
    if rcode == NXDOMAIN:
        return NXDOMAIN_KIND, b"" if zone is None else zone.origin_lower, 0
    if rcode != NOERROR:
        return ERROR, b"", 0
    if response[6] or response[7]:
        if made_up and zone is not None and _synthesized(zone, lower):
            return SYNTHESIZED, zone.origin_lower, 0
        return POSITIVE, lower, (response[question_end - 4] << 8) | response[question_end - 3]
    if (response[8] or response[9]) and not ((response[2] << 8) & AA):
        return REFERRAL, _cut(response, lower, question_end), 0
    return NODATA, lower, 0


def _cut(response: bytes, lower: bytes, at: int) -> bytes:
    """The lower-case owner of a referral's first NS record (at `at`): mostly a pointer to
    a suffix of the question `lower`, taken from it without reading the name."""
    if at + 1 < len(response) and response[at] >= 0xC0:
        pointer = ((response[at] & 0x3F) << 8) | response[at + 1]
        if 12 <= pointer < 12 + len(lower):
            return lower[pointer - 12:]
    try:
        return read_name(response, at)[0].lower()
    except FormatError:
        return b""


def _synthesized(zone: ZoneView, lower: bytes) -> bool:
    """Whether the answer for `lower` was made up (no node of that name)."""
    try:
        return zone.node(lower) is None
    except StaleSnapshot:  # freed meanwhile: account it by name
        return False


def truncated(response: bytes) -> bytes:
    """What a slipped response is: its header with TC, and the question only."""
    end = _question_end(response) + 4
    flags = ((response[2] << 8) | response[3]) | TC
    return response[:2] + struct.pack("!H", flags) + _COUNTS.pack(1, 0, 0, 0) + response[12:end]


class RateLimiter:
    """The table of one serving process, and what it limited.

    The table is one vector of unboxed ints (librt.vecs, which the compiled code reads and
    writes in place: no int object per response), two per entry, so that an entry is one
    cache line (a table of a million entries is far larger than the caches, and nearly
    every response of many clients or names touches an entry of its own): the entry's key
    (the client's prefix, prefix_key(), mixed with the answer's account) plus one (0:
    none) with the limited responses since the last slip above it; and its second (lower 31 bits of
    the time) above its credits (offset by the deepest debt, so never negative). An entry
    is found by its key."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self.rate: i64 = limits.responses_per_second
        self.slip: i64 = limits.slip
        self.window: i64 = limits.window
        self.size: i64 = limits.size
        self.floor: i64 = -self.window * self.rate  # the deepest debt
        self.exempt = [ipaddress.ip_network(p, strict=False) for p in limits.exempt]
        self.exempt_seen: dict[bytes, bool] = {}
        self.table: vec[i64] = vec[i64]([0] * (2 * limits.size))
        self.last: i64 = PASS  # the last verdict (for the network layer's counters)

    def limit(self, response: bytes, ip: bytes, now: float,
              snapshot: Snapshot | None) -> bytes | None:
        """The response to send: as it is, truncated (slipped), or None (dropped)."""
        return self.limit_account(response, ip, now, response_account(response, snapshot))

    def limit_account(self, response: bytes, ip: bytes, now: float,
                      account: int) -> bytes | None:
        """limit(), the response's account known (query.facts found it where it was made)."""
        verdict = self.spend(prefix_key(prefix(ip)), account, int(now))
        if verdict == PASS:
            self.last = PASS
            return response
        return self.limited(response, ip, verdict)

    def limited(self, response: bytes, ip: bytes, verdict: i64) -> bytes | None:
        """What goes out of a response spend() did not pass: the exempt get it as it is;
        else it slips (truncated) or is dropped. The verdict is kept in `last`."""
        if self.exempt and self._exempt(ip):
            verdict = PASS
        self.last = verdict
        if verdict == PASS:
            return response
        return truncated(response) if verdict == SLIP else None

    def account(self, client: bytes, kind: int, name: bytes, now: int) -> int:
        """Spend one credit of the entry of (client prefix, kind, name) at second `now`."""
        return self.spend(prefix_key(client), account_of(kind, name), now)

    def spend(self, client: i64, account: i64, now: i64) -> i64:
        """Spend one credit of the entry of (client prefix_key(), account) at second `now`."""
        key = entry_key(client, account)
        i = key % self.size * 2
        table = self.table
        rate = self.rate
        floor = self.floor
        second = now & STAMP_MASK
        head = table[i]
        if head & KEY_FIELD != key + 1:  # none, or another key's: start afresh
            balance = rate
            slips: i64 = 0
        else:
            slips = head >> SLIPS_SHIFT
            entry = table[i + 1]
            balance = (entry & CREDITS_MASK) + floor
            age = (second - (entry >> STAMP_SHIFT)) & STAMP_MASK
            if 0 < age < STAMP_HALF:  # a clock gone back (or still) earns nothing
                balance = rate if age > self.window else balance + rate * age
                if balance >= rate:
                    balance = rate
                    slips = 0
            else:
                second = entry >> STAMP_SHIFT
        balance -= 1
        verdict = PASS
        if balance < 0:
            if balance < floor:
                balance = floor
            verdict = DROP
            if self.slip:  # BIND's pattern: the first limited response slips, then every slip-th
                verdict = SLIP if slips == 0 else DROP
                slips = 0 if slips + 1 >= self.slip else slips + 1
        table[i] = (key + 1) | (slips << SLIPS_SHIFT)
        table[i + 1] = (second << STAMP_SHIFT) | (balance - floor)
        return verdict

    def _exempt(self, ip: bytes) -> bool:
        found = self.exempt_seen.get(ip)
        if found is None:
            address = ipaddress.ip_address(ip)
            found = any(address in network for network in self.exempt
                        if network.version == address.version)
            if len(self.exempt_seen) >= _EXEMPT_CACHE:
                self.exempt_seen.clear()
            self.exempt_seen[ip] = found
        return found
