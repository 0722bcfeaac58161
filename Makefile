# Every target bootstraps .venv from the lock file first (tools/bootstrap.py), so a fresh
# clone needs only python3 >= 3.10, make and git. `make install PY=python3.12` rebuilds .venv
# with that Python; without PY= an installed .venv is kept as it is (and needs no network).
PY ?= python3
BIN := .venv/bin
export JUPYTER_PREFER_ENV_PATH := 1
LAB_ARGS ?=
# The suite mostly waits (sleeps, polls, process start-up), and every test brings its own Redis
# and ports: it runs on this many pytest workers, the longest tests first (tests/conftest.py).
# Measured on 2 cores, idle, the same code: 4 workers 645 s of pytest, 6 workers 558 s.
JOBS ?= 6
# PY given (command line or environment): build .venv with it. Not given: let .venv's own
# Python check the stamp, so a later `python3` of another version changes nothing.
PY_GIVEN := $(filter command line environment,$(origin PY))
BOOTSTRAP := $(if $(PY_GIVEN),$(PY) tools/bootstrap.py --python-given,\
  $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PY)) tools/bootstrap.py)

.PHONY: lab test install doctor check notebooks lint format lock measure verdicts clean

lab: install ## JupyterLab on notebook 00, serving the repository (127.0.0.1, token kept)
	$(BIN)/workbook lab $(LAB_ARGS)

test: install ## lint, then every test (machinery, snippets, exercises, notebooks)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n $(JOBS)

install: ## the environment only
	@$(BOOTSTRAP)

doctor: install ## the preflight: versions, Redis, a served app, the three queues
	$(BIN)/workbook doctor

check: install ## check every exercise
	$(BIN)/workbook check

notebooks: install ## run every notebook headless, twice in one kernel (instructors); times each
	$(BIN)/python -m pytest -n $(JOBS) tests/test_notebooks.py -v --durations=0 --durations-min=5

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# rfc3987-syntax (and lark, for it alone) stay out: jsonschema imports it when present, only to
# check the "iri" format, which no schema here uses, and it builds 30 Earley parsers at import:
# 1.8 CPU-s in every process that imports nbformat or jsonschema (each git filter run on a
# notebook, the Jupyter server, every test worker). Measured: `import nbformat` 2.4 -> 0.3 s.
lock: install ## re-resolve requirements.lock (and environment.yml) from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra test --universal --python-version 3.10 \
	  --no-emit-package fastapi-background-workbook \
	  --no-emit-package rfc3987-syntax --no-emit-package lark -o requirements.lock
	$(BIN)/python tools/environment_yml.py

measure: install ## print start-up figures (scripts, not timed tests)
	$(BIN)/python tools/measure_startup.py --lab

N ?= 10
J ?= 1
ONLY ?=
verdicts: install ## check every stub, solution and wrong answer N times; report unstable verdicts (slow)
	$(BIN)/python tools/verdicts.py -n $(N) -j $(J) $(if $(ONLY),--only $(ONLY))

clean: ## remove .venv and every generated file
	rm -rf .venv .pytest_cache .ruff_cache .workbook build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
