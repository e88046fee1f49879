# The capacity model (scripts/capacity.py): each hop's ceiling in orders/s for a stage, from its
# settings as packaged and AWS's default quotas, ending with the stage's sustained capacity.
.PHONY: capacity capacity-check capacity-measure

capacity: stage-check $(STAMP) ## Every hop's ceiling in orders/s for STAGE, then "STAGE capacity: N orders/s sustained (binding: HOP)"
	$(BIN)/python scripts/capacity.py report --stage $(STAGE) --quotas

capacity-check: $(STAMP) ## Fail where a stage's settings put it below its required_orders_per_second (or lose a burst)
	$(BIN)/python scripts/capacity.py check

capacity-measure: $(STAMP) ## The handlers' CPU time and AWS calls per unit of work on the local stack, each function's init CPU time from prod's package (MEASURED, MEASURED_COLD_START_MS)
	$(BIN)/python scripts/capacity.py measure
