# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# The environment is built by uv from the committed lock (uv.lock): every clone gets the versions CI tested.
# After changing the dependencies in pyproject.toml, run `make lock` and commit both files.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
UV_VERSION := 0.13.9
UV_HOME := .tools/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
# uv builds the environment with this machine's Python (never one it downloads), in $(VENV)
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# compile every module at install, as pip does: with PYTHONDONTWRITEBYTECODE set (as on CI machines) a process
# would otherwise compile mlflow & co. from source at every start (imports 2.5 -> 5.7 s, the test suite +4 minutes)
export UV_COMPILE_BYTECODE := 1

.PHONY: demo test quick lint lock browser wrk bench format clean

$(UV):  # uv itself, from the package registry, in a venv of the system Python
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/python -m pip install -q uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra dev --extra cdnow
	@touch $(STAMP)

lock: | $(UV)  ## re-resolve uv.lock after a change to pyproject.toml's dependencies (commit both)
	$(UV) lock

demo: $(STAMP)  ## simulate → features → train → evaluate offline → promote → serve one decision
	$(BIN)/offerlab demo

test: lint browser  ## lint, types, then every test (doctests and notebooks included)
	$(BIN)/python -m pytest -q -n 2

quick: $(STAMP)  ## the tests not marked slow (a few minutes less; the same as: .venv/bin/pytest -m "not slow" -n 2)
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

lint: $(STAMP)  ## ruff (lint + format) and mypy: the pre-commit hooks (.pre-commit-config.yaml) over every file
	$(BIN)/pre-commit run --all-files

# $(call debian_package,COMMAND,WHO NEEDS IT,TARGET): Debian's package of that name, installed (as root) when missing
define debian_package
	@command -v $(1) >/dev/null || { \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "$(1) is missing and $(2) needs it: run 'make $(3)' as root (apt-get install $(1))" >&2; \
	    exit 1; \
	  fi; \
	  echo "installing $(1) (apt-get, a few minutes)"; \
	  log=$$(mktemp); \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1); } >"$$log" 2>&1 \
	    || { tail -n 40 "$$log" >&2; rm -f "$$log"; exit 1; }; \
	  rm -f "$$log"; \
	}
endef

browser:  ## headless Chromium for the report screenshot test: Debian's package, installed (as root) when missing
	$(call debian_package,chromium,the report test,browser)

wrk:  ## the HTTP load generator of the serving benchmark: Debian's package, installed (as root) when missing
	$(call debian_package,wrk,the serving benchmark,wrk)

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
	rm -rf $(VENV) .tools mlruns.db mlartifacts runs .pytest_cache .mypy_cache .ruff_cache
