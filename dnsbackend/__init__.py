"""dnsbackend: an authoritative DNS server answering from zone files through an LMDB store."""

import os as _os

from .nativebuild import NATIVE_MODULES, refuse_stale

__version__ = "0.1.0"
__all__ = ["NATIVE_MODULES", "__version__"]

refuse_stale(_os.path.dirname(__file__))
