"""The identity CloudWatch gives the functions' custom metrics: the namespace and the dimensions
(name, value) of the EMF line Powertools prints, as a function counts under a given environment.
An alarm or a dashboard widget sees a metric only if it names exactly this identity."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from chalicelib.observability import count_dead_lettered

MetricIdentity = tuple[str, frozenset[tuple[str, str]]]


def emf_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def identity_of(line: Mapping[str, Any]) -> MetricIdentity:
    [directive] = line["_aws"]["CloudWatchMetrics"]
    [dimension_names] = directive["Dimensions"]
    return directive["Namespace"], frozenset((name, line[name]) for name in dimension_names)


def watched_identity(namespace: str, dimensions: Mapping[str, str]) -> MetricIdentity:
    return namespace, frozenset(dimensions.items())


def counted_identity(
    environment: Mapping[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> MetricIdentity:
    """One order dead-lettered by a function running with `environment` (its metrics on, as on AWS)."""
    capsys.readouterr()
    with monkeypatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        patch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
        count_dead_lettered(source="workflow")
    [line] = emf_lines(capsys.readouterr().out)
    return identity_of(line)
