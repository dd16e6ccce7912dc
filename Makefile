# deploysim — every target sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
JOBS   ?= 2
CHROMIUM := /usr/bin/chromium
VALGRIND := /usr/bin/valgrind
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The lock files pin every package (with hashes) for Python 3.11 on Linux x86_64; `make lock` rewrites
# them with uv, which lives in its own venv so the project's venv holds exactly what the locks list.
# 3.11.5 is the oldest 3.11 the pinned set supports (soupsieve, under nbconvert, needs it).
LOCK_PYTHON := 3.11.5
UV_VERSION  := 0.13.9
TOOLS       := .venv-tools
UV          := $(TOOLS)/bin/uv
PIP         := $(BIN)/pip --quiet --disable-pip-version-check
UPGRADE     ?=

.PHONY: run test bench bench-app bench-instructions validate equivalence app lint clean notebooks lock test-latest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Exact versions from the lock (hash-checked), then the project itself without letting pip resolve
# anything: the same seed gives the same rows on every machine.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	$(PIP) install --require-hashes -r requirements.lock
	$(PIP) install --no-deps -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml requirements-dev.lock | $(BIN)/python
	$(PIP) install --require-hashes -r requirements-dev.lock
	$(PIP) install --no-deps -e .
	touch $@ $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

## lock: rewrite requirements.lock and requirements-dev.lock from pyproject.toml, keeping every pin
## pyproject still allows (`make lock UPGRADE=1` moves every package to its newest allowed version)
LOCK_FLAGS = --quiet --generate-hashes --python-version $(LOCK_PYTHON) \
	--python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock" \
	$(if $(UPGRADE),--upgrade)
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra dev $(LOCK_FLAGS) -o requirements-dev.lock
	# The runtime lock is the dev lock's subset: a package has one version in both.
	$(UV) pip compile pyproject.toml $(LOCK_FLAGS) -c requirements-dev.lock -o requirements.lock

## test-latest: the test suite and the validation in .venv-latest, with the newest versions pyproject
## allows instead of the lock's, so upstream drift shows up apart from `make test`
test-latest: $(CHROMIUM)
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/pip install --quiet --disable-pip-version-check --upgrade -e ".[dev]"
	.venv-latest/bin/pip freeze --exclude-editable > results/latest-versions.txt
	.venv-latest/bin/python -m pytest -m "not lock"
	.venv-latest/bin/deploysim validate-model --out results/validation-latest

## run: simulate the default scenario for every strategy and print the comparison table
run: $(VENV)/.installed
	$(BIN)/deploysim run default --jobs $(JOBS)

## test: lint and run the whole test suite
test: lint $(CHROMIUM)
	$(BIN)/python -m pytest

## bench: measure simulation speed (deploy-simulations per second per core, against the draw-bound
## floor and per-request models) and batch throughput; ends with one JSON line of every figure
bench: $(VENV)/.installed
	$(BIN)/python bench/bench.py --with-batch

## bench-instructions: the engine's instructions per deploy, counted by valgrind (the same on every run,
## unlike the wall clock): the default scenario's four strategies and the one-hour rollout; one JSON line
bench-instructions: $(VENV)/.installed $(VALGRIND)
	$(BIN)/python bench/instructions.py

## validate: check the model against published figures; writes results/validation/ (exit 1 on a failure)
validate: $(VENV)/.installed
	$(BIN)/deploysim validate-model

## equivalence: today's engine against the stored summaries of the engine before issue 17 (10,000 deploys
## of every shipped scenario; ~40 min on one core); exit 1 if any metric differs beyond Monte Carlo error
equivalence: $(VENV)/.installed
	$(BIN)/python -m sim.validation.equivalence tests/data/engine/v1-10k.csv --deploys 10000 --seed 7 \
		--out results/equivalence-latest.csv

## app: start the Streamlit app
app: $(VENV)/.installed
	$(BIN)/streamlit run app.py

## bench-app: time the app's Run (1,000 deploys × 4 strategies) in a real browser
bench-app: $(VENV)/.installed-dev $(CHROMIUM)
	$(BIN)/python bench/app.py

# `make bench-instructions` counts instructions with Debian's valgrind; installed only when it is missing.
$(VALGRIND):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q -o DPkg::Lock::Timeout=600 valgrind

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
	rm -rf $(VENV) $(TOOLS) .venv-latest .pytest_cache .ruff_cache
