"""The stored format: zone nodes, zone meta, catalog entries and served settings, each with
one pack/unpack pair (marshal), so that readers never index a stored tuple themselves."""

from __future__ import annotations

import marshal
import struct
from dataclasses import dataclass, field, fields
from typing import Any, Final

# A node as stored: {rtype: (ttl, (rdata, ...))}; an empty dict is an empty non-terminal.
Node = dict[int, tuple[int, tuple[bytes, ...]]]

FORMAT: Final = 1  # bump when the stored layout changes; older stores are rebuilt from the files
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

    def pack(self) -> bytes:
        return marshal.dumps(
            (FORMAT, self.origin, self.serial, self.soa_ttl, self.negative_ttl,
             self.soa_rdata, self.records)
        )

    @classmethod
    def unpack(cls, raw: bytes) -> ZoneMeta:
        fmt, origin, serial, soa_ttl, negative_ttl, soa_rdata, records = marshal.loads(raw)
        if fmt != FORMAT:
            raise ValueError("stored zone has an older layout")
        return cls(origin, serial, soa_ttl, negative_ttl, soa_rdata, records)


@dataclass
class ZoneContents:
    """A zone ready to be written: its meta and its nodes keyed by lower-case owner wire name."""

    meta: ZoneMeta
    nodes: dict[bytes, Node]

    def items(self) -> list[tuple[bytes, bytes]]:
        """(key, value) pairs in key order, values serialized, for an appending bulk write."""
        return [(name, marshal.dumps(self.nodes[name])) for name in sorted(self.nodes)]


def soa_fields(rdata: bytes) -> tuple[int, int]:
    """(serial, minimum) of an SOA rdata."""
    serial, _, _, _, minimum = struct.unpack("!IIIII", rdata[-20:])
    return serial, minimum


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

    def pack(self) -> bytes:
        return marshal.dumps(
            (FORMAT, self.origin, self.file, tuple(self.includes), self.hash, self.failed_hash,
             self.serial, self.records, self.version, self.status, self.error, self.loaded_at,
             self.load_seconds, self.disabled, self.ctime_ns))

    @classmethod
    def unpack(cls, raw: bytes) -> ZoneEntry:
        value = marshal.loads(raw)
        if isinstance(value, dict):  # the layout before typed entries: a dict of the fields
            return cls(**{f.name: value[f.name] for f in fields(cls) if f.name in value})
        (fmt, origin, file, includes, digest, failed_hash, serial, records, version, status,
         error, loaded_at, load_seconds, disabled, ctime_ns) = value
        if fmt != FORMAT:
            raise ValueError("stored catalog entry has an older layout")
        return cls(origin, file, list(includes), digest, failed_hash, serial, records, version,
                   status, error, loaded_at, load_seconds, disabled, ctime_ns)


@dataclass
class ServedSettings:
    """Settings every serving process answers by, stored so that all workers share them."""

    udp_payload: int = DEFAULT_UDP_PAYLOAD  # the EDNS payload size we advertise and honour

    def pack(self) -> bytes:
        return marshal.dumps((FORMAT, self.udp_payload))

    @classmethod
    def unpack(cls, raw: bytes) -> ServedSettings:
        value: Any = marshal.loads(raw)
        fmt, udp_payload = value
        if fmt != FORMAT:
            raise ValueError("stored settings have an older layout")
        return cls(udp_payload)
