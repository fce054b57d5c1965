# nascli — every target is one visible command. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
# Reproduction targets write under outputs/repro/<target>-<time>/ (REPRO_DIR=... to choose).
NOW := $(shell date +%Y-%m-%d_%H-%M-%S)
REPRO := outputs/repro
# The compute the DARTS reproduction trains on (trainer=cpu works, slowly).
TRAINER ?= gpu
# Extra overrides for the search and train lines of the reproductions (empty: the papers' settings;
# the tests run repro-darts-cifar10 and repro-darts-ptb on tiny files in the real formats with small ones).
SEARCH_ARGS ?=
TRAIN_ARGS ?=

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' \
		'{ name[NR] = $$1; text[NR] = $$2; if (length($$1) > w) w = length($$1) } \
		END { for (i = 1; i <= NR; i++) printf "  %-*s  %s\n", w, name[i], text[i] }'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv/ and install nascli (editable, dev extras, tested pins)

search: $(STAMP) ## a random search on the embedded digits data (about a minute on 2 cores)
	$(BIN)/nas search

test: $(STAMP) lint ## lint, then the whole test suite (two workers, one torch thread each)
	$(BIN)/pytest -q -n 2 --dist loadfile

lint: $(STAMP) ## ruff lint and format check, and the import layers (import-linter)
	$(BIN)/ruff check src tests scripts examples
	$(BIN)/ruff format --check src tests scripts examples
	$(BIN)/lint-imports --no-cache

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests scripts examples
	$(BIN)/ruff format src tests scripts examples

bench-overhead: $(STAMP) ## share of a digits trial spent outside forward/backward/optimizer
	$(BIN)/python scripts/bench_overhead.py

search-darts: $(STAMP) ## a small first-order DARTS search on digits (about 3 minutes on 2 cores)
	$(BIN)/nas search strategy=darts

bench-supernet: $(STAMP) ## time one DARTS iteration of the supernet at C=16/8 cells/64 and C=8/5/32
	$(BIN)/python scripts/bench_supernet.py

repro-digits: REPRO_DIR ?= $(REPRO)/digits-$(NOW)
repro-digits: $(STAMP) ## search (evolution, 20 trials) + retrain + report on digits, minutes on CPU
	$(BIN)/nas search strategy=evolution hydra.run.dir=$(REPRO_DIR)/search
	$(BIN)/nas train arch=$(REPRO_DIR)/search hydra.run.dir=$(REPRO_DIR)/train
	$(BIN)/nas report $(REPRO_DIR)/search $(REPRO_DIR)/train hydra.run.dir=$(REPRO_DIR)/report

repro-strategies: REPRO_DIR ?= $(REPRO)/strategies-$(NOW)
repro-strategies: $(STAMP) ## every sample-based strategy x 3 seeds on digits, then mean ± std per strategy
	$(BIN)/nas search -m strategy=random,evolution,local,reinforce,bo,qlearning seed=0,1,2 hydra.sweep.dir=$(REPRO_DIR)/sweep
	$(BIN)/nas report $(REPRO_DIR)/sweep group_by=[strategy] hydra.run.dir=$(REPRO_DIR)/report

# One reference point stated by every search, which the report then shares (a single slow
# timing would move a worst-value one).
PARETO_REF := {val_acc:0.8,latency_ms:20}
repro-pareto: REPRO_DIR ?= $(REPRO)/pareto-$(NOW)
repro-pareto: $(STAMP) ## accuracy-vs-latency fronts of the mobilenet space on digits: NSGA-II and random x 3 seeds, same budget, hypervolumes on one reference point
	$(BIN)/nas search -m strategy=nsga2,random seed=0,1,2 space=mobilenet hardware=cpu 'search.objectives=[val_acc,latency_ms]' 'search.reference_point=$(PARETO_REF)' search.trials=60 hydra.sweep.dir=$(REPRO_DIR)/sweep
	$(BIN)/nas report $(REPRO_DIR)/sweep group_by=[strategy] hydra.run.dir=$(REPRO_DIR)/report

# Stop a GPU-days reproduction at once where there is no CUDA device, unless TRAINER=cpu asks for it.
define NEED_GPU
	@if ! $(BIN)/python -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then \
		if [ "$(TRAINER)" = cpu ]; then \
			echo "$@: no CUDA GPU here; TRAINER=cpu trains on the CPU, far slower than the paper's GPU days" >&2; \
		else \
			echo "$@: needs a CUDA GPU (TRAINER=$(TRAINER)); TRAINER=cpu runs it on the CPU instead, far slower" >&2; exit 2; \
		fi; \
	fi
endef

repro-darts-cifar10: REPRO_DIR ?= $(REPRO)/darts-cifar10-$(NOW)
repro-darts-cifar10: $(STAMP) ## the DARTS paper: 1st- and 2nd-order search on CIFAR-10, 600-epoch retrains (GPU days; TRAINER=cpu without one)
	$(NEED_GPU)
	$(BIN)/nas search strategy=darts dataset=cifar10 trainer=$(TRAINER) hydra.run.dir=$(REPRO_DIR)/search-1st $(SEARCH_ARGS)
	$(BIN)/nas search strategy=darts dataset=cifar10 strategy.order=2 trainer=$(TRAINER) hydra.run.dir=$(REPRO_DIR)/search-2nd $(SEARCH_ARGS)
	$(BIN)/nas train arch=$(REPRO_DIR)/search-1st trainer=$(TRAINER) hydra.run.dir=$(REPRO_DIR)/train-1st $(TRAIN_ARGS)
	$(BIN)/nas train arch=$(REPRO_DIR)/search-2nd trainer=$(TRAINER) hydra.run.dir=$(REPRO_DIR)/train-2nd $(TRAIN_ARGS)
	$(BIN)/nas report $(REPRO_DIR) hydra.run.dir=$(REPRO_DIR)/report

repro-darts-ptb: REPRO_DIR ?= $(REPRO)/darts-ptb-$(NOW)
repro-darts-ptb: $(STAMP) ## the DARTS and ENAS recurrent searches on Penn Treebank, 8,000-epoch retrains (GPU days; TRAINER=cpu without one)
	$(NEED_GPU)
	$(BIN)/nas search space=rnn_cell dataset=ptb strategy=darts strategy.order=2 trainer=$(TRAINER) hydra.run.dir=$(REPRO_DIR)/search-darts $(SEARCH_ARGS)
	$(BIN)/nas search space=rnn_cell dataset=ptb strategy=enas trainer=$(TRAINER) hydra.run.dir=$(REPRO_DIR)/search-enas $(SEARCH_ARGS)
	$(BIN)/nas train space=rnn_cell dataset=ptb arch=$(REPRO_DIR)/search-darts trainer=$(TRAINER) hydra.run.dir=$(REPRO_DIR)/train-darts $(TRAIN_ARGS)
	$(BIN)/nas train space=rnn_cell dataset=ptb arch=$(REPRO_DIR)/search-enas trainer=$(TRAINER) hydra.run.dir=$(REPRO_DIR)/train-enas $(TRAIN_ARGS)
	$(BIN)/nas report $(REPRO_DIR) hydra.run.dir=$(REPRO_DIR)/report

bench-nb201-digits: $(STAMP) ## build the nb201/digits table that estimator=table uses by default (about 1 h 45 min, 2 cores)
	$(BIN)/nas bench build space=nb201 dataset=digits estimator.epochs=2 bench.workers=2 bench.file=src/nascli/bench_tables/nb201-digits.sqlite

compare-strategies: REPRO_DIR ?= $(REPRO)/compare-$(NOW)
compare-strategies: $(STAMP) ## sample-based strategies x 20 seeds on the shipped nb201/digits table, equal simulated budgets
	$(BIN)/nas search -m strategy=random,evolution,local,reinforce,bo,qlearning 'seed=range(0,20)' estimator=table search.trials=100000 search.seconds=150 logger=none hydra.sweep.dir=$(REPRO_DIR)/sweep
	$(BIN)/nas report $(REPRO_DIR)/sweep group_by=[strategy] budgets=[25,50,100] hydra.run.dir=$(REPRO_DIR)/report

clean: ## remove outputs (keeps .venv)
	rm -rf outputs/*/ .pytest_cache .ruff_cache

# Every sample-based strategy x SEEDS seeds x QUERIES queries on NAS-Bench-Graph's nine tables and
# the shipped digits table, with p-values against random search (docs/benchmarks.md).
SEEDS ?= 50
QUERIES ?= 100
compare-benchmarks: $(STAMP) ## strategies on published benchmark tables: outputs/compare/comparison.md
	$(BIN)/python scripts/compare_benchmarks.py --seeds $(SEEDS) --queries $(QUERIES) --out outputs/compare

# Leave one of NAS-Bench-Graph's nine datasets out, warm start from searches on the other eight:
# the 10 transferred architectures against 100 random queries (docs/benchmarks.md).
transfer-nbgraph: $(STAMP) ## warm-start transfer across NAS-Bench-Graph's datasets (minutes)
	$(BIN)/python scripts/transfer_nbgraph.py --out outputs/transfer-nbgraph

bench-morphism: $(STAMP) ## epochs to reach a digits accuracy: strategy=morphism against random search
	$(BIN)/python scripts/bench_morphism.py

support-matrix: $(STAMP) ## rewrite docs/support.md from one tiny run per space x strategy/estimator/hardware (about 20 min)
	$(BIN)/python scripts/support_matrix.py --jobs 2

.PHONY: support-matrix compare-benchmarks transfer-nbgraph bench-morphism help install search search-darts test lint format bench-overhead bench-supernet clean \
	repro-digits repro-strategies repro-darts-cifar10 repro-darts-ptb repro-pareto compare-strategies bench-nb201-digits
