# Quick start: `make run` starts quorumdb on http://127.0.0.1:8000; `make test` runs the suite.
# Both create or update .venv themselves from the pinned dependencies in pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/quorumdb serve --host 127.0.0.1 --port 8000 --data-dir ./data

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q
	# the API suite again, every partition a replication group of three
	QUORUMDB_SERVE_ARGS="--replicas 3" $(BIN)/pytest -q tests/api

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info
