"""What a sink is given and what it answers: one notification to one subscriber, and whether
it was delivered, may be retried, or failed for good."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tidings.models import JSON, Subscription
from tidings.service.outbox import Job


@dataclass(frozen=True)
class Delivery:
    subscription: Subscription
    job: Job
    payload: dict[str, JSON]
    """The document the subscriber receives: Zaqar's notification (``body``, ``ttl``,
    ``queue_name``, ``Message_Type``) or a confirmation request."""


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retryable: bool = False
    error: str = ""


DELIVERED = Outcome(delivered=True)


def retry(error: str) -> Outcome:
    """A failure that may pass: connection refused, timeout, 5xx, 429."""
    return Outcome(delivered=False, retryable=True, error=error)


def failed(error: str) -> Outcome:
    """A failure that retrying will not mend (the receiver refused the notification)."""
    return Outcome(delivered=False, retryable=False, error=error)


class Sink(Protocol):
    async def deliver(self, delivery: Delivery) -> Outcome: ...
