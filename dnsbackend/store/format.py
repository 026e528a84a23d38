"""The stored format: zone nodes and their histories, zone meta, catalog entries, changesets
and served settings, each with one pack/unpack pair (marshal), so that readers never index a
stored tuple themselves."""

from __future__ import annotations

import marshal
import struct
from dataclasses import dataclass, field, fields
from typing import Any, Final

from ..wire.codes import NSEC, NSEC3

# A node as stored: {rtype: (ttl, (rdata, ...))}; an empty dict is an empty non-terminal.
Node = dict[int, tuple[int, tuple[bytes, ...]]]
# An owner's nodes over versions, newest first: (version, node), node None where the owner
# does not exist from that version on. A reader at version V takes the first entry whose
# version is not above V; none such: the owner did not exist yet.
History = tuple[tuple[int, Node | None], ...]
RR = tuple[bytes, int, int, bytes]  # owner (wire, lower case), type, TTL, rdata

FORMAT: Final = 2  # bump when the stored layout changes; older stores are rebuilt from the files
DEFAULT_UDP_PAYLOAD: Final = 1232  # the DNS Flag Day 2020 size: no IP fragmentation


@dataclass
class ZoneMeta:
    """What the catalog and the answer engine need to know about a zone without reading nodes."""

    origin: bytes  # apex, wire form, letter case as written
    serial: int
    soa_ttl: int
    negative_ttl: int  # min(SOA TTL, SOA MINIMUM), RFC 2308
    soa_rdata: bytes
    records: int  # number of resource records
    zone_id: int = 0  # the zone's key space in the store (set when written)

    def pack(self) -> bytes:
        return marshal.dumps(
            (FORMAT, self.origin, self.serial, self.soa_ttl, self.negative_ttl,
             self.soa_rdata, self.records, self.zone_id)
        )

    @classmethod
    def unpack(cls, raw: bytes) -> ZoneMeta:
        value = marshal.loads(raw)
        if value[0] != FORMAT:
            raise ValueError("stored zone has an older layout")
        _, origin, serial, soa_ttl, negative_ttl, soa_rdata, records, zone_id = value
        return cls(origin, serial, soa_ttl, negative_ttl, soa_rdata, records, zone_id)


@dataclass
class ZoneContents:
    """A zone ready to be written: its meta and its nodes keyed by lower-case owner wire name."""

    meta: ZoneMeta
    nodes: dict[bytes, Node]

    def items(self) -> list[tuple[bytes, bytes]]:
        """(key, value) pairs in key order, values serialized, for an appending bulk write."""
        return [(name, marshal.dumps(self.nodes[name])) for name in sorted(self.nodes)]


def rrsig_ttl(node: Node, ttl: int, rdata: bytes) -> int:
    """The TTL an RRSIG goes out with: that of the RRset it covers (RFC 4034 section 3), which
    the node holds beside it; a node keeps one TTL for all its RRSIGs (`ttl`), the answer
    path sets each one's, and transfers send each one's with this."""
    covered = node.get((rdata[0] << 8) | rdata[1]) if len(rdata) >= 2 else None
    return ttl if covered is None else covered[0]


def soa_fields(rdata: bytes) -> tuple[int, int]:
    """(serial, minimum) of an SOA rdata."""
    serial, _, _, _, minimum = struct.unpack("!IIIII", rdata[-20:])
    return serial, minimum


def with_serial(rdata: bytes, serial: int) -> bytes:
    """An SOA rdata with another serial."""
    return rdata[:-20] + struct.pack("!I", serial) + rdata[-16:]


# An owner's place in its zone's chain index over versions, newest first: (version, owner,
# kinds), kinds CHAIN_NSEC | CHAIN_NSEC3 as its node holds those types from that version
# on (0: none, or no node).
ChainHistory = tuple[tuple[int, bytes, int], ...]
CHAIN_NSEC: Final = 1
CHAIN_NSEC3: Final = 2
_MAX_KEY: Final = 511  # LMDB's longest key


def chain_kinds(node: Node | None) -> int:
    """Which chains a node is part of: CHAIN_NSEC if it has an NSEC record, CHAIN_NSEC3 if
    an NSEC3 record (0 for neither, or no node)."""
    if not node:
        return 0
    return (CHAIN_NSEC if NSEC in node else 0) | (CHAIN_NSEC3 if NSEC3 in node else 0)


def chain_key(prefix: bytes, lower: bytes) -> bytes:
    """The chain index key of a lower-case wire name: `prefix`, then the name so that keys
    sort in DNSSEC canonical order (RFC 4034 section 6.1): its labels from the root down,
    octets 00 and 01 escaped (01 01, 01 02), each label ended by 00, so that a label sorts
    before every longer label it begins and a name before the names below it. Names of
    NSEC3 owners (one hash label below the origin) sort as their hashes do.

    Only names of over 250 octets nearly all 00 or 01 make a key longer than LMDB takes: it
    is cut (such names then share a place in the order)."""
    labels = []
    pos = 0
    while lower[pos]:
        end = pos + 1 + lower[pos]
        labels.append(lower[pos + 1:end])
        pos = end
    parts = [prefix]
    for label in reversed(labels):
        if 0 in label or 1 in label:  # octets as ints: bytes in bytes costs an exception
            label = label.replace(b"\x01", b"\x01\x02").replace(b"\x00", b"\x01\x01")
        parts.append(label)
        parts.append(b"\x00")
    key = b"".join(parts)
    return key if len(key) <= _MAX_KEY else key[:_MAX_KEY]


def chain_at(history: ChainHistory, version: int) -> tuple[bytes, int]:
    """(owner, kinds) of a chain index entry at `version` (kinds 0: not in a chain then)."""
    for at, owner, kinds in history:
        if at <= version:
            return owner, kinds
    return b"", 0


def pack_history(history: History) -> bytes:
    return marshal.dumps(history)


def node_at(history: History, version: int) -> Node | None:
    """An owner's node at `version`, from its history (newest first): the newest entry not
    newer than the version (most often the first); None where it had no node then."""
    for at, node in history:
        if at <= version:
            return node
    return None


def unpack_history(raw: bytes) -> History:
    value: History = marshal.loads(raw)
    return value


@dataclass
class Retired:
    """A zone version that stopped being current: freed once no reader can still use it."""

    at: float  # time.time() when it was replaced or removed
    zone_id: int
    successor: int  # the version that replaced it; 0: the zone was removed

    def pack(self) -> bytes:
        return marshal.dumps((self.at, self.zone_id, self.successor))

    @classmethod
    def unpack(cls, raw: bytes) -> Retired:
        at, zone_id, successor = marshal.loads(raw)
        return cls(at, zone_id, successor)


@dataclass
class Changeset:
    """One change of a zone, as IXFR (RFC 1995) sends it: the SOA before, the RRs removed,
    the SOA after, the RRs added. A TTL change is the old RRset removed and the new added."""

    version: int  # the zone version it produced
    old_soa: tuple[int, bytes]  # (TTL, rdata)
    new_soa: tuple[int, bytes]
    removed: list[RR] = field(default_factory=list)  # SOA not included
    added: list[RR] = field(default_factory=list)

    @property
    def from_serial(self) -> int:
        return soa_fields(self.old_soa[1])[0]

    @property
    def to_serial(self) -> int:
        return soa_fields(self.new_soa[1])[0]

    def pack(self) -> bytes:
        return marshal.dumps((FORMAT, self.version, self.old_soa, self.new_soa,
                              tuple(self.removed), tuple(self.added)))

    @classmethod
    def unpack(cls, raw: bytes) -> Changeset:
        fmt, version, old_soa, new_soa, removed, added = marshal.loads(raw)
        if fmt != FORMAT:
            raise ValueError("stored changeset has an older layout")
        return cls(version, old_soa, new_soa, list(removed), list(added))


# The status of a catalog entry.
STATUS_OK: Final = "ok"  # the file was loaded; `version` serves it
STATUS_ERROR: Final = "error"  # the last read of the file failed; `error` says why


@dataclass
class ZoneEntry:
    """A zone's catalog entry: which version serves it, and what the last load of its file did."""

    origin: str  # text form, absolute
    file: str = ""  # absolute path of the zone file
    includes: list[str] = field(default_factory=list)  # absolute paths of files it $INCLUDEs
    hash: str = ""  # digest of the file and its includes as last loaded
    failed_hash: str = ""  # digest of the content that last failed (not reported twice)
    serial: int = 0
    records: int = 0
    version: int = 0  # the zone version served; 0: none
    status: str = STATUS_OK  # STATUS_OK or STATUS_ERROR
    error: str = ""  # `file:line: message` of the last failure
    loaded_at: float = 0.0  # time.time() of the last load
    load_seconds: float = 0.0
    disabled: bool = False  # kept in the store but not served
    ctime_ns: int = 0  # ctime of the file as it was read for this entry
    zone_id: int = 0  # the zone's key space in the store; 0: none yet
    file_serial: int = 0  # the SOA serial written in the file (`serial` is the one served)

    def pack(self) -> bytes:
        return marshal.dumps(
            (FORMAT, self.origin, self.file, tuple(self.includes), self.hash, self.failed_hash,
             self.serial, self.records, self.version, self.status, self.error, self.loaded_at,
             self.load_seconds, self.disabled, self.ctime_ns, self.zone_id, self.file_serial))

    @classmethod
    def unpack(cls, raw: bytes) -> ZoneEntry:
        value = marshal.loads(raw)
        if isinstance(value, dict):  # the layout before typed entries: a dict of the fields
            return cls(**{f.name: value[f.name] for f in fields(cls) if f.name in value})
        if value[0] != FORMAT:
            raise ValueError("stored catalog entry has an older layout")
        (_, origin, file, includes, digest, failed_hash, serial, records, version, status,
         error, loaded_at, load_seconds, disabled, ctime_ns, zone_id, file_serial) = value
        return cls(origin, file, list(includes), digest, failed_hash, serial, records, version,
                   status, error, loaded_at, load_seconds, disabled, ctime_ns, zone_id,
                   file_serial)


@dataclass
class CookieSettings:
    """How DNS Cookies (RFC 7873, RFC 9018 server cookies) are answered."""

    answer: bool = True  # answer a query's COOKIE option with a server cookie
    secret: bytes = b""  # the 16-byte SipHash-2-4 key; b"": cookies are not answered
    rotate: int = 0  # seconds each derived secret is used for (the last one still accepted)
    require: bool = False  # a UDP query without a valid server cookie gets BADCOOKIE

    def pack(self) -> tuple[bool, bytes, int, bool]:
        return self.answer, self.secret, self.rotate, self.require


@dataclass
class RateLimits:
    """Response rate limiting (the BIND/NSD/Knot model); responses_per_second 0: off."""

    responses_per_second: int = 0
    slip: int = 2  # every Nth limited answer goes out truncated (0: none)
    window: int = 15  # seconds over which a client's rate is measured
    size: int = 1_000_000  # entries of the fixed-size table
    exempt: tuple[str, ...] = ()  # address prefixes never limited

    def pack(self) -> tuple[int, int, int, int, tuple[str, ...]]:
        return self.responses_per_second, self.slip, self.window, self.size, self.exempt


@dataclass
class ServedSettings:
    """Settings every serving process answers by, stored so that all workers share them."""

    udp_payload: int = DEFAULT_UDP_PAYLOAD  # the EDNS payload size we advertise and honour
    # Who may transfer a zone, by lower-case origin wire name (b"": the default for zones not
    # listed; nobody when absent): entries of an address prefix ("192.0.2.0/24", "::1") and
    # the TSIG key the request must be signed with (lower-case wire name; b"": none needed).
    transfer: dict[bytes, tuple[tuple[str, bytes], ...]] = field(default_factory=dict)
    # The TSIG keys, by lower-case wire name: (algorithm as BIND names it, secret). The
    # secrets are kept here for every worker; nothing prints this record.
    keys: dict[bytes, tuple[str, bytes]] = field(default_factory=dict, repr=False)
    nsid: bytes = b""  # the NSID option (RFC 5001) of a response, whole; b"": none sent
    identity: bytes | None = None  # TXT rdata of id.server, hostname.bind (CH); None: REFUSED
    version: bytes | None = None  # TXT rdata of version.server, version.bind; None: REFUSED
    cookies: CookieSettings = field(default_factory=CookieSettings, repr=False)
    rrl: RateLimits = field(default_factory=RateLimits)

    def pack(self) -> bytes:
        return marshal.dumps((FORMAT, self.udp_payload, self.transfer, self.keys, self.nsid,
                              self.identity, self.version, self.cookies.pack(),
                              self.rrl.pack()))

    @classmethod
    def unpack(cls, raw: bytes) -> ServedSettings:
        value: Any = marshal.loads(raw)
        if value[0] != FORMAT or len(value) != 9:
            raise ValueError("stored settings have another layout")
        _, udp_payload, transfer, keys, nsid, identity, version, cookies, rrl = value
        return cls(udp_payload, transfer, keys, nsid, identity, version,
                   CookieSettings(*cookies), RateLimits(*rrl))

    def may_transfer(self, origin_lower: bytes) -> tuple[tuple[str, bytes], ...]:
        """The transfer ACL of a zone: (address prefix, key needed or b"") entries."""
        found = self.transfer.get(origin_lower)
        return self.transfer.get(b"", ()) if found is None else found
