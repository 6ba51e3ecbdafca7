# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench format clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,cdnow]'
	@touch $(STAMP)

demo: $(STAMP)  ## simulate → features → train → evaluate offline → promote → serve one decision
	$(BIN)/offerlab demo

test: lint  ## lint, types, then every test (doctests and notebooks included)
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)  ## ruff (lint + format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)  ## speed figures, compared side by side in one run; see docs/benchmarks.md
	$(BIN)/python tests/benchmarks/run.py
	$(BIN)/python tests/benchmarks/simulator_scaling.py
	$(BIN)/python tests/benchmarks/features_bench.py
	$(BIN)/python tests/benchmarks/dsjson_bench.py
	$(BIN)/python tests/benchmarks/churn_bench.py

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) mlruns.db mlartifacts runs .pytest_cache .mypy_cache .ruff_cache
