# netcx — every set-up step lives here so a fresh clone needs only Python 3.11, make and the registries.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= demo-out
HOST   ?= 127.0.0.1
PORT   ?= 8080
DATA   ?= data

.PHONY: help venv demo test lint typecheck archcheck pytest test-fast bench serve system-deps clean

help:
	@echo "make demo    - install into .venv, simulate a small world, run the pipeline, write $(OUT)/report.html"
	@echo "make test    - lint (ruff), types (mypy --strict), architecture (import-linter), tests (pytest)"
	@echo "make bench   - run every benchmark in bench/, write bench/results.json"
	@echo "make serve   - run the HTTP service (and RADIUS listener) on $(HOST):$(PORT), data in $(DATA)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages for the real components the tests drive (redis-server, radclient, chromium).
system-deps:
	bash scripts/install-system-deps.sh

demo: $(STAMP)
	$(BIN)/netcx demo --out $(OUT)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

archcheck: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP) system-deps
	$(BIN)/pytest -q

test: lint typecheck archcheck pytest

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow and not integration"

bench: $(STAMP) system-deps
	$(BIN)/python bench/run_all.py

serve: $(STAMP)
	$(BIN)/netcx serve --host $(HOST) --port $(PORT) --data $(DATA)

clean:
	rm -rf $(VENV) $(OUT) .mypy_cache .ruff_cache .pytest_cache
