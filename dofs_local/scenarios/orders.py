"""The scenarios' order mix: valid orders, and about one in seven that breaks a business rule."""

from __future__ import annotations

import random
from typing import Any

REJECTS: list[dict[str, Any]] = [
    {"currency": "JPY"},
    {"items": [{"sku": "A", "quantity": 1, "unit_price": "1.00"}, {"sku": "A", "quantity": 2, "unit_price": "1.00"}]},
    {"items": [{"sku": "BIG", "quantity": 10_000, "unit_price": "9.99"}]},
]


def order_bodies(count: int, rng: random.Random, run_id: str) -> list[tuple[dict[str, Any], bool]]:
    """About one order in seven breaks a business rule; the rest are valid."""
    bodies = []
    for index in range(count):
        items = [
            {"sku": f"SKU-{n}", "quantity": rng.randint(1, 5), "unit_price": f"{rng.randint(100, 9999) / 100:.2f}"}
            for n in range(rng.randint(1, 4))
        ]
        body: dict[str, Any] = {"order_id": f"demo-{run_id}-{index:05d}", "customer_id": f"cust-{rng.randint(1, 99)}"}
        body["items"] = items
        valid = index % 7 != 3
        if not valid:
            body.update(REJECTS[(index // 7) % len(REJECTS)])
        bodies.append((body, valid))
    return bodies
