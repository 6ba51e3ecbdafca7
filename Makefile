# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint browser wrk bench format clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,cdnow]'
	@touch $(STAMP)

demo: $(STAMP)  ## simulate → features → train → evaluate offline → promote → serve one decision
	$(BIN)/offerlab demo

test: lint browser  ## lint, types, then every test (doctests and notebooks included)
	$(BIN)/python -m pytest -q -n 2

lint: $(STAMP)  ## ruff (lint + format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

browser:  ## headless Chromium for the report screenshot test: Debian's package, installed (as root) when missing
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "chromium is missing and the report test needs it: run 'make browser' as root (apt-get install chromium)" >&2; \
	    exit 1; \
	  fi; \
	  echo "installing chromium (apt-get, a few minutes)"; \
	  log=$$(mktemp); \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$$log" 2>&1 \
	    || { tail -n 40 "$$log" >&2; rm -f "$$log"; exit 1; }; \
	  rm -f "$$log"; \
	}

wrk:  ## the HTTP load generator of the serving benchmark: Debian's package, installed (as root) when missing
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "wrk is missing and the serving benchmark needs it: run 'make wrk' as root (apt-get install wrk)" >&2; \
	    exit 1; \
	  fi; \
	  echo "installing wrk (apt-get)"; \
	  log=$$(mktemp); \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >"$$log" 2>&1 \
	    || { tail -n 40 "$$log" >&2; rm -f "$$log"; exit 1; }; \
	  rm -f "$$log"; \
	}

bench: $(STAMP) wrk  ## speed figures, compared side by side in one run; see docs/benchmarks.md
	$(BIN)/python tests/benchmarks/run.py
	$(BIN)/python tests/benchmarks/simulator_scaling.py
	$(BIN)/python tests/benchmarks/features_bench.py
	$(BIN)/python tests/benchmarks/dsjson_bench.py
	$(BIN)/python tests/benchmarks/churn_bench.py
	$(BIN)/python tests/benchmarks/ope_bench.py
	$(BIN)/python tests/benchmarks/reward_model_bench.py
	$(BIN)/python tests/benchmarks/ope_cli_bench.py --rounds 1000000 --actions 4
	$(BIN)/python tests/benchmarks/ope_cli_bench.py --rounds 100000 --actions 200
	$(BIN)/python tests/benchmarks/serving_bench.py

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) mlruns.db mlartifacts runs .pytest_cache .mypy_cache .ruff_cache
