# `make run` and `make test` set themselves up: they only need Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

export NO_MKDOCS_2_WARNING := 1

.PHONY: run test lint docs-build docs-tables bench soak docs clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "gatekeeper-auth needs Python 3.11 or newer: set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m example_app.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict gatekeeper_auth

docs-build: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

# The settings and refusal-code tables of the docs, written from the code (a test compares them).
docs-tables: $(STAMP)
	$(BIN)/python .ci/docs_tables.py

test: lint docs-build
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/overhead.py

soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py

docs: $(STAMP)
	$(BIN)/mkdocs serve -a 127.0.0.1:8002

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache .pytest_cache .hypothesis
