# Reliability and security proof (docs/RELIABILITY.md): the pipeline under injected faults, and scanners.
CHAOS_ORDERS ?= 1000
CHAOS_FAULTS ?= all=0.05
CHAOS_SEED ?= 1
CHAOS_FAULT_SEED ?= 1
CHAOS_OPTION := $(if $(SUCCESS_RATE),--success-rate $(SUCCESS_RATE))

.PHONY: chaos security

chaos: $(STAMP) ## Post orders under every fault and prove the invariants ([CHAOS_ORDERS=1000] [CHAOS_FAULTS=all=0.05])
	$(BIN)/python -m dofs_local chaos --orders $(CHAOS_ORDERS) --faults '$(CHAOS_FAULTS)' --seed $(CHAOS_SEED) \
		--fault-seed $(CHAOS_FAULT_SEED) --port 0 --aws-port 0 $(CHAOS_OPTION)

security: $(DEV_STAMP) ## Scanners only: bandit, pip-audit, detect-secrets (also part of `make test`, tests/security/)
	$(BIN)/pytest tests/security -q
