# Each target creates .venv and installs what it needs (every platform's SDK: the tests run each contract).
PYTHON ?= python3
VENV ?= .venv
STACK ?= dev
DOCS ?= build/docs
BIN := $(VENV)/bin
# The public API: what programs, their tests and platform packages import.
API_MODULES := hybrid_infra hybrid_infra.config hybrid_infra.testing hybrid_infra.outputs hybrid_infra.topology \
	hybrid_infra.platforms hybrid_infra.platforms.contract hybrid_infra.platforms.openstack hybrid_infra.platforms.vsphere hybrid_infra.platforms.aws \
	hybrid_infra.provider hybrid_infra.config.args

.PHONY: plan test e2e tools bench docs clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hybrid-infra needs Python >= 3.11; set PYTHON=python3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,all]'
	@touch $@

plan: $(BIN)/.installed
	$(BIN)/hybrid-infra plan $(STACK)

# The linters first: style and mistakes (ruff), the layers between the packages (import-linter, contracts
# in pyproject.toml), strict types of the package and of the example programs as users write them.
test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m mypy hybrid_infra
	for program in examples/*/__main__.py; do $(BIN)/python -m mypy --strict "$$program" || exit 1; done
	$(BIN)/python -m pytest

# The real programs the e2e tier runs, built from the Go modules pinned in tools/ into .tools/bin.
tools:
	tools/build

e2e: $(BIN)/.installed tools
	$(BIN)/python -m pytest -m e2e tests/e2e

bench: $(BIN)/.installed
	$(BIN)/python -m benchmarks

# The API reference from the docstrings, a static site built offline: open $(DOCS)/index.html.
docs: $(BIN)/.installed
	$(BIN)/python -m pdoc --docformat restructuredtext --output-directory $(DOCS) $(API_MODULES)

clean:
	rm -rf $(VENV) build .tools
