# The local stack: the whole pipeline on emulated AWS, no account and no Docker.
ORDERS ?= 50
SUCCESS_RATE ?=
SEED ?= 1
DEMO_PORT ?= 0
DEMO_AWS_PORT ?= 0
RATE_OPTION := $(if $(SUCCESS_RATE),--success-rate $(SUCCESS_RATE))

.PHONY: local demo chalice-local

local: $(STAMP) ## Serve the local stack until Ctrl-C (PORT=8000 AWS_PORT=4566 [SUCCESS_RATE=0.7])
	$(BIN)/python -m dofs_local serve --port $(PORT) --aws-port $(AWS_PORT) $(RATE_OPTION)

demo: $(STAMP) ## Run the pipeline end to end and check the invariants ([ORDERS=50] [SUCCESS_RATE=0.7] [SEED=1])
	$(BIN)/python -m dofs_local demo --orders $(ORDERS) --seed $(SEED) --port $(DEMO_PORT) --aws-port $(DEMO_AWS_PORT) $(RATE_OPTION)

chalice-local: $(STAMP) ## `chalice local --stage local` against a running `make local` (on PORT+1)
	AWS_ENDPOINT_URL=http://127.0.0.1:$(AWS_PORT) AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
	AWS_DEFAULT_REGION=us-east-1 \
	STATE_MACHINE_ARN=arn:aws:states:us-east-1:123456789012:stateMachine:dofs-local-order-workflow \
	$(BIN)/chalice local --stage local --port $$(($(PORT) + 1))
