# Two commands do all set-up on a fresh clone:
#   make run    installs into .venv, ingests seeds/ into out/ and prints the run summary
#   make test   installs into .venv and runs the test suite
# and one to run while working:
#   make test-fast  the fast tier (well under a minute): the tests not marked slow
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: install run test test-fast lint bench clean browser

$(STAMP): pyproject.toml constraints.txt requirements-ner.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip<26"
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,bench,gcp,dask]'
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements-ner.txt
	$(BIN)/pip check
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/newsbeam ingest seeds/ --output out/ --runner DirectRunner

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

# Debian's chromium, for the test that opens the HTML report in a real browser
# (tests/test_report_browser.py, driven over the DevTools protocol). Where it cannot be
# installed (no apt-get, not root) this says why and goes on: that test then skips, saying so.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } || \
	  echo "make browser: chromium is not installed and apt-get cannot install it here (needs Debian/Ubuntu and root); the browser test will skip"

# The fast tier: every test not marked slow, i.e. the pure functions, the parsers, the
# HTTP client against a local server, the CLI's option parsing, the deploy files. The slow
# tier (marker `slow`, pyproject.toml) is whatever runs a Beam pipeline, the CLI in a
# subprocess, Dask, a real-time stream or wait, or reads the real-feed corpora; a test
# that runs a pipeline or a Python subprocess without the marker fails (tests/conftest.py).
# `make test` runs both tiers, and is what CI runs (.ci/run).
# PYTHONDONTWRITEBYTECODE is cleared for this run only: pytest then keeps the compiled,
# assert-rewritten test modules in __pycache__ (git-ignored) between runs, ~5 s of ~35.
test-fast: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy schemas transforms pipeline

bench: $(STAMP)
	$(BIN)/python bench/pipeline_bench.py

clean:
	rm -rf out/ $(VENV)
