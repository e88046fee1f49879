"""The load test a user runs against a deployed stage (`make load`), built on Locust."""
