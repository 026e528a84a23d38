"""The identification names of class CH (id.server, hostname.bind, version.server,
version.bind): their TXT answers from the settings, or REFUSED, as NSD gives them."""

from __future__ import annotations

import struct
from typing import Final

from ..store.format import ServedSettings
from ..wire.codes import ANY, NOERROR, REFUSED, TXT
from .edns import NOT_SUPPORTED, PROHIBITED

CLASS_CH: Final = 3
# Lower-case wire names: True for those the identity answers, False for the version's.
_NAMES: Final = {b"\x02id\x06server\x00": True, b"\x08hostname\x04bind\x00": True,
                 b"\x07version\x06server\x00": False, b"\x07version\x04bind\x00": False}
_TXT_CH_TTL0: Final = b"\xc0\x0c" + struct.pack("!HHI", TXT, CLASS_CH, 0)


def chaos(lower: bytes, qtype: int, served: ServedSettings) -> tuple[int, bytes, bytes]:
    """(rcode, the answer record or b"", the EDE option or b"") of a class CH query.

    A TXT (or ANY) query of a configured name gets its TXT with TTL 0, owner the question
    (NSD and Knot: no AA); one of a name not configured is REFUSED with EDE Prohibited (NSD's
    hide-identity, hide-version); any other name or type is REFUSED, EDE Not Supported."""
    identity = _NAMES.get(lower)
    if identity is None or qtype not in (TXT, ANY):
        return REFUSED, b"", NOT_SUPPORTED
    rdata = served.identity if identity else served.version
    if rdata is None:
        return REFUSED, b"", PROHIBITED
    return NOERROR, _TXT_CH_TTL0 + struct.pack("!H", len(rdata)) + rdata, b""
