"""Which modules of the query path are compiled with mypyc, and the guard against stale builds.

setup.py reads NATIVE_MODULES from this file without importing the package; the package
runs the guard when it is imported.
"""

from __future__ import annotations

import os

NATIVE_MODULES = ("wire", "answer", "fastpath", "snapshot", "compile", "udpbatch")


def refuse_stale(package_dir: str) -> None:
    """In a source checkout, a compiled module older than its .py would run the old code."""
    if not os.path.exists(os.path.join(package_dir, os.pardir, "setup.py")):
        return  # an installed package: its files are written together
    for entry in os.listdir(package_dir):
        name, _, rest = entry.partition(".")
        if name in NATIVE_MODULES and rest.endswith(("so", "pyd")):
            source = os.path.join(package_dir, name + ".py")
            if os.path.getmtime(source) > os.path.getmtime(os.path.join(package_dir, entry)):
                raise ImportError(
                    f"dnsbackend/{entry} is older than dnsbackend/{name}.py: run `make` "
                    "(any target rebuilds it) or delete dnsbackend/*.so to run pure Python")
