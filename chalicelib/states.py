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
    """The pipeline's transitions: forward only."""
    return current in ALLOWED_SOURCES[target]


# The one exception to forward-only (docs/CONTRACT.md section 3): an operator's redrive gives a
# DEAD_LETTERED order a new round of fulfillment attempts. Only the repository's `redrive` makes
# it, recorded in the order's history with `by: operator`; ALLOWED_SOURCES stays forward-only
# so no pipeline write can ever take it.
REDRIVE_SOURCE = OrderStatus.DEAD_LETTERED
REDRIVE_TARGET = OrderStatus.PENDING
OPERATOR = "operator"


def is_redrive(current: OrderStatus, target: OrderStatus) -> bool:
    return (current, target) == (REDRIVE_SOURCE, REDRIVE_TARGET)
