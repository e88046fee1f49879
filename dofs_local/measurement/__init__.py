"""Measurement: the benchmark, what a run costs on AWS (metering, the cost model, prices)."""
