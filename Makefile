# Quick start: `make run` starts quorumdb on http://127.0.0.1:8000; `make test` runs the suite.
# Both create or update .venv themselves from the pinned dependencies in pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck venv clean bench compare compare-more latency model-check tools

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/quorumdb serve --host 127.0.0.1 --port 8000 --data-dir ./data

# Debian tools the tests need (spin for the model check); installed when missing and root.
tools:
	@command -v spin >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y spin >/dev/null 2>&1 || \
	   (apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y spin >/dev/null)); } || \
	  echo "spin not installed: the model check will be skipped (run as root or apt-get install spin)"

test: $(STAMP) tools
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q
	# the API suite against the default `quorumdb serve`: a data directory, the WAL, reads
	# through the overlay of writes not yet in LMDB, the applier process committing them
	QUORUMDB_SERVE_DURABLE=1 $(BIN)/pytest -q tests/api
	# the API suite again, every partition a replication group of three (on disk: WALs,
	# checkpoints and restores of every node)
	QUORUMDB_SERVE_ARGS="--replicas 3" QUORUMDB_SERVE_DURABLE=1 $(BIN)/pytest -q tests/api
	# and once more behind two front-end workers (reads answered in other processes),
	# with a data directory: every write through the WAL, fsynced
	QUORUMDB_SERVE_ARGS="--workers 2" QUORUMDB_SERVE_DURABLE=1 $(BIN)/pytest -q tests/api

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info

# Regression guard (~30 s): ceiling + quorumdb serve --in-memory, 2 s per workload;
# fails only on errors or zero ops, never on timings. Installs nothing, writes nothing.
bench: $(STAMP)
	$(BIN)/python bench/compare.py --smoke

# Full comparison with moto and dynalite (installed under /tmp/quorumdb-peers), about
# 15 min; rewrites the compare section of docs/performance.md. Run on a quiet machine.
compare: $(STAMP)
	$(BIN)/python bench/compare.py --duration 8 --keys 100000 --concurrency 32 --processes 2

# The same for BatchWriteItem and the YCSB mixes (about 10 min; moto is slow to preload
# and to query); rewrites the compare-more section of docs/performance.md.
compare-more: $(STAMP)
	$(BIN)/python bench/compare.py --duration 8 --keys 100000 --concurrency 32 --processes 2 \
		--workloads batch-write,ycsb-a,ycsb-b,ycsb-c,ycsb-d,ycsb-e,ycsb-f \
		--servers quorumdb,quorumdb-mem,dynalite-mem,dynalite-disk,moto \
		--section compare-more --title "Side by side with the peers: more workloads"

# The latency targets measured by the C client (needs cc), next to the HTTP stack and the
# machine's own floor, about 5 min; rewrites the latency section of docs/performance.md.
latency: $(STAMP)
	$(BIN)/python bench/latency.py --duration 10 --keys 100000

# The spin model check of the replication protocol (src/quorumdb/replication/spec).
model-check: tools
	bash scripts/model-check.sh
