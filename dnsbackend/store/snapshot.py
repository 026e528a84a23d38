"""A read-only, lock-free view of the store: the served zones of one catalog version.

The server asks `Reader.snapshot()` before each query. It costs one LMDB read transaction
on the catalog while nothing changed; when the catalog moved on, a new Snapshot is made
that keeps the ZoneViews (and their caches) of every zone whose version did not change.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
from typing import Any, Final

import lmdb

from ..wire.codes import NSEC3, NSEC3PARAM, RRSIG
from ..wire.message import label_starts
from .database import SERVED_KEY, Store, chain_prefix, meta_key, node_prefix, read_entries
from .format import (
    CHAIN_NSEC,
    CHAIN_NSEC3,
    DEFAULT_UDP_PAYLOAD,
    Node,
    ServedSettings,
    ZoneEntry,
    ZoneMeta,
    chain_at,
    chain_key,
    node_at,
)

NODE_CACHE_LIMIT: Final = 400_000  # per zone version; cleared when full
_BASE32HEX: Final = b"0123456789abcdefghijklmnopqrstuv"  # RFC 4648 section 7, lower case
# Ten bits of a hash as two base32hex digits: a 20-octet SHA-1 hash is 16 of them.
_DIGIT_PAIRS: Final = [bytes((_BASE32HEX[i >> 5], _BASE32HEX[i & 31])) for i in range(1024)]
RESPONSE_CACHE_LIMIT: Final = 200_000


_UNREAD: Any = object()  # a name not yet looked up in nodes (None means "no such name")


class StaleSnapshot(Exception):
    """The zone version this snapshot points at was freed; take a new snapshot."""


class ZoneView:
    """One version of one zone, read from LMDB on demand and cached (versions never change)."""

    __slots__ = ("env", "origin", "origin_lower", "depth", "version", "prefix", "meta_key",
                 "meta", "nodes", "responses", "outcomes", "apex", "signed", "nsec3",
                 "nsec3_iterations", "nsec3_salt", "signed_responses", "signed_outcomes",
                 "chain_prefix", "_chain_end", "_hashed", "proofs", "unmatched", "_matches",
                 "_wildcard_covers", "pieces")

    def __init__(self, env: lmdb.Environment, version: int, meta: ZoneMeta) -> None:
        self.env = env
        self.version = version
        self.prefix = node_prefix(meta.zone_id)  # + owner: the owner's node history
        self.meta_key = meta_key(version)  # gone once this version is freed
        self.meta = meta
        self.origin = meta.origin
        self.origin_lower = meta.origin.lower()
        self.depth = len(label_starts(self.origin_lower))  # labels, the root's included
        self.nodes: dict[bytes, Node | None] = {}
        self.responses: dict[Any, Any] = {}  # filled by the answer engine, per name
        self.outcomes: dict[Any, Any] = {}  # and per cut or closest encloser
        self.nsec3 = False  # denial by NSEC3 (RFC 5155), else by NSEC: set from the apex
        apex = self.node(self.origin_lower)
        if apex is None:
            raise StaleSnapshot(f"zone version {version} has no apex")
        self.apex: Node = apex
        # Signed: the apex has signatures; the answers to queries with DO then carry
        # signatures and proofs (query.resolve), kept apart from the DO=0 answers.
        self.signed = RRSIG in apex
        # NSEC3: the parameters of the chain (an NSEC3PARAM of SHA-1, flags 0), and the
        # NSEC3 owner names hidden from lookups (RFC 5155 section 7.2.8: they answer
        # NXDOMAIN), their nodes kept apart for the proofs.
        self.nsec3_iterations = 0
        self.nsec3_salt = b""
        self._hashed: dict[bytes, Node] = {}
        for rdata in apex.get(NSEC3PARAM, (0, ()))[1]:
            if rdata[0] == 1 and rdata[1] == 0:
                self.nsec3 = True
                self.nsec3_iterations = int.from_bytes(rdata[2:4], "big")
                self.nsec3_salt = rdata[5:5 + rdata[4]]
                break
        self.signed_responses: dict[Any, Any] = {}
        self.signed_outcomes: dict[Any, Any] = {}  # DO=1 answers per proof (query.engine)
        # What the proofs of denial of this version need again and again, found once: the
        # records of each NSEC/NSEC3 owner as the answer engine sends them (filled there),
        # the NSEC3 owner matching each existing name, and the record covering the
        # wildcard below each existing name. The keys are existing names (or owners), so
        # these are bounded by the zone, not by the names clients make up.
        self.proofs: dict[bytes, Any] = {}
        # The same records, and the negative answer's SOA (owner b""), encoded once to be
        # placed in any answer (query.encode's pieces), per (owner, length of the name
        # they are encoded against).
        self.pieces: dict[tuple[bytes, int], Any] = {}
        # The proof of each existing name without an NSEC/NSEC3 record of its own (an
        # empty non-terminal; with NSEC3 opt-out, a delegation), filled by query.denial.
        self.unmatched: dict[bytes, Any] = {}
        self._matches: dict[bytes, bytes | None] = {}
        self._wildcard_covers: dict[bytes, bytes | None] = {}
        self.chain_prefix = chain_prefix(meta.zone_id)  # + chain key: the chain index
        self._chain_end = chain_prefix(meta.zone_id + 1)  # the first key after it

    def node(self, lower: bytes) -> Node | None:
        """The node at a lower-case wire name, or None if no such name exists in the zone."""
        nodes = self.nodes
        node = nodes.get(lower, _UNREAD)
        if node is not _UNREAD:  # a get, not try/except: compiled, raising costs more
            return node
        txn = self.env.begin(buffers=True)  # begin/abort: half the cost of `with`
        try:
            raw = txn.get(self.prefix + lower)
            node = None if raw is None else node_at(marshal.loads(raw), self.version)
            if node is None and txn.get(self.meta_key) is None:
                raise StaleSnapshot(f"zone version {self.version} was freed")
        finally:
            txn.abort()
        if len(nodes) >= NODE_CACHE_LIMIT:
            nodes.clear()
        if node is not None and self.nsec3 and NSEC3 in node:
            self._hashed[lower] = node
            node = None
        nodes[lower] = node
        return node

    def nsec3_node(self, lower: bytes) -> Node | None:
        """The node of an NSEC3 owner name (hidden from node())."""
        if lower not in self._hashed:
            self.node(lower)
        return self._hashed.get(lower)


    def covering_nsec(self, lower: bytes) -> bytes:
        """The owner of the NSEC record that matches or covers a lower-case wire name: the
        last NSEC owner not after it in canonical order (the last of all covers the
        names after it, its next name being the apex). One cursor step in the store's
        chain index (written with the version, store.format.chain_key)."""
        found = self._chain_before(chain_key(self.chain_prefix, lower), CHAIN_NSEC, True)
        return self.origin_lower if found is None else found

    def nsec3_label(self, lower: bytes) -> bytes:
        """A name's NSEC3 hash (RFC 5155 section 5) as an owner's first label: base32hex
        in lower case, which sorts as the hashes do."""
        salt = self.nsec3_salt
        digest = hashlib.sha1(lower + salt).digest()
        for _ in range(self.nsec3_iterations):
            digest = hashlib.sha1(digest + salt).digest()
        pairs = _DIGIT_PAIRS
        digits: list[bytes] = []
        for at in range(0, 20, 5):  # 40 bits at a time (a short int, compiled): 8 digits
            bits = ((digest[at] << 32) | (digest[at + 1] << 24) | (digest[at + 2] << 16)
                    | (digest[at + 3] << 8) | digest[at + 4])
            digits.append(pairs[bits >> 30])
            digits.append(pairs[(bits >> 20) & 1023])
            digits.append(pairs[(bits >> 10) & 1023])
            digits.append(pairs[bits & 1023])
        return b"".join(digits)

    def nsec3_match(self, lower: bytes) -> bytes | None:
        """The owner of the NSEC3 record matching a name, or None; kept per existing name
        (any other the caller asks once: a closest encloser's ancestors in an opt-out
        span)."""
        matches = self._matches
        found = matches.get(lower, _UNREAD)
        if found is not _UNREAD:
            return found
        owner = self._hashed_owner(lower)
        match = owner if self.nsec3_node(owner) is not None else None
        if self.node(lower) is not None:
            if len(matches) >= NODE_CACHE_LIMIT:
                matches.clear()
            matches[lower] = match
        return match

    def nsec3_cover(self, lower: bytes) -> bytes | None:
        """The owner of the NSEC3 record covering a name's hash (the last covers the
        hashes after it and before the first); None when the hash is an owner's own, so
        that no record can cover it (RFC 5155 section 7.2.9: for a name that does not
        exist, a collision)."""
        owner = self._hashed_owner(lower)
        found = self._chain_before(chain_key(self.chain_prefix, owner), CHAIN_NSEC3, False,
                                   owner)
        if found == owner:
            return None
        return self.origin_lower if found is None else found

    def wildcard_cover(self, encloser: bytes) -> bytes | None:
        """The owner of the NSEC or NSEC3 record covering the wildcard at an existing name
        (`*.encloser`, the one an NXDOMAIN proves absent), or None for an NSEC3 collision:
        found once per name of this version."""
        covers = self._wildcard_covers
        found = covers.get(encloser, _UNREAD)
        if found is not _UNREAD:
            return found
        wildcard = b"\x01*" + encloser
        cover = self.nsec3_cover(wildcard) if self.nsec3 else self.covering_nsec(wildcard)
        if len(covers) >= NODE_CACHE_LIMIT:
            covers.clear()
        covers[encloser] = cover
        return cover

    def _hashed_owner(self, lower: bytes) -> bytes:
        label = self.nsec3_label(lower)
        return bytes((len(label),)) + label + self.origin_lower

    def _chain_before(self, key: bytes, kind: int, inclusive: bool,
                      owner: bytes = b"") -> bytes | None:
        """The owner of the last chain index entry of `kind` at this version before `key`
        (or at it, `inclusive`), wrapping round to the last of all; None if there is none.
        `owner` (the name of `key`) itself when its own entry is in the chain."""
        txn = self.env.begin(buffers=True)
        try:
            cursor = txn.cursor()
            if cursor.set_range(key):
                here = bytes(cursor.key()) == key
                if here and owner and _chain_owner(cursor.value(), self.version, kind) == owner:
                    found: bytes | None = owner
                else:
                    found = self._walk_back(cursor, kind, inclusive and here)
            else:  # nothing at or after it in the store: from the last key back
                found = self._walk_back(cursor, kind, True) if cursor.last() else None
            if found is None:  # nothing before it: the last of all covers it
                if cursor.set_range(self._chain_end):
                    found = self._walk_back(cursor, kind, False)
                elif cursor.last():
                    found = self._walk_back(cursor, kind, True)
            if txn.get(self.meta_key) is None:
                raise StaleSnapshot(f"zone version {self.version} was freed")
        finally:
            txn.abort()
        return found

    def _walk_back(self, cursor: Any, kind: int, here: bool) -> bytes | None:
        """From the cursor's key (itself too if `here`) back to the start of the chain
        index: the first owner in the chain of `kind` at this version."""
        prefix = self.chain_prefix
        if not here and not cursor.prev():
            return None
        while bytes(cursor.key()[:len(prefix)]) == prefix:
            found = _chain_owner(cursor.value(), self.version, kind)
            if found is not None:
                return found
            if not cursor.prev():
                return None
        return None


def _chain_owner(raw: Any, version: int, kind: int) -> bytes | None:
    """The owner of a chain index entry if it is in the chain of `kind` at `version`."""
    owner, kinds = chain_at(marshal.loads(raw), version)
    return owner if kinds & kind else None


def canonical_key(lower: bytes) -> tuple[bytes, ...]:
    """A lower-case wire name as a key that sorts in DNSSEC canonical order: its labels
    from the root down (tuples compare label by label, a shorter one first)."""
    starts = label_starts(lower)
    return tuple(lower[starts[i] + 1:starts[i] + 1 + lower[starts[i]]]
                 for i in range(len(starts) - 2, -1, -1))


class Snapshot:
    """The zones served at one catalog transaction, keyed by lower-case origin wire name."""

    __slots__ = ("txn_id", "zones", "udp_payload", "served", "memo", "ready")

    def __init__(self, txn_id: int, zones: dict[bytes, ZoneView],
                 udp_payload: int = DEFAULT_UDP_PAYLOAD) -> None:
        self.txn_id = txn_id
        self.zones = zones
        self.udp_payload = udp_payload  # the EDNS payload size we advertise and honour
        self.served = ServedSettings(udp_payload)  # all the served settings (transfers...)
        # fastpath's memo of responses, for UDP [0] and TCP [1]
        self.memo: tuple[dict[bytes, bytes], dict[bytes, bytes]] = ({}, {})
        # False while the store holds no zone and no served settings: a first start's, not
        # yet filled (names are answered SERVFAIL, EDE Not Ready, rather than REFUSED)
        self.ready = True

    def find_zone(self, lower: bytes) -> ZoneView | None:
        """The served zone closest to a name (longest origin that is a suffix of it)."""
        zones = self.zones
        if not zones:
            return None
        pos = 0
        while True:
            zone = zones.get(lower[pos:])
            if zone is not None:
                return zone
            size = lower[pos]
            if size == 0:
                return None
            pos += size + 1


class Reader:
    """Hands out the current Snapshot of a store, rebuilding it only when the catalog changed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._current = Snapshot(-1, {})

    def snapshot(self) -> Snapshot:
        # Runs once per query: begin/abort costs less than half of `with begin()`.
        txn = self.store.catalog_env.begin()
        try:
            txn_id = txn.id()
            if txn_id == self._current.txn_id:
                return self._current
            entries = read_entries(txn)
            served = txn.get(SERVED_KEY)
        finally:
            txn.abort()
        self._current = self._build(txn_id, entries)
        self._current.ready = served is not None or bool(self._current.zones)
        if served is not None:
            # A record of another layout is rewritten by the next settings sync.
            with contextlib.suppress(ValueError):
                self._current.served = ServedSettings.unpack(served)
                self._current.udp_payload = self._current.served.udp_payload
        return self._current

    def refresh(self) -> Snapshot:
        """Forget the current snapshot (its versions were freed) and read a new one."""
        self._current = Snapshot(-1, {})
        return self.snapshot()

    def _build(self, txn_id: int, entries: dict[bytes, ZoneEntry]) -> Snapshot:
        old = self._current.zones
        zones: dict[bytes, ZoneView] = {}
        for origin_lower, entry in entries.items():
            version = entry.version
            if not version or entry.disabled:
                continue
            view = old.get(origin_lower)
            if view is None or view.version != version:
                with self.store.zones_env.begin() as ztxn:
                    raw = ztxn.get(meta_key(version))
                if raw is None:
                    continue  # freed already: a newer catalog is on its way
                try:
                    view = ZoneView(self.store.zones_env, version, ZoneMeta.unpack(raw))
                except (StaleSnapshot, ValueError):
                    continue
            zones[origin_lower] = view
        return Snapshot(txn_id, zones)
