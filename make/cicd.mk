# CI/CD targets (issue 5). The buildspec-*.yml files at the root call Make targets only, so
# CodeBuild runs exactly what a developer runs; docs/PIPELINE.md maps each stage to its target.

SMOKE_TIMEOUT ?= 120
SMOKE_EXPECT ?= terminal
SMOKE_INTERVAL ?= 2

.PHONY: smoke

smoke: ## Smoke-test a deployment: API_URL=<base URL> [API_KEY=..] [OUTPUTS_JSON=..]
	@if [ -z "$(API_URL)" ] && [ -z "$(OUTPUTS_JSON)" ]; then \
		echo "make smoke: set API_URL=<base URL of the API> (http://127.0.0.1:$(PORT) for make local)" \
			"or OUTPUTS_JSON=<file saved from terraform output -json>" >&2; \
		exit 2; \
	fi
	@API_URL='$(API_URL)' API_KEY='$(API_KEY)' $(PYTHON) scripts/smoke.py \
		--timeout '$(SMOKE_TIMEOUT)' --interval '$(SMOKE_INTERVAL)' --expect '$(SMOKE_EXPECT)' \
		$(if $(OUTPUTS_JSON),--outputs-json '$(OUTPUTS_JSON)')
