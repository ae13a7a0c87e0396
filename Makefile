.DEFAULT_GOAL := help
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

help:  ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "%-10s %s\n", $$1, $$2}'

$(BIN)/kg: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

tools/node/node_modules/.package-lock.json: tools/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then cd tools/node && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the Comunica client tests will be skipped (they fail in CI)"; fi

install: $(BIN)/kg tools/node/node_modules/.package-lock.json  ## Create .venv and install kg with its test tools

demo: install  ## Build the bundled corpus and audit the analysis post
	$(BIN)/kg build sources/
	$(BIN)/kg audit

build: install  ## Build the store from sources/
	$(BIN)/kg build sources/

validate: build  ## SHACL-validate the store
	$(BIN)/kg validate

test: install  ## Run the whole test suite (browser tests need Chromium: see README)
	$(BIN)/python -m pytest -q

BENCH_SIZES ?= bundled,10k,100k

bench: install  ## Run the benchmarks and write BENCHMARKS.md (make bench BENCH_SIZES=bundled,10k,100k,1m adds 1M)
	$(BIN)/python -m bench --sizes $(BENCH_SIZES)

clean:  ## Remove the store and build outputs
	rm -rf .kg out

.PHONY: help install demo build validate test bench clean
