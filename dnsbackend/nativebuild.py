"""Which modules of the query path are compiled with mypyc, and the guard against stale builds.

setup.py reads NATIVE_MODULES from this file without importing the package; the package
runs the guard when it is imported.
"""

from __future__ import annotations

import os

# Dotted names below the package. The query path (wire, query, the stored format and the
# snapshot, batched UDP) and the load time's hot path: the fast zone reader, the builder it
# feeds and the step from records to nodes.
NATIVE_MODULES = (
    "wire.codes", "wire.message", "wire.compress",
    "store.format", "store.snapshot",
    "query.engine", "query.resolve", "query.denial", "query.encode", "query.responder",
    "query.edns", "query.ident", "query.cookies", "query.rrl", "query.facts",
    "zone.records", "zone.fastreader", "zone.nodes",
    "serve.udpbatch",
    "transfer.stream", "transfer.xfr",
)


def module_path(package_dir: str, name: str, suffix: str = ".py") -> str:
    return os.path.join(package_dir, *name.split(".")) + suffix


def refuse_stale(package_dir: str) -> None:
    """In a source checkout, a compiled module older than its .py would run the old code."""
    if not os.path.exists(os.path.join(package_dir, os.pardir, "setup.py")):
        return  # an installed package: its files are written together
    for name in NATIVE_MODULES:
        folder, _, base = module_path(package_dir, name, "").rpartition(os.sep)
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        source = module_path(package_dir, name)
        for entry in entries:
            stem, _, rest = entry.partition(".")
            if stem == base and rest.endswith(("so", "pyd")) and \
                    os.path.getmtime(source) > os.path.getmtime(os.path.join(folder, entry)):
                shown = os.path.relpath(os.path.join(folder, entry), os.path.dirname(package_dir))
                raise ImportError(
                    f"{shown} is older than {os.path.relpath(source, os.path.dirname(package_dir))}"
                    ": run `make` (any target rebuilds it) or delete the compiled modules "
                    "(make clean-native) to run pure Python")
