# The two README commands: `make run` and `make test`. Everything installs from uv.lock (every
# dependency pinned with hashes) into .venv; uv itself comes from requirements-uv.txt (pinned with
# hashes) into .tools. `uv sync --locked` runs before each command: it is quick when nothing
# changed, and it fails when pyproject.toml and uv.lock disagree (update with `make lock`).

PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
# Extra arguments for `jifen serve`, e.g. make run SERVE_ARGS="--port 9000 --workers 2"
SERVE_ARGS ?=
# The suite runs on this many processes, each with a database and a Redis database of its own
# (tests/conftest.py); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
# uv uses the machine's Python (never downloads one) and builds .venv here.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: venv run test lock outdated schema bench clean distclean vendor screenshots

$(UV): requirements-uv.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements-uv.txt
	touch $@

venv: $(UV)
	$(UV) sync --locked --extra dev --python $(PYTHON) --quiet

run: venv
	$(BIN)/jifen serve $(SERVE_ARGS)

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

# After editing dependencies in pyproject.toml: re-resolve what changed and keep the rest.
# `make lock UPGRADE=1` moves every pin to the newest release the ranges allow.
lock: $(UV)
	$(UV) lock --python $(PYTHON) $(if $(UPGRADE),--upgrade,)

# What has newer releases than the lock holds (docs/OPERATIONS.md, "Dependencies").
outdated: venv
	$(UV) pip list --outdated --python $(BIN)/python

schema: venv
	$(BIN)/jifen export-schema --output schema.graphql

# The console's chart library and GraphiQL's files (with React), vendored from the npm registry
# at the versions app/console/static/vendor/package-lock.json pins (Node is needed for this,
# never to run Jifen).
VENDOR := app/console/static/vendor
NPM := .jifen/vendor/node_modules
vendor:
	rm -rf .jifen/vendor && mkdir -p .jifen/vendor $(VENDOR)/graphiql
	cp $(VENDOR)/package.json $(VENDOR)/package-lock.json .jifen/vendor/
	cd .jifen/vendor && npm ci --no-audit --no-fund --loglevel=error
	cp $(NPM)/echarts/dist/echarts.min.js $(VENDOR)/
	cp $(NPM)/echarts/LICENSE $(VENDOR)/LICENSE.echarts
	cp $(NPM)/graphiql/graphiql.min.js $(NPM)/graphiql/graphiql.min.css $(VENDOR)/graphiql/
	cp $(NPM)/react/umd/react.production.min.js $(NPM)/react-dom/umd/react-dom.production.min.js $(VENDOR)/graphiql/
	cp $(NPM)/graphiql/LICENSE $(VENDOR)/graphiql/LICENSE.graphiql
	cp $(NPM)/react/LICENSE $(VENDOR)/graphiql/LICENSE.react

# The pictures in README and docs/CONSOLE.md, taken by the browser tests.
screenshots: venv
	JIFEN_SCREENSHOTS=1 $(BIN)/pytest tests/browser -q

bench: venv
	$(BIN)/python bench/ledger.py

# Caches and build output; keeps .venv, .tools and the embedded databases (.jifen).
clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache *.egg-info
	find . -path ./$(VENV) -prune -o -path ./$(TOOLS) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

# Also the virtualenvs and the embedded databases with their data.
distclean: clean
	rm -rf $(VENV) $(TOOLS) .jifen
