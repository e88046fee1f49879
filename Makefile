# DOFS developer commands. Every target creates .venv and installs what it needs by itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
AWS_PORT ?= 4566
export PORT AWS_PORT

.PHONY: help venv test check lint typecheck unit clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv and install the pinned packages

lint: $(STAMP) ## ruff: lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy, strict, over the app and its tests
	$(BIN)/mypy

unit: $(STAMP) ## pytest only
	$(BIN)/pytest

test: lint typecheck unit ## Everything CI runs: lint, types, tests

# The inner loop: pytest's --inner-loop (tests/conftest.py) leaves out what needs the emulator,
# a packaged app, Terraform or the scanners. Bytecode is cached, as on any developer's machine
# (pytest rewrites every test module's asserts again when it may not write its cache). The tests
# run on two workers (pytest-xdist), a file's tests on one, so each file's cached parses (HCL,
# moto's service models) are built once.
check: $(STAMP) ## The inner loop, seconds: ruff, mypy and every test that needs no emulator or Terraform
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest --inner-loop -q -n 2 --dist loadfile

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# More targets, one file per concern (local stack, infrastructure, CI/CD).
include $(sort $(wildcard make/*.mk))
