"""Who may transfer a zone: address prefixes, IPv4 and IPv6; nobody unless listed."""

from __future__ import annotations

import functools
import ipaddress


@functools.lru_cache(maxsize=256)
def _networks(prefixes: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network,
                                                  ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in prefixes)


def allowed(client: str, prefixes: tuple[str, ...]) -> bool:
    """Whether the client address is inside one of the prefixes (an IPv4 client seen as
    ::ffff:a.b.c.d on an IPv6 socket counts as its IPv4 address)."""
    if not prefixes:
        return False
    try:
        address = ipaddress.ip_address(client.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(prefixes)
               if network.version == address.version)
