# `make run` and `make test` set themselves up: they only need Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Every extra, for working on the repository; the dev dependency group adds the tools.
EXTRAS := client,jwt,devgate
DIST := build/dist

export NO_MKDOCS_2_WARNING := 1

.PHONY: run test lint docs-build docs-tables package compat compat-lowest bench soak docs clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "gatekeeper-auth needs Python 3.11 or newer: set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'  # 25.1 installs dependency groups
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]' --group dev
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m example_app.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict gatekeeper_auth tests/typecheck .ci/compat.py .ci/docs_tables.py

docs-build: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

# The settings and refusal-code tables of the docs, written from the code (a test compares them).
docs-tables: $(STAMP)
	$(BIN)/python .ci/docs_tables.py

# The sdist and the wheel as they would be uploaded, and their metadata as PyPI checks it.
package: $(STAMP)
	rm -rf $(DIST)
	$(BIN)/python -m build --outdir $(DIST) .
	$(BIN)/twine check --strict $(DIST)/*

test: lint docs-build package
	$(BIN)/pytest

# The suite on the declared floors and on the newest releases, on each Python 3.11-3.13 found.
compat: $(STAMP)
	$(BIN)/python .ci/compat.py

# The floors on this Python only: what CI runs besides `make test`.
compat-lowest: $(STAMP)
	$(BIN)/python .ci/compat.py --lowest-only

bench: $(STAMP)
	$(BIN)/python benchmarks/overhead.py

soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py

docs: $(STAMP)
	$(BIN)/mkdocs serve -a 127.0.0.1:8002

clean:
	rm -rf $(VENV) site build .mypy_cache .ruff_cache .pytest_cache .hypothesis
