# The benchmark: throughput, latency and cost per order of the local stack (docs/PERFORMANCE.md).
# The cost comes from the first phase, at BENCH_SUCCESS_RATE (0.7, as dev and prod configure).
BENCH_RATES ?= 5,10,25,50
BENCH_DURATION ?= 20
BENCH_SUCCESS_RATE ?= 0.7
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: bench

$(BENCH_STAMP): $(STAMP) requirements/bench.txt
	$(call install_lock,$(BIN),requirements/bench.txt,the benchmark)
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) ## Throughput, latency, cold start; $/million orders per stage at 1, 10, 100M orders a month ([BENCH_RATES=5,10,25,50] [BENCH_DURATION=20])
	$(BIN)/python -m dofs_local bench --rates $(BENCH_RATES) --duration $(BENCH_DURATION) --success-rate $(BENCH_SUCCESS_RATE)
