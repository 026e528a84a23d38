# dnsbackend: make run serves ./zones on port 53; make test runs lint, types and every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The query path, compiled in place with mypyc (setup.py). Compiled code relies on the
# types of every module it imports, so a change to any module rebuilds it.
NATIVE := dnsbackend/native__mypyc$(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
NATIVE_SRC := $(wildcard dnsbackend/*.py dnsbackend/*/*.py)
NATIVE_SO = dnsbackend/*.so dnsbackend/*/*.so

.PHONY: run test lint typecheck unit conformance bench clean clean-native native

native: $(NATIVE)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "setuptools>=77"
	DNSBACKEND_PURE=1 $(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# `DNSBACKEND_PURE=1 make run` (or bench, test) removes them: pure Python, for py-spy.
ifeq ($(DNSBACKEND_PURE),1)
.PHONY: $(NATIVE)
endif
$(NATIVE): $(STAMP) $(NATIVE_SRC) setup.py
	rm -f $(NATIVE_SO)
	$(BIN)/python setup.py --quiet build_ext --inplace
	touch -c $(NATIVE_SO)  # copies keep the build cache's times; these are current
	@test -n "$$DNSBACKEND_PURE" || test -f $(NATIVE) || echo "dnsbackend: running as pure Python"

run: $(NATIVE)
	$(BIN)/dnsbackend serve $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check dnsbackend tests testkit bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck $(NATIVE)
	$(BIN)/pytest -q -n 2 tests

conformance: $(NATIVE)
	$(BIN)/pytest -q tests/system/test_conformance.py

bench: $(NATIVE)
	$(BIN)/python -m bench.compare $(ARGS)

clean-native:
	rm -f $(NATIVE_SO)

clean:
	rm -rf $(VENV) var build *.egg-info $(NATIVE_SO)
