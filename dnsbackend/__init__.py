"""dnsbackend: an authoritative DNS server answering from zone files through an LMDB store."""

import os as _os

__version__ = "0.1.0"

# The query path's modules, compiled with mypyc where the build could (setup.py).
NATIVE_MODULES = ("wire", "answer", "fastpath", "snapshot", "compile", "udpbatch")


def _refuse_stale_native() -> None:
    """In a source checkout, a compiled module older than its .py would run the old code."""
    here = _os.path.dirname(__file__)
    if not _os.path.exists(_os.path.join(here, _os.pardir, "setup.py")):
        return  # an installed package: its files are written together
    for entry in _os.listdir(here):
        name, _, rest = entry.partition(".")
        if name in NATIVE_MODULES and rest.endswith(("so", "pyd")):
            source = _os.path.join(here, name + ".py")
            if _os.path.getmtime(source) > _os.path.getmtime(_os.path.join(here, entry)):
                raise ImportError(
                    f"dnsbackend/{entry} is older than dnsbackend/{name}.py: run `make` "
                    "(any target rebuilds it) or delete dnsbackend/*.so to run pure Python")


_refuse_stale_native()
