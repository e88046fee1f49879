# Infrastructure: package the app as a Terraform module, then plan, deploy or destroy a stage.
# Each target checks its prerequisites (terraform on PATH, AWS credentials) and names what is
# missing. See infra/README.md.
STAGE ?= dev
export STAGE

.PHONY: stage-check package infra-check bootstrap plan deploy destroy

# An unknown STAGE is refused, naming the known ones, before anything else runs (the system
# Python is enough: dofs_config/stage.py imports no package at its top; tests/infra/test_prerequisites.py
# runs it on a Python without any).
stage-check:
	@$(PYTHON) scripts/infra.py stage --stage '$(STAGE)'

package: stage-check $(BUILD_STAMP) ## chalice package STAGE (dev, prod, ...; default dev) as a Terraform module in build/package/STAGE
	$(BIN)/python scripts/package_app.py --stage $(STAGE) --out build/package/$(STAGE)

infra-check: stage-check $(BUILD_STAMP) ## Say which deploy prerequisites (terraform, AWS credentials) are missing
	$(BIN)/python scripts/infra.py check --stage $(STAGE)

bootstrap: $(BUILD_STAMP) ## Create the Terraform state bucket (once per account and region)
	$(BIN)/python scripts/infra.py bootstrap --stage $(STAGE)

plan: package ## terraform plan for STAGE (S3 remote state)
	$(BIN)/python scripts/infra.py plan --stage $(STAGE)

deploy: package ## terraform apply for STAGE (AUTO_APPROVE=1 to skip the prompt)
	$(BIN)/python scripts/infra.py deploy --stage $(STAGE)

destroy: package ## terraform destroy for STAGE (AUTO_APPROVE=1 to skip the prompt; the module must be packaged)
	$(BIN)/python scripts/infra.py destroy --stage $(STAGE)

# checkov gets a virtualenv of its own: it installs bc-python-hcl2, which would replace
# python-hcl2's `hcl2` module in .venv. tests/infra/test_checkov.py runs it; `make test` builds it.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): requirements/checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(call install_lock,$(CHECKOV_VENV)/bin,requirements/checkov.txt,checkov)
	@touch $(CHECKOV_STAMP)

.PHONY: checkov-venv
checkov-venv: $(CHECKOV_STAMP) ## Install checkov into .venv-checkov (the infra tests use it)

unit: $(CHECKOV_STAMP)
