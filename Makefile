# Each target creates .venv and installs what it needs (every platform's SDK: the tests run each contract).
PYTHON ?= python3
VENV ?= .venv
STACK ?= dev
BIN := $(VENV)/bin

.PHONY: plan test bench clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hybrid-infra needs Python >= 3.11; set PYTHON=python3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,all]'
	@touch $@

plan: $(BIN)/.installed
	$(BIN)/hybrid-infra plan $(STACK)

test: $(BIN)/.installed
	$(BIN)/python -m mypy hybrid_infra
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build
