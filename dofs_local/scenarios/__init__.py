"""Scenarios that drive the local pipeline over HTTP: the demo and the chaos run, their
shared client, and the contract's invariants they check."""
