"""The layers: every import of the package goes one way, and the query path loads no reader."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dnsbackend"
if not PACKAGE.is_dir():  # this file may sit one folder deeper (tests/unit/)
    PACKAGE = Path(__file__).resolve().parents[2] / "dnsbackend"

# What each subpackage may import from the package, by dotted prefix below `dnsbackend.`.
# wire -> store (format, then the rest) -> query -> serve, and zone -> store.format; update
# writes the store from zone files; transfer (AXFR, IXFR) sits beside query, used by serve;
# metrics reads what serve and query count.
# Modules directly in dnsbackend/ (settings, daemon, cli, status) are the outer layer: they
# may import anything, and nothing below imports them.
ALLOWED: dict[str, tuple[str, ...]] = {
    "wire": ("wire",),
    "store": ("store", "wire"),
    "zone": ("zone", "wire", "store.format"),
    "query": ("query", "wire", "store"),
    "sign": ("sign", "wire", "store.format"),
    "update": ("update", "sign", "zone", "store", "wire"),
    "serve": ("serve", "query", "transfer", "store", "wire"),
    "transfer": ("transfer", "store", "wire"),
    "metrics": ("metrics", "query", "serve", "store", "wire"),
}
# Libraries a layer must not import: the query path neither parses zone files (dnspython)
# nor does I/O (asyncio); the wire and store layers neither.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "wire": ("dns", "asyncio", "lmdb", "watchfiles", "pydantic"),
    "store": ("dns", "asyncio", "watchfiles", "pydantic"),
    "query": ("dns", "asyncio", "watchfiles", "pydantic"),
    "serve": ("watchfiles", "pydantic"),
    "transfer": ("asyncio", "watchfiles", "pydantic"),
    "metrics": ("watchfiles", "pydantic"),
    "sign": ("asyncio", "lmdb", "watchfiles", "pydantic"),
}


def _module_name(package: Path, path: Path) -> tuple[str, bool]:
    """(dotted name, is a package's __init__) of a file of the package."""
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    is_init = parts[-1] == "__init__"
    if is_init:
        parts.pop()
    return ".".join(parts), is_init


def _imports(package: Path, path: Path) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every import in a file, relative ones resolved; for
    `from X import y` the name is X.y when y is a module of the package, else X."""
    name, is_init = _module_name(package, path)
    here = name.split(".") if is_init else name.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                module_file = package.parent.joinpath(*sub.split("."))
                is_module = module_file.with_suffix(".py").exists() or module_file.is_dir()
                found.append((node.lineno, sub if is_module else target))
    return found


def layer_violations(package: Path) -> list[str]:
    """Every import that breaks the layering, as `file:line: what and why`."""
    top = package.name
    problems: list[str] = []
    for path in sorted(package.rglob("*.py")):
        name, _ = _module_name(package, path)
        parts = name.split(".")
        if len(parts) < 2 or parts[1] not in ALLOWED:
            continue  # the outer layer
        layer = parts[1]
        where = f"{path.relative_to(package.parent)}"
        for line, target in _imports(package, path):
            root = target.split(".")[0]
            if root == top:
                inner = target[len(top) + 1:]
                if not inner or not any(inner == p or inner.startswith(p + ".")
                                        for p in ALLOWED[layer]):
                    problems.append(f"{where}:{line}: {layer} imports {target}; {layer} may "
                                    f"import only {', '.join(ALLOWED[layer])}")
            elif root in FORBIDDEN.get(layer, ()):
                problems.append(f"{where}:{line}: {layer} imports {target}, which the {layer} "
                                "layer must not use")
    return problems


def test_imports_go_one_way() -> None:
    assert layer_violations(PACKAGE) == []


def _fake_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "dnsbackend"
    for sub in ALLOWED:
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    for rel, text in files.items():
        (package / rel).write_text(text)
    return package


@pytest.mark.parametrize(("files", "expected"), [
    ({"query/engine.py": "from ..zone.records import Record\n", "zone/records.py": ""},
     "dnsbackend/query/engine.py:1: query imports dnsbackend.zone.records; query may import "
     "only query, wire, store"),
    ({"wire/codes.py": "import dnsbackend.store.format\n", "store/format.py": ""},
     "dnsbackend/wire/codes.py:1: wire imports dnsbackend.store.format"),
    ({"store/snapshot.py": "\n\ndef f() -> None:\n    from .. import settings\n",
      "settings.py": ""},
     "dnsbackend/store/snapshot.py:4: store imports dnsbackend.settings"),
    ({"zone/nodes.py": "from ..store import snapshot\n", "store/snapshot.py": ""},
     "dnsbackend/zone/nodes.py:1: zone imports dnsbackend.store.snapshot"),
    ({"query/resolve.py": "import dns.name\n"},
     "dnsbackend/query/resolve.py:1: query imports dns.name, which the query layer must not"),
    ({"serve/udp.py": "from ..update import jobs\n", "update/jobs.py": ""},
     "dnsbackend/serve/udp.py:1: serve imports dnsbackend.update.jobs"),
])
def test_a_wrong_import_is_named(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    problems = layer_violations(_fake_package(tmp_path, files))
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_allowed_imports_pass(tmp_path: Path) -> None:
    package = _fake_package(tmp_path, {
        "zone/nodes.py": "from ..store.format import Node\nfrom ..wire.codes import SOA\n",
        "store/format.py": "", "wire/codes.py": "",
        "query/engine.py": "from ..store.snapshot import Snapshot\nfrom . import resolve\n",
        "store/snapshot.py": "", "query/resolve.py": "",
        "daemon.py": "from .update import jobs\nimport asyncio\nimport dns.name\n",
        "update/jobs.py": "",
    })
    assert layer_violations(package) == []


def test_the_query_path_loads_neither_dnspython_nor_asyncio() -> None:
    """What the serving layers import at run time, not only what their files say."""
    code = ("import sys, dnsbackend.query.responder, dnsbackend.store.transaction; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('dns', 'asyncio', 'watchfiles', 'pydantic')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent).stdout.strip()
    assert out == "[]"
