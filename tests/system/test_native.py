"""The compiled query path: in use when built, refused when stale, and the same as pure Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import dnsbackend

from ..conftest import ROOT

# The tests of the compiled modules that need no server process, by path below tests/: the
# query engine's, and the zone reader's (the fast reader against dnspython's).
ENGINE_TESTS = ["unit/test_answer.py", "unit/test_outcomes.py", "unit/test_wire.py",
                "unit/test_fastpath.py", "unit/test_compile.py", "unit/test_zonefast.py"]


@pytest.mark.skipif(os.environ.get("DNSBACKEND_PURE") == "1", reason="pure Python asked for")
def test_query_path_is_compiled() -> None:
    """`make` builds the query path with mypyc; the suite runs against what it built."""
    import importlib

    for name in dnsbackend.NATIVE_MODULES:
        module = importlib.import_module(f"dnsbackend.{name}")
        assert module.__file__ is not None
        assert not module.__file__.endswith(".py"), f"dnsbackend.{name} is not compiled"


def _copy_package(dest: Path) -> None:
    shutil.copytree(ROOT / "dnsbackend", dest / "dnsbackend",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    shutil.copy(ROOT / "setup.py", dest / "setup.py")


@pytest.mark.parametrize("module", ["query/engine", "wire/message", "serve/udpbatch"])
def test_stale_compiled_module_is_refused(tmp_path: Path, module: str) -> None:
    """A compiled module of any subpackage that is older than its source stops the import."""
    _copy_package(tmp_path)
    package = tmp_path / "dnsbackend"
    stale = package / (module + sysconfig.get_config_var("EXT_SUFFIX"))
    stale.write_bytes(b"")  # never loaded: the package refuses before
    os.utime(stale, (1_000_000_000, 1_000_000_000))
    run = subprocess.run([sys.executable, "-c", "import dnsbackend"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode != 0
    assert f"dnsbackend/{module}{stale.suffix and stale.name[len(Path(module).name):]} " \
        f"is older than dnsbackend/{module}.py" in run.stderr
    assert "run `make`" in run.stderr


def test_pure_python_engine_passes_the_engine_tests(tmp_path: Path) -> None:
    """The fallback where nothing could be compiled answers as the compiled modules do."""
    _copy_package(tmp_path)
    shutil.copytree(ROOT / "tests", tmp_path / "tests",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "testkit", tmp_path / "testkit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import sys, pytest, dnsbackend.query.engine as a; "
            "assert a.__file__.endswith('.py'), a.__file__; "
            "sys.exit(pytest.main(sys.argv[1:]))")
    run = subprocess.run([sys.executable, "-c", code, "-q", "-p", "no:cacheprovider",
                          *[f"tests/{t}" for t in ENGINE_TESTS]],
                         cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " passed" in run.stdout
