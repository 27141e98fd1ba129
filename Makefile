# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= .demo
PORT_BASE ?= 8441

.PHONY: demo test lint typecheck pytest venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/exchange demo --data $(DEMO_DIR) --port-base $(PORT_BASE)

lint: $(STAMP)
	$(BIN)/ruff check exchange tests
	$(BIN)/ruff format --check exchange tests

typecheck: $(STAMP)
	$(BIN)/mypy --strict exchange

# The browser tests drive Debian's chromium package (Playwright's own download does
# not work here); installed once, when it is missing.
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium

pytest: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
