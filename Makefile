# DOFS developer commands. Every target creates .venv and installs what it needs by itself.
SHELL := /bin/bash
PYTHON ?= python3
# The Python .venv is made with (any from pyproject.toml's requires-python up: make PYTHON=python3.13 ...);
# an older one is refused here, before pip or the tests fail on it less clearly.
define REQUIRE_PYTHON
import re, sys
minimum = re.search(r'^requires-python = ">=(\d+)\.(\d+)"$$', open("pyproject.toml").read(), re.M).groups()
if sys.version_info[:2] < tuple(map(int, minimum)):
    sys.exit(f"DOFS needs Python >= {'.'.join(minimum)} (pyproject.toml); {sys.executable} is "
             f"{sys.version.split()[0]}: make PYTHON=<a newer python3> ...")
endef
export REQUIRE_PYTHON
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
	@test -x $(BIN)/python || { $(PYTHON) -c "$$REQUIRE_PYTHON" && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv and install the pinned packages

lint: $(STAMP) ## ruff: lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy, strict, over the app and its tests
	$(BIN)/mypy

# The tests run on pytest-xdist's workers, a file's tests on one, so its module and session
# fixtures are built once; files are handed out in collection order (--no-loadscope-reorder), in
# which tests/conftest.py puts the two that take minutes first (LONGEST_FIRST), each to a worker
# of its own. Those two spend most of their minutes waiting on Terraform's provider polling the
# emulator, so three workers suit two cores: the third takes every other file meanwhile.
TEST_WORKERS ?= 3
UNIT_PYTEST = $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
unit: $(STAMP) ## pytest only, on TEST_WORKERS processes
	$(UNIT_PYTEST)

# mypy beside a test command (its report follows the tests'), failing if either fails; Ctrl-C
# stops both. mypy needs a core for seconds while the tests' processes start.
define beside_mypy
	@echo '$(BIN)/mypy & $(1)'
	@mypy_report=$$(mktemp) && trap 'rm -f "$$mypy_report"' EXIT; \
	$(BIN)/mypy >"$$mypy_report" 2>&1 & mypy=$$!; \
	trap 'kill $$mypy 2>/dev/null; rm -f "$$mypy_report"' EXIT INT TERM; \
	$(1); tests=$$?; \
	wait $$mypy; types=$$?; cat "$$mypy_report"; \
	[ $$tests -eq 0 ] && [ $$types -eq 0 ]
endef

# What `lint typecheck unit` run, in less time: both virtualenvs (.venv and the scanners') are
# made side by side, and mypy runs beside the tests.
test: ## Everything CI runs: lint, types, tests
	@$(MAKE) --no-print-directory -j2 $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(call beside_mypy,$(UNIT_PYTEST))

# The inner loop: pytest's --inner-loop (tests/conftest.py) leaves out what needs the emulator,
# a packaged app, Terraform or the scanners. Bytecode is cached, as on any developer's machine
# (pytest rewrites every test module's asserts again when it may not write its cache). The tests
# run on two workers (pytest-xdist), a file's tests on one, so each file's cached parses (HCL,
# moto's service models) are built once; without the plugins of schemathesis and anyio, which
# only the fuzzing and no inner-loop test use (each process would import them: half a second).
INNER_LOOP_PYTEST = $(BIN)/pytest --inner-loop -q -n 2 --dist loadfile -p no:schemathesis -p no:anyio
check: $(STAMP) ## The inner loop, seconds: ruff, mypy and every test that needs no emulator or Terraform
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(call beside_mypy,PYTHONDONTWRITEBYTECODE= $(INNER_LOOP_PYTEST))

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# More targets, one file per concern (local stack, infrastructure, CI/CD).
include $(sort $(wildcard make/*.mk))
