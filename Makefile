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

.PHONY: help venv lock test check lint typecheck unit clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Installs are by purpose, each from a hash-locked file (requirements/*.txt, compiled by `make
# lock` from requirements/*.in; pip refuses any file whose hash differs): STAMP the local stack
# (`make demo`, `make local`), DEV_STAMP adds the tests, lint, types and checks (`make check`,
# `make test`), BUILD_STAMP is what packaging and Terraform need (the pipeline's Plan and Deploy).
DEV_STAMP := $(VENV)/.dev-installed
BUILD_STAMP := $(VENV)/.build-installed

# $(call install_lock,<venv bin>,<lock file>,<what for>): one line naming the set, then pip's progress.
define install_lock
	@echo "installing $$(grep -c '^[A-Za-z0-9]' $(2)) pinned packages for $(3) ($(2), hash-checked)"
	$(1)/python -m pip install --require-hashes --progress-bar on -r $(2)
endef

# The virtualenv itself, made with PYTHON once it is checked.
define make_venv
	@test -x $(BIN)/python || { $(PYTHON) -c "$$REQUIRE_PYTHON" && $(PYTHON) -m venv $(VENV); }
endef

$(STAMP): requirements/local.txt
	$(make_venv)
	$(call install_lock,$(BIN),requirements/local.txt,the local stack)
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements/dev.txt
	$(call install_lock,$(BIN),requirements/dev.txt,the tests and checks)
	@touch $(DEV_STAMP)

$(BUILD_STAMP): requirements/build.txt
	$(make_venv)
	$(call install_lock,$(BIN),requirements/build.txt,packaging and deploying)
	@touch $(BUILD_STAMP)

venv: $(STAMP) ## Create .venv with what the local stack needs (make check and make test add their tools)

# `make lock` recompiles every lock from its requirements/*.in with uv (installed from
# requirements/lock.txt into a throwaway virtualenv): for Python 3.11 up on every platform
# (--universal), with the hash of every file of each pinned release. Pins already locked are kept
# (LOCK_ARGS=--upgrade-package <name> moves one). dev.txt is the one resolution of everything
# .venv holds; every other set is resolved within it, so the sets agree where they overlap.
LOCK_VENV := build/lock-venv
LOCK_ARGS ?=
LOCK = $(LOCK_VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock' $(LOCK_ARGS)
lock: ## Recompile the hash-locked requirements (requirements.txt, requirements/*.txt) from requirements/*.in
	@test -x $(LOCK_VENV)/bin/uv || { $(PYTHON) -m venv $(LOCK_VENV) && \
		$(LOCK_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements/lock.txt; }
	$(LOCK) requirements/dev.in -o requirements/dev.txt
	$(LOCK) requirements/lambda.in -c requirements/dev.txt -o requirements.txt
	@set -e; for set in build local bench load; do \
		echo "$(LOCK) requirements/$$set.in -c requirements/dev.txt -o requirements/$$set.txt"; \
		$(LOCK) requirements/$$set.in -c requirements/dev.txt -o requirements/$$set.txt; \
	done
	$(LOCK) requirements/checkov.in -o requirements/checkov.txt
	$(LOCK) requirements/lock.in -o requirements/lock.txt

lint: $(DEV_STAMP) ## ruff: lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP) ## mypy, strict, over the app and its tests
	$(BIN)/mypy

# The tests run on pytest-xdist's workers, a file's tests on one, so its module and session
# fixtures are built once; files are handed out in collection order (--no-loadscope-reorder), in
# which tests/conftest.py puts the two that take minutes first (LONGEST_FIRST), each to a worker
# of its own. Those two spend most of their minutes waiting on Terraform's provider polling the
# emulator, so three workers suit two cores: the third takes every other file meanwhile.
TEST_WORKERS ?= 3
UNIT_PYTEST = $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
unit: $(DEV_STAMP) ## pytest only, on TEST_WORKERS processes
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
	@$(MAKE) --no-print-directory -j2 $(DEV_STAMP) $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(call beside_mypy,$(UNIT_PYTEST))

# The inner loop: the unit tier (`pytest -m unit`: tests/fakes.py and pure code; moto cannot be
# imported, tests/conftest.py), beside ruff and mypy. Bytecode is cached, as on any developer's
# machine (pytest rewrites every test module's asserts again when it may not write its cache).
# Without the plugins of schemathesis and anyio, which no unit test uses (each process would
# import them: half a second).
UNIT_TIER_PYTEST = $(BIN)/pytest -m unit -q -n 2 --dist loadfile -p no:schemathesis -p no:anyio
check: $(DEV_STAMP) ## The inner loop, seconds: ruff, mypy and the unit tier (pytest -m unit)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(call beside_mypy,PYTHONDONTWRITEBYTECODE= $(UNIT_TIER_PYTEST))

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# More targets, one file per concern (local stack, infrastructure, CI/CD).
include $(sort $(wildcard make/*.mk))
