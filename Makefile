# Two commands for a fresh machine with Python 3.11+: `make console` and `make test`.
# Each sets up its own virtual environment from the package index on first use.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: console test lint clean

$(INSTALLED): pyproject.toml
	@test -n "$(PYTHON)" || { echo "hunt-bot needs Python 3.11 or newer on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

console: $(INSTALLED)  ## the bot on its embedded defaults: Slack on your terminal, the lab tenant
	$(BIN)/hunt-bot console

test: lint  ## lint, then the whole test suite; CI runs exactly this
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check bot commands tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
