# dnsbackend: make run serves ./zones on port 53; make test runs lint, types and every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit conformance bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/dnsbackend serve $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check dnsbackend tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q -n 2 tests

conformance: $(STAMP)
	$(BIN)/pytest -q tests/test_conformance.py

bench: $(STAMP)
	$(BIN)/python bench/compare.py $(ARGS)

clean:
	rm -rf $(VENV) var build *.egg-info
