"""Exceptions shared by the handlers.

Their class names matter: Lambda reports an unhandled exception's class name as the error
type, and the state machine's Retry and Catch rules match on it.
"""


class TransientError(Exception):
    """An AWS dependency throttled or failed in a way that a retry may fix."""


class OrderNotFoundError(Exception):
    """A workflow or queue message names an order that is not in the orders table."""


class FulfillmentFailedError(Exception):
    """A fulfillment message could not be concluded here (no queue to send its copy to): it is a
    batch item failure, and SQS delivers it again."""
