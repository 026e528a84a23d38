"""dnsbackend: an authoritative DNS server answering from zone files through an LMDB store."""

__version__ = "0.1.0"
