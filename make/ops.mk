# The operations CLI (dofs_ops): list, show and redrive orders of a deployed stage or the local stack.
ARGS ?= --help

.PHONY: ops

ops: $(STAMP) ## The operations CLI: make ops ARGS="show order-1001" (local stack on AWS_PORT), ARGS="--stage dev list --status DEAD_LETTERED"
	$(BIN)/python -m dofs_ops $(ARGS)
