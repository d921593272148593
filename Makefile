# The one script surface: the same commands for people and CI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8888
STORAGE ?= sqlite:///./data/tidings.db

.PHONY: run test lint typecheck pytest perf-gate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { apt-get update && apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/tidings serve --host $(HOST) --port $(PORT) --storage $(STORAGE)

test: lint typecheck pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/pytest

# Before/after gate: the working tree against BASE (a git revision, installed in its own venv),
# alternating rounds; fails when a scenario is slower beyond the rounds' noise
# (docs/performance.md). Extra options: PERF_ARGS="--rounds 5 --clients 32".
perf-gate: $(VENV)/.installed-test
	@test -n "$(BASE)" || { echo "usage: make perf-gate BASE=<git revision>" >&2; exit 2; }
	$(BIN)/tidings bench compare --base $(BASE) --candidate . --gate $(PERF_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
