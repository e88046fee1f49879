# The load test a user runs against a deployed stage before launch (or against `make local`):
# Locust, in its own virtualenv (.venv-load, requirements/load.txt: the local set and Locust,
# hash-locked): out of the Lambda package, the first-run install and the dev toolchain.
LOAD_VENV := .venv-load
LOAD_STAMP := $(LOAD_VENV)/.installed
RATE ?= 10
DURATION ?= 60
FOLLOW_EVERY ?= 10
LOAD_REPORT ?= .dofs/load-report.json

.PHONY: load load-venv

$(LOAD_STAMP): requirements/load.txt
	@test -x $(LOAD_VENV)/bin/python || { $(PYTHON) -c "$$REQUIRE_PYTHON" && $(PYTHON) -m venv $(LOAD_VENV); }
	$(call install_lock,$(LOAD_VENV)/bin,requirements/load.txt,the load test)
	@touch $(LOAD_STAMP)

load-venv: $(LOAD_STAMP) ## Create .venv-load with Locust (make test does it)

# tests/integration/test_load.py runs the locustfile against the local stack with it.
test: $(LOAD_STAMP)

# One Locust user per order a second, each paced by constant_throughput; the key from API_KEY's
# environment, never the command line. Exits 1 when any request failed (a non-202 POST).
load: $(LOAD_STAMP) ## Load a stage: API_URL=https://.../api [RATE=10] [DURATION=60] [API_KEY=...]; report in .dofs/load-report.json
	@test -n "$(API_URL)" || { echo "usage: make load API_URL=https://<api>/api [RATE=10] [DURATION=60] [API_KEY=...]" >&2; exit 2; }
	users=$$($(LOAD_VENV)/bin/python -c "import math; print(max(1, math.ceil(float('$(RATE)'))))") && \
	PYTHONPATH=$(CURDIR) RATE=$(RATE) FOLLOW_EVERY=$(FOLLOW_EVERY) LOAD_REPORT=$(LOAD_REPORT) \
	$(LOAD_VENV)/bin/locust -f dofs_local/load/locustfile.py --headless --only-summary \
		--host "$(API_URL)" -u $$users -r $$users -t $(DURATION)s
