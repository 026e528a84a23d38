"""DNS code points as named constants: RR types, classes, response codes, header flags."""

from __future__ import annotations

from typing import Final

# RR types. (Final: compiled, these are constants in the code, not look-ups in the module.)
A: Final = 1
NS: Final = 2
CNAME: Final = 5
SOA: Final = 6
PTR: Final = 12
MX: Final = 15
TXT: Final = 16
KEY: Final = 25
AAAA: Final = 28
SRV: Final = 33
DNAME: Final = 39
OPT: Final = 41
DS: Final = 43
RRSIG: Final = 46
NSEC: Final = 47
DNSKEY: Final = 48
NSEC3: Final = 50
NSEC3PARAM: Final = 51
SPF: Final = 99
IXFR: Final = 251
AXFR: Final = 252
MAILB: Final = 253
MAILA: Final = 254
ANY: Final = 255
CAA: Final = 257

# Classes.
CLASS_IN: Final = 1

# Response codes (BADVERS is extended: its upper bits travel in the OPT record).
NOERROR: Final = 0
FORMERR: Final = 1
SERVFAIL: Final = 2
NXDOMAIN: Final = 3
NOTIMP: Final = 4
REFUSED: Final = 5
YXDOMAIN: Final = 6
BADVERS: Final = 16

# Header flag bits (the second 16-bit word of the header).
QR: Final = 0x8000
AA: Final = 0x0400
TC: Final = 0x0200
RD: Final = 0x0100
CD: Final = 0x0010
OPCODE_MASK: Final = 0x7800

# EDNS option codes (RFC 6891), and the Extended DNS Error info codes (RFC 8914 section 4)
# we send.
NSID: Final = 3  # RFC 5001
COOKIE: Final = 10  # RFC 7873
EDE: Final = 15  # RFC 8914
EDE_OTHER: Final = 0
EDE_NOT_READY: Final = 14
EDE_PROHIBITED: Final = 18
EDE_NOT_AUTHORITATIVE: Final = 20
EDE_NOT_SUPPORTED: Final = 21
