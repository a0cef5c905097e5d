# Two commands do all set-up on a fresh clone:
#   make run    installs into .venv, ingests seeds/ into out/ and prints the run summary
#   make test   installs into .venv and runs the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: install run test lint bench clean

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

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy schemas transforms pipeline

bench: $(STAMP)
	$(BIN)/python bench/pipeline_bench.py

clean:
	rm -rf out/ $(VENV)
