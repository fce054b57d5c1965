# nascli — every target is one visible command. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv/ and install nascli (editable, dev extras, tested pins)

search: $(STAMP) ## a random search on the embedded digits data (about a minute on 2 cores)
	$(BIN)/nas search

test: $(STAMP) lint ## lint, then the whole test suite (two workers, one torch thread each)
	$(BIN)/pytest -q -n 2 --dist loadfile

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check src tests scripts examples
	$(BIN)/ruff format --check src tests scripts examples

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests scripts examples
	$(BIN)/ruff format src tests scripts examples

bench-overhead: $(STAMP) ## share of a digits trial spent outside forward/backward/optimizer
	$(BIN)/python scripts/bench_overhead.py

search-darts: $(STAMP) ## a small first-order DARTS search on digits (about 3 minutes on 2 cores)
	$(BIN)/nas search strategy=darts

bench-supernet: $(STAMP) ## time one DARTS iteration of the supernet at C=16/8 cells/64 and C=8/5/32
	$(BIN)/python scripts/bench_supernet.py

clean: ## remove outputs (keeps .venv)
	rm -rf outputs/*/ .pytest_cache .ruff_cache

.PHONY: help install search search-darts test lint format bench-overhead bench-supernet clean
