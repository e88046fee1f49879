# The operations CLI (dofs_ops): list, show and redrive orders of a deployed stage or the local stack.
# make answers 2 for any failing recipe; scripts/dofs-ops runs the same CLI with its own exit
# status (1: an unknown order or one not redriven, 2: a bad argument or endpoint).
ARGS ?= --help

.PHONY: ops

ops: $(STAMP) ## The operations CLI: make ops ARGS="show order-1001" (local stack on AWS_PORT), ARGS="--stage dev list --status DEAD_LETTERED"
	$(BIN)/python -m dofs_ops $(ARGS)
