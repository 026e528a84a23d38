"""Build hook: compile the query path (dnsbackend/nativebuild.py lists it) with mypyc.

The modules stay plain, typed Python; mypyc turns them into C extensions, which answer a
query about 1.4 times as fast (docs/PERFORMANCE.md). Where that cannot be done (no C
compiler, DNSBACKEND_PURE=1) the package installs and runs as pure Python.
"""

from __future__ import annotations

import os
import runpy
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Read without importing the package (whose import checks the compiled modules).
NATIVE_MODULES = runpy.run_path("dnsbackend/nativebuild.py")["NATIVE_MODULES"]
NATIVE = [f"dnsbackend/{name.replace('.', '/')}.py" for name in NATIVE_MODULES]


class OptionalBuildExt(build_ext):
    """build_ext that falls back to pure Python when the compiler fails."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, no headers: the .py modules still work
            print(f"dnsbackend: not compiled ({exc}); running as pure Python", file=sys.stderr)


def native_extensions() -> list[Extension]:
    if os.environ.get("DNSBACKEND_PURE") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("dnsbackend: mypyc not installed; running as pure Python", file=sys.stderr)
        return []
    return mypycify(NATIVE, opt_level="3", group_name="dnsbackend.native")


setup(ext_modules=native_extensions(), cmdclass={"build_ext": OptionalBuildExt})
