"""Zaqar's notification retry policy (``_retry_policy`` on a queue or in subscription options):
its validation, which policy applies, and the delays it gives.

A failed delivery is retried ``retries_with_no_delay`` times at once, then
``minimum_delay_retries`` times after ``minimum_delay`` seconds, then after each delay of the
backoff function, then ``maximum_delay_retries`` times after ``maximum_delay`` seconds; after
that the notification is dead-lettered.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from tidings import errors
from tidings.service import validate

STEP = 5
"""Zaqar's ``LINEAR_INTERVAL``: the backoff functions take (maximum - minimum) / 5 steps."""


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    retries_with_no_delay: int = 3
    minimum_delay_retries: int = 3
    minimum_delay: int = 5
    maximum_delay: int = 30
    maximum_delay_retries: int = 3
    retry_backoff_function: str = "linear"
    ignore_subscription_override: bool = False

    def delays(self) -> list[int]:
        """Seconds to wait before each retry, in order."""
        backoff = BACKOFF[self.retry_backoff_function](self.minimum_delay, self.maximum_delay)
        return (
            [0] * self.retries_with_no_delay
            + [self.minimum_delay] * self.minimum_delay_retries
            + backoff
            + [self.maximum_delay] * self.maximum_delay_retries
        )

    def delay_before(self, retry: int) -> int | None:
        """Seconds to wait before retry number ``retry`` (from 1); None when retries ran out."""
        delays = self.delays()
        return delays[retry - 1] if 1 <= retry <= len(delays) else None


def _steps(low: int, high: int) -> int:
    return (high - low) // STEP


def _linear(low: int, high: int) -> list[int]:
    return list(range(low, high, STEP))


def _arithmetic(low: int, high: int) -> list[int]:
    n = _steps(low, high)
    d = 2.0 * (high - low) / (n * (n - 1))
    return [int(low + (a - 1) * a * d / 2) for a in range(1, n + 1)]


def _ratio(low: int, high: int) -> float:
    return math.pow(10, math.log10(high / low) / (_steps(low, high) - 1))


def _geometric(low: int, high: int) -> list[int]:
    k = _ratio(low, high)
    return [int(low * math.pow(k, a - 1)) for a in range(1, _steps(low, high) + 1)]


def _exponential(low: int, high: int) -> list[int]:
    k = _ratio(low, high)
    return [int(low / k * math.pow(k, a)) for a in range(1, _steps(low, high) + 1)]


BACKOFF: dict[str, Callable[[int, int], list[int]]] = {
    "linear": _linear,
    "arithmetic": _arithmetic,
    "geometric": _geometric,
    "exponential": _exponential,
}

TYPES: dict[str, type] = {
    field.name: type(field.default) for field in dataclasses.fields(RetryPolicy)
}


def checked(value: Any) -> dict[str, Any]:
    """``value`` if it is a valid ``_retry_policy`` object."""
    policy: dict[str, Any] = validate.typed(value, dict, "_retry_policy")
    unknown = sorted(set(policy) - set(TYPES))
    if unknown:
        raise errors.InvalidRequest(f"Unknown retry policy keys: {', '.join(unknown)}.")
    for key, kind in TYPES.items():
        if policy.get(key) is not None:
            validate.typed(policy[key], kind, key)
    parsed = from_document(policy)
    if parsed.retry_backoff_function not in BACKOFF:
        raise errors.InvalidRequest(f"retry_backoff_function must be one of {', '.join(BACKOFF)}.")
    _check_numbers(parsed)
    return policy


def _check_numbers(policy: RetryPolicy) -> None:
    counts = (
        policy.retries_with_no_delay,
        policy.minimum_delay_retries,
        policy.maximum_delay_retries,
    )
    if min(counts) < 0:
        raise errors.InvalidRequest("Retry counts may not be negative.")
    if policy.minimum_delay < 1:
        raise errors.InvalidRequest("minimum_delay must be at least 1 second.")
    if policy.maximum_delay - policy.minimum_delay < 2 * STEP:
        raise errors.InvalidRequest(
            f"maximum_delay must exceed minimum_delay by at least {2 * STEP} seconds."
        )


def from_document(document: Mapping[str, Any] | None) -> RetryPolicy:
    """The policy a (validated) ``_retry_policy`` object describes; absent keys take
    Zaqar's defaults."""
    given = {key: value for key, value in (document or {}).items() if value is not None}
    return RetryPolicy(**{key: value for key, value in given.items() if key in TYPES})


def effective(
    queue_policy: Mapping[str, Any] | None, subscription_policy: Mapping[str, Any] | None
) -> RetryPolicy:
    """The subscription's policy, else the queue's; the queue's when either says
    ``ignore_subscription_override``."""
    ignore = any(
        (policy or {}).get("ignore_subscription_override")
        for policy in (queue_policy, subscription_policy)
    )
    if ignore:
        return from_document(queue_policy)
    return from_document(subscription_policy or queue_policy)
