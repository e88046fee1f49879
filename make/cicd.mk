# CI/CD targets. The buildspec-*.yml files at the root call Make targets only, so
# CodeBuild runs exactly what a developer runs; docs/PIPELINE.md maps each stage to its target.
# `package`, `plan` (which saves build/tfplan-STAGE), `deploy`, `destroy` and `infra-check` live
# in make/infra.mk; the targets here add what the pipeline needs around them: applying a saved
# plan, saving the outputs, the smoke test, installing Terraform in CodeBuild.

STAGE ?= dev
TERRAFORM ?= terraform
TERRAFORM_VERSION ?= 1.11.4
TERRAFORM_INSTALL_DIR ?= /usr/local/bin
CICD_STAGE_DIR = infra/stage
PLAN ?= build/tfplan-$(STAGE)
# The saved plan embeds the stage's state: in the pipeline it is kept beside the state (the state
# bucket, under the state key's directory, plans/<SHA-256>.tfplan), and the Plan's artifact
# carries only PLAN_REF, its key and SHA-256 (scripts/saved_plan.py).
PLAN_REF ?= build/plan-ref-$(STAGE).json
DEPLOY_OUTPUTS ?= build/deploy/$(STAGE)-outputs.json
# The stage's worst case from an accepted order to a terminal state (workflow, every receive of
# order_queue failing, the dead-letter handler), computed from its settings by scripts/timing.py.
# An API on this machine is make local's, so the local stage's settings bound it, whatever STAGE.
LOCAL_API_URLS = http://127.0.0.1:% http://localhost:%
SMOKE_STAGE = $(if $(filter $(LOCAL_API_URLS),$(API_URL)),local,$(STAGE))
SMOKE_TIMEOUT ?= $(shell $(PYTHON) scripts/timing.py smoke-timeout --stage '$(SMOKE_STAGE)')
SMOKE_EXPECT ?= terminal
SMOKE_INTERVAL ?= 2
# In CodeBuild, a stage's Deploy outputs arrive as the secondary source DeployOutput_<stage>
# (infra/cicd/main.tf, deploy_artifacts), in $CODEBUILD_SRC_DIR_DeployOutput_<stage>.
DEPLOY_ARTIFACT_DIR = $(CODEBUILD_SRC_DIR_DeployOutput_$(STAGE))
OUTPUTS_JSON ?= $(if $(DEPLOY_ARTIFACT_DIR),$(DEPLOY_ARTIFACT_DIR)/outputs.json)
# The smoke test's own API key: client smoke's, made again (rotated) at each run by the ops CLI,
# its value never written down. The CLI needs the project's runtime packages (requirements.txt).
SMOKE_KEYS ?= $(PYTHON) -m dofs_ops

# `terraform init` of infra/stage against the stage's S3 state, with the arguments `make plan`
# uses (scripts/infra.py backend: infra/stages/STAGE.s3.tfbackend, STATE_BUCKET or infra/bootstrap's
# name for it, the stage's region). The package it reads, build/app, is the one the plan was made
# with: Deploy's source is the Plan's work tree.
define cicd_init_stage
	@backend=$$(STATE_BUCKET='$(STATE_BUCKET)' $(BIN)/python scripts/infra.py backend --stage '$(STAGE)') || exit 2; \
	echo "+ terraform -chdir=$(CICD_STAGE_DIR) init -input=false -reconfigure $$backend"; \
	$(TERRAFORM) -chdir=$(CICD_STAGE_DIR) init -input=false -reconfigure $$backend $(1)
endef

.PHONY: smoke smoke-deployed ci-tools save-plan fetch-plan deploy-plan deploy-outputs

smoke: ## Smoke-test a deployment: API_URL=<base URL> [API_KEY=..] [OUTPUTS_JSON=..]
	@if [ -z "$(API_URL)" ] && [ -z "$(OUTPUTS_JSON)" ]; then \
		echo "make smoke: set API_URL=<base URL of the API> (http://127.0.0.1:$(PORT) for make local)" \
			"or OUTPUTS_JSON=<file saved from terraform output -json>" >&2; \
		exit 2; \
	fi
	@API_URL='$(API_URL)' API_KEY='$(API_KEY)' $(PYTHON) scripts/smoke.py \
		--timeout '$(SMOKE_TIMEOUT)' --interval '$(SMOKE_INTERVAL)' --expect '$(SMOKE_EXPECT)' \
		$(if $(OUTPUTS_JSON),--outputs-json '$(OUTPUTS_JSON)')

smoke-deployed: ## Smoke-test the stage whose outputs Deploy saved (OUTPUTS_JSON=.., in CodeBuild the stage's DeployOutput), with a new key of client smoke
	@test -f '$(OUTPUTS_JSON)' || { echo "make smoke-deployed: OUTPUTS_JSON='$(OUTPUTS_JSON)' is not a file (make deploy-outputs writes it)" >&2; exit 2; }
	@key=$$($(SMOKE_KEYS) --stage '$(STAGE)' --json keys create smoke --replace \
		| $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["value"])') \
		|| { echo "make smoke-deployed: could not create client smoke's API key in stage $(STAGE)'s usage plan" >&2; exit 1; }; \
	echo "[smoke] using a new API key of client smoke (its previous one revoked)"; \
	API_KEY="$$key" $(MAKE) --no-print-directory smoke OUTPUTS_JSON='$(OUTPUTS_JSON)' API_URL=

ci-tools: ## CI: install Terraform TERRAFORM_VERSION when it is not on PATH (CodeBuild)
	@if $(TERRAFORM) version 2>/dev/null | head -n1 | grep -qx 'Terraform v$(TERRAFORM_VERSION)'; then \
		echo "terraform $(TERRAFORM_VERSION) is installed"; \
	else \
		set -euo pipefail; \
		for tool in curl unzip sha256sum; do command -v $$tool >/dev/null || { echo "ci-tools: $$tool is missing" >&2; exit 1; }; done; \
		arch=$$(uname -m | sed -e 's/x86_64/amd64/' -e 's/aarch64/arm64/'); \
		zip=terraform_$(TERRAFORM_VERSION)_linux_$$arch.zip; \
		url=https://releases.hashicorp.com/terraform/$(TERRAFORM_VERSION); \
		tmp=$$(mktemp -d); \
		curl -fsSL -o "$$tmp/$$zip" "$$url/$$zip"; \
		curl -fsSL -o "$$tmp/SHA256SUMS" "$$url/terraform_$(TERRAFORM_VERSION)_SHA256SUMS"; \
		(cd "$$tmp" && grep " $$zip\$$" SHA256SUMS | sha256sum -c -); \
		unzip -oq "$$tmp/$$zip" terraform -d "$$tmp"; \
		install -m 0755 "$$tmp/terraform" '$(TERRAFORM_INSTALL_DIR)/terraform'; \
		rm -rf "$$tmp"; \
		'$(TERRAFORM_INSTALL_DIR)/terraform' version; \
	fi

save-plan: stage-check $(BUILD_STAMP) ## CI: move the saved plan PLAN to the stage's state bucket; its key and SHA-256 go to PLAN_REF
	$(BIN)/python scripts/saved_plan.py put --stage '$(STAGE)' --plan '$(PLAN)' --ref '$(PLAN_REF)'

fetch-plan: stage-check $(BUILD_STAMP) ## CI: download the saved plan PLAN_REF names into PLAN, refused unless its SHA-256 matches
	$(BIN)/python scripts/saved_plan.py get --stage '$(STAGE)' --ref '$(PLAN_REF)' --plan '$(PLAN)'

deploy-plan: infra-check ## Apply exactly the saved plan PLAN (default build/tfplan-STAGE, as make plan saves it)
	@test -f '$(PLAN)' || { echo "$@: PLAN='$(PLAN)' is not a file: make plan STAGE=$(STAGE) saves build/tfplan-$(STAGE)" >&2; exit 2; }
	$(call cicd_init_stage)
	$(TERRAFORM) -chdir=$(CICD_STAGE_DIR) apply -input=false '$(abspath $(PLAN))'

# DEPLOY_OUTPUTS becomes a pipeline artifact, readable by every later stage: sensitive outputs,
# should a stage ever have one, are left out (no output holds an API key). An empty or failed
# `terraform output` makes the filter fail, and no file is written.
deploy-outputs: infra-check ## Save the stage's non-sensitive terraform outputs as JSON in DEPLOY_OUTPUTS (for smoke-deployed)
	@mkdir -p '$(dir $(DEPLOY_OUTPUTS))'
	$(call cicd_init_stage,>/dev/null)
	$(TERRAFORM) -chdir=$(CICD_STAGE_DIR) output -json \
		| $(PYTHON) -c 'import json, sys; json.dump({name: output for name, output in json.load(sys.stdin).items() if not output.get("sensitive")}, sys.stdout, indent=2)' \
		> '$(DEPLOY_OUTPUTS).tmp' || { rm -f '$(DEPLOY_OUTPUTS).tmp'; exit 1; }
	@mv '$(DEPLOY_OUTPUTS).tmp' '$(DEPLOY_OUTPUTS)'
	@echo "non-sensitive outputs of $(STAGE) saved to $(DEPLOY_OUTPUTS)"
