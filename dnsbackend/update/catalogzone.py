"""The RFC 9432 catalog zone of the served zones, kept in step inside each write transaction.

The catalog zone (`[catalog] zone = "catalog.example."`) is a zone like the others in the
store (versions, journal, IXFR, NOTIFY), made from the catalog entries instead of a file:

    catalog.example.                    0 SOA invalid. invalid. SERIAL 3600 600 2147483646 0
    catalog.example.                    0 NS  invalid.
    version.catalog.example.            0 TXT "2"
    <id>.zones.catalog.example.         0 PTR member.example.     (one per served zone)

RFC 9432 section 4.1 asks for an SOA and an NS record (`invalid.`: a catalog is not for
resolution) and `version` TXT "2"; section 4.2 for one PTR per member under `zones`, whose
owner's first label is unique and stays the same while the member stays (a changed id
tells consumers to reset the member's state, section 5.4). The id here is the first 64
bits of SHA-256 over the member's lower-case wire name, in hexadecimal: the same zone has
the same id across restarts, edits and serial changes without storing anything. (Knot's
generator hashes the name with the time it joined, so a zone removed and added again gets
a new id; here it gets its old one, which a consumer that saw the removal treats as new
anyway.) The TTLs and SOA timers are those of Knot's generated catalogs.

The served catalog zone's origin and its last serial are kept in the catalog database
(CATALOG_ZONE_KEY): a settings change that renames or drops it removes the old one in the
same transaction, and one turned off and on again comes back with a higher serial.
"""

from __future__ import annotations

import hashlib
import marshal
import time

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from ..store.database import CATALOG_ZONE_KEY
from ..store.format import STATUS_OK, Node, ZoneContents, ZoneEntry, ZoneMeta
from ..store.transaction import Transaction
from ..wire.codes import NS, PTR, SOA, TXT
from .outcome import Action, Outcome
from .policy import WantedZone, ZonePolicy

CATALOG_TTL = 0
SOA_TIMERS = "3600 600 2147483646 0"  # refresh, retry, expire, minimum
SCHEMA_VERSION = b"\x012"  # TXT "2" (RFC 9432 section 4.3)
_ZONES_LABEL = b"\x05zones"
_VERSION_LABEL = b"\x07version"
_INVALID = b"\x07invalid\x00"
SETTING = "catalog.zone"


def member_id(member_lower: bytes) -> str:
    """The unique id label of a member zone (its lower-case wire name) in the catalog."""
    return hashlib.sha256(member_lower).hexdigest()[:16]


def member_owner(member_lower: bytes, catalog_lower: bytes) -> bytes:
    """`<id>.zones.<catalog>`, lower-case wire form: the owner of a member's PTR."""
    label = member_id(member_lower).encode()
    return bytes([len(label)]) + label + _ZONES_LABEL + catalog_lower


def _rdata(rtype: int, text: str) -> bytes:
    rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.RdataType.make(rtype), text)
    wire = rdata.to_wire()
    assert wire is not None
    return wire


def catalog_contents(catalog: bytes, members: dict[bytes, bytes], serial: int) -> ZoneContents:
    """The catalog zone `catalog` (wire, as written) of `members` (lower-case wire name ->
    wire name as written) with SOA serial `serial`."""
    apex = catalog.lower()
    soa = _rdata(SOA, f"invalid. invalid. {serial} {SOA_TIMERS}")
    nodes: dict[bytes, Node] = {
        apex: {SOA: (CATALOG_TTL, (soa,)), NS: (CATALOG_TTL, (_INVALID,))},
        _VERSION_LABEL + apex: {TXT: (CATALOG_TTL, (SCHEMA_VERSION,))},
    }
    if members:
        nodes[_ZONES_LABEL + apex] = {}  # an empty non-terminal above the members
    for member_lower, member in members.items():
        nodes[member_owner(member_lower, apex)] = {PTR: (CATALOG_TTL, (member,))}
    meta = ZoneMeta(catalog, serial, CATALOG_TTL, 0, soa, 3 + len(members))
    return ZoneContents(meta, nodes)


def is_member(entry: ZoneEntry | None) -> bool:
    """Whether a catalog entry's zone is served, and so listed in the catalog zone."""
    return entry is not None and bool(entry.version) and not entry.disabled


def served(txn: Transaction) -> bytes:
    """The lower-case wire origin of the catalog zone the store serves; b"": none."""
    return _state(txn)[0]


def _state(txn: Transaction) -> tuple[bytes, int]:
    """(the catalog zone served or b"", the last serial any catalog zone was served with)."""
    raw = txn.catalog_value(CATALOG_ZONE_KEY)
    if raw is None:
        return b"", 0
    origin, serial = marshal.loads(raw)
    return origin, serial


def clash(policy: ZonePolicy, origin_lower: bytes, path: str) -> Outcome | None:
    """A zone file for the catalog zone's name is not served (the catalog is): say so."""
    if not policy.catalog_lower or origin_lower != policy.catalog_lower:
        return None
    return Outcome(policy.catalog, Action.FAILED, path, error=(
        f"{path}:1: {policy.catalog} is the catalog zone (setting '{SETTING}'); "
        "a zone file of that name is not served"))


def refresh(txn: Transaction, policy: ZonePolicy, touched: bytes | None = None) -> list[Outcome]:
    """Inside a write transaction: make the catalog zone list the zones served now.

    `touched`: the one zone this transaction may have added or removed; when its listing
    is already right, nothing is read (an ordinary edit costs one lookup). None: check
    everything (a settings change)."""
    outcomes: list[Outcome] = []
    current = served(txn)
    wanted = policy.catalog_lower
    if current and current != wanted:
        outcomes.append(_remove(txn, current))
    if not wanted:
        return outcomes
    entry = txn.entry(wanted)
    if entry is not None and entry.file:
        return [*outcomes, Outcome(policy.catalog, Action.FAILED, entry.file, error=(
            f"setting '{SETTING}': {policy.catalog} is served from {entry.file}; "
            "the catalog zone needs a name of its own"))]
    if touched is not None and current == wanted and entry is not None and \
            _listed(txn, entry, touched, wanted) == is_member(txn.entry(touched)):
        return outcomes
    outcome = _rebuild(txn, policy, entry)
    return outcomes if outcome is None else [*outcomes, outcome]


def _listed(txn: Transaction, entry: ZoneEntry, member_lower: bytes, catalog: bytes) -> bool:
    """Whether the served catalog version lists a member."""
    if not entry.version:
        return False
    node = txn.node_at(entry.zone_id, entry.version, member_owner(member_lower, catalog))
    return node is not None and PTR in node


def _rebuild(txn: Transaction, policy: ZonePolicy, entry: ZoneEntry | None) -> Outcome | None:
    """A new version of the catalog zone when its members changed (or it is new)."""
    wanted = policy.catalog_lower
    members = {key: _wire(e.origin) for key, e in txn.entries().items()
               if key != wanted and is_member(e)}
    origin = _wire(policy.catalog)
    last = _state(txn)[1]
    if entry is not None and entry.version and entry.zone_id:
        txn.set_catalog_value(CATALOG_ZONE_KEY, marshal.dumps((wanted, entry.serial)))
        same = catalog_contents(origin, members, entry.serial)
        if not txn.diff(entry.zone_id, entry.version, same).changes:
            return None
        last = entry.serial
    started = time.perf_counter()
    contents = catalog_contents(origin, members, _next_serial(last))
    txn.set_catalog_value(CATALOG_ZONE_KEY, marshal.dumps((wanted, contents.meta.serial)))
    limits = policy.journal_limits(WantedZone(policy.catalog, ""))
    seconds = time.perf_counter() - started
    version = txn.put_zone(contents, ZoneEntry(policy.catalog, status=STATUS_OK,
                                               loaded_at=time.time(), load_seconds=seconds),
                           None, limits)
    return Outcome(policy.catalog, Action.LOADED, "", contents.meta.serial,
                   contents.meta.records, seconds, version=version)


def _remove(txn: Transaction, catalog_lower: bytes) -> Outcome:
    """The catalog zone of another name (or none) is wanted now: stop serving this one."""
    entry = txn.entry(catalog_lower)
    txn.set_catalog_value(CATALOG_ZONE_KEY, marshal.dumps((b"", _state(txn)[1])))
    origin = dns.name.from_wire(catalog_lower, 0)[0].to_text()
    if entry is not None and not entry.file:
        origin = entry.origin
        txn.remove_zone(catalog_lower)
    return Outcome(origin, Action.REMOVED, "", error=f"no longer the catalog zone "
                   f"(setting '{SETTING}')")


def _wire(origin: str) -> bytes:
    wire = dns.name.from_text(origin).to_wire()
    assert wire is not None
    return wire


def _next_serial(old: int) -> int:
    """The time in seconds (as BIND's `serial-update-method unixtime`) when that is above
    `old` in serial number arithmetic (RFC 1982), else `old` + 1 (`old`: the last serial a
    catalog zone was served with, 0: none)."""
    now = int(time.time()) & 0xFFFFFFFF
    if old and not 0 < ((now - old) & 0xFFFFFFFF) < 0x80000000:
        return (old + 1) & 0xFFFFFFFF
    return now
