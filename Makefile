# The two README commands: `make run` and `make test`. Everything runs from .venv, which is
# (re)built only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Extra arguments for `jifen serve`, e.g. make run SERVE_ARGS="--port 9000 --workers 2"
SERVE_ARGS ?=

.PHONY: venv run test schema bench clean distclean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: venv
	$(BIN)/jifen serve $(SERVE_ARGS)

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app
	$(BIN)/pytest

schema: venv
	$(BIN)/jifen export-schema --output schema.graphql

bench: venv
	$(BIN)/python bench/ledger.py

# Caches and build output; keeps .venv and the embedded databases (.jifen).
clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

# Also the virtualenv and the embedded databases with their data.
distclean: clean
	rm -rf $(VENV) .jifen
