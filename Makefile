# deploysim — every target sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
JOBS   ?= 2
CHROMIUM := /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench bench-app validate app lint clean notebooks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@ $(VENV)/.installed

## run: simulate the default scenario for every strategy and print the comparison table
run: $(VENV)/.installed
	$(BIN)/deploysim run default --jobs $(JOBS)

## test: lint and run the whole test suite
test: lint $(CHROMIUM)
	$(BIN)/python -m pytest

## bench: measure simulation speed (deploy-simulations per second per core) and batch throughput
bench: $(VENV)/.installed
	$(BIN)/python bench/bench.py
	$(BIN)/python bench/batch.py

## validate: check the model against published figures; writes results/validation/ (exit 1 on a failure)
validate: $(VENV)/.installed
	$(BIN)/deploysim validate-model

## app: start the Streamlit app
app: $(VENV)/.installed
	$(BIN)/streamlit run app.py

## bench-app: time the app's Run (1,000 deploys × 4 strategies) in a real browser
bench-app: $(VENV)/.installed-dev $(CHROMIUM)
	$(BIN)/python bench/app.py

# The app's browser test drives Debian's Chromium; installed only when it is missing.
$(CHROMIUM):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q -o DPkg::Lock::Timeout=600 chromium chromium-driver

## notebooks: execute every workshop notebook and render an HTML copy of each under results/notebooks/
notebooks: $(VENV)/.installed-dev
	$(BIN)/jupyter nbconvert --to html --execute --ExecutePreprocessor.kernel_name=python3 \
		--ExecutePreprocessor.timeout=600 --output-dir results/notebooks notebooks/[0-9][0-9]-*.ipynb

## lint: ruff, the floors' import contract (pyproject's [tool.importlinter]: imports point only down)
## and the type checker on sim/ (pyproject's [tool.mypy])
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
