# Two commands a newcomer needs: `make run` and `make test`. Both set everything up first (idempotent).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export FITMIRROR_CACHE_DIR ?= $(HOME)/.cache/fitmirror
export ANNY_CACHE_DIR ?= $(FITMIRROR_CACHE_DIR)/anny
# Tests and benchmarks run in a network namespace with loopback only (as root), so WebRTC never leaves the host.
NETNS := $(shell if [ "$$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then echo "unshare -n"; fi)
PYTEST_ARGS ?=
# `make bench BENCH_ARGS=--quick` for a smoke-sized run (minutes instead of an hour), `BENCH_ARGS="--only render"`
# for one section (names: benchmarks/__init__.py BENCHES). The benchmarks run from the checkout, never installed.
BENCH_ARGS ?=

.PHONY: setup run test test-fast test-js bench lint typecheck doctor clean docker

setup:
	@bash scripts/setup.sh

run: setup
	$(BIN)/fitmirror serve

test: setup
	@$(BIN)/ruff check . && $(BIN)/ruff format --check --quiet . || { echo "ruff found problems (run: $(BIN)/ruff check --fix . && $(BIN)/ruff format .)"; exit 1; }
	@$(MAKE) --no-print-directory typecheck test-js
	@mkdir -p tests/artifacts
	$(NETNS) bash -c 'ip link set lo up 2>/dev/null; FITMIRROR_ICE_LOOPBACK=1 $(BIN)/python -m pytest -q -rs $(PYTEST_ARGS)'

# Seconds, not minutes: the pure-logic tier (state, protocol, SDP, layouts, catalogue, rules, house rules).
test-fast: setup
	$(BIN)/python -m pytest -q -m fast $(PYTEST_ARGS)

# The browser client's pure modules under node:test, and its JS type check (web_client/jsconfig.json). The
# files are listed by the shell: Node 21+ no longer searches a directory given to --test.
test-js: setup
	node --test web_client/test/*.test.js
	web_client/node_modules/.bin/tsc -p web_client/jsconfig.json

bench: setup
	$(NETNS) bash -c 'ip link set lo up 2>/dev/null; FITMIRROR_ICE_LOOPBACK=1 $(BIN)/fitmirror bench $(BENCH_ARGS)'

# The frame contract, the stages' typed seams and server/ (the files are listed in pyproject.toml [tool.mypy]).
typecheck: setup
	$(BIN)/mypy

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

doctor:
	$(BIN)/fitmirror doctor

docker:
	docker build -t fitmirror:cpu .

clean:
	rm -rf $(VENV) tests/artifacts bench/out web_client/node_modules
