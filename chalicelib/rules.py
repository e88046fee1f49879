"""Business rules checked by ValidateOrder in the workflow (docs/CONTRACT.md section 2)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from chalicelib.models import Order
from chalicelib.settings import BusinessRules


@dataclass(frozen=True)
class Verdict:
    valid: bool
    reason: str | None = None

    def to_payload(self) -> dict[str, object]:
        return {"valid": self.valid, "reason": self.reason}


def check_business_rules(order: Order, settings: BusinessRules) -> Verdict:
    """The first broken rule, named in `reason`; rules are checked in a fixed order."""
    if order.currency not in settings.supported_currencies:
        supported = ", ".join(sorted(settings.supported_currencies))
        return Verdict(False, f"UNSUPPORTED_CURRENCY: {order.currency} is not one of {supported}")
    duplicates = sorted(sku for sku, count in Counter(i.sku for i in order.items).items() if count > 1)
    if duplicates:
        return Verdict(False, f"DUPLICATE_SKU: {', '.join(duplicates)} appears more than once")
    if order.total > settings.max_order_total:
        return Verdict(
            False,
            f"ORDER_TOTAL_EXCEEDED: total {order.total} exceeds the maximum {settings.max_order_total}",
        )
    return Verdict(True)
