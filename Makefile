# The two commands a fresh machine needs:  make run  |  make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test install install-dev lint schema clean

run: install
	$(BIN)/practicum migrate
	$(BIN)/practicum demo
	$(BIN)/practicum serve --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/practicum export-schema --check
	$(BIN)/pytest

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev tests/audit/node_modules/.installed

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

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

schema: install
	$(BIN)/practicum export-schema

clean:
	rm -rf $(VENV) tests/audit/node_modules data
