"""Order states and the forward-only transitions between them (docs/CONTRACT.md section 3)."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    PENDING = "PENDING"
    FAILED = "FAILED"
    FULFILLED = "FULFILLED"
    DEAD_LETTERED = "DEAD_LETTERED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES: frozenset[OrderStatus] = frozenset(
    {OrderStatus.REJECTED, OrderStatus.FULFILLED, OrderStatus.DEAD_LETTERED}
)

# For each target status, the statuses an order may be in to move there. Every repository
# update uses these sets in its ConditionExpression, so the rule is enforced by DynamoDB.
# FAILED -> FAILED is a further failed attempt; ACCEPTED -> DEAD_LETTERED is a workflow that
# exhausted its retries before the order could be queued.
ALLOWED_SOURCES: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.ACCEPTED: frozenset(),
    OrderStatus.REJECTED: frozenset({OrderStatus.ACCEPTED}),
    OrderStatus.PENDING: frozenset({OrderStatus.ACCEPTED}),
    OrderStatus.FAILED: frozenset({OrderStatus.PENDING, OrderStatus.FAILED}),
    OrderStatus.FULFILLED: frozenset({OrderStatus.PENDING, OrderStatus.FAILED}),
    OrderStatus.DEAD_LETTERED: frozenset({OrderStatus.ACCEPTED, OrderStatus.PENDING, OrderStatus.FAILED}),
}


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return current in ALLOWED_SOURCES[target]
