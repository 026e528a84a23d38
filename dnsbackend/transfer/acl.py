"""Who may transfer a zone: entries of an address prefix (IPv4 or IPv6) and optionally a
TSIG key the request must be signed with; nobody unless listed."""

from __future__ import annotations

import functools
import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# An entry: (address or prefix, key name in lower-case wire form, b"" for none).
Entry = tuple[str, bytes]


@functools.lru_cache(maxsize=256)
def _networks(entries: tuple[Entry, ...]) -> tuple[tuple[Network, bytes], ...]:
    return tuple((ipaddress.ip_network(prefix, strict=False), key) for prefix, key in entries)


def _address(client: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(client.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def allowed(client: str, entries: tuple[Entry, ...], key: bytes | None = None) -> bool:
    """Whether a request from the client address, signed with `key` (lower-case wire name,
    verified) or unsigned (None), matches an entry: the address inside the entry's prefix
    and, where the entry names a key, signed with that key. An entry without a key takes
    unsigned and signed requests alike. An IPv4 client seen as ::ffff:a.b.c.d on an IPv6
    socket counts as its IPv4 address."""
    address = _address(client) if entries else None
    if address is None:
        return False
    return any(address in network and (not needed or needed == key)
               for network, needed in _networks(entries) if network.version == address.version)


def keys_for(client: str, entries: tuple[Entry, ...]) -> set[bytes] | None:
    """The keys the entries for the client's address name (b"" for an entry without one);
    None when no entry covers the address."""
    address = _address(client)
    if address is None:
        return None
    found = {needed for network, needed in _networks(entries)
             if network.version == address.version and address in network}
    return found or None
