"""Emulated AWS: the moto server and its patches, the Lambda bridge, the SQS pollers,
provisioning, fault injection, and the local pipeline that puts them together."""
