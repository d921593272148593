"""Queue metadata: the reserved ``_`` keys, their defaults and their checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from tidings import errors
from tidings.config import SHORTEST_TTL, Limits
from tidings.models import JSON
from tidings.service import retry_policy, validate

MESSAGE_TTL = (
    "The TTL for a message may not exceed {high} seconds, and must be at least {low} seconds long."
)
DEFAULT_WAIT = (
    "The default wait of a queue may not exceed {high} seconds, and must be at least {low}."
)
MESSAGE_DELAY = (
    "The delay for a message may not exceed {high} seconds, and must be at least {low} seconds."
)
POST_SIZE = (
    "The maximum post size of a queue must be at least {low} and may not exceed {high} bytes."
)
CLAIM_COUNT = "The maximum claim count must be at least {low} and may not exceed {high}."
LOWEST_MAX_CLAIM_COUNT = 1
"""So a message claimed for the first time never goes to the dead-letter queue."""
HIGHEST_MAX_CLAIM_COUNT = 2**31 - 1

Check = Callable[[Any, Limits], None]


def _int_check(low: Callable[[Limits], int], high: Callable[[Limits], int], message: str) -> Check:
    def check(value: Any, limits: Limits) -> None:
        validate.in_range(value, low(limits), high(limits), message)

    return check


def _queue_name_check(value: Any, limits: Limits) -> None:
    validate.queue_name(value)


def _retry_policy_check(value: Any, limits: Limits) -> None:
    retry_policy.checked(value)


def _no_check(value: Any, limits: Limits) -> None:
    """The type check is all there is."""


RESERVED: dict[str, tuple[type, Check]] = {
    "_default_message_ttl": (
        int,
        _int_check(lambda _: SHORTEST_TTL, lambda lim: lim.max_message_ttl, MESSAGE_TTL),
    ),
    "_max_messages_post_size": (
        int,
        _int_check(lambda _: 1, lambda lim: lim.max_messages_post_size, POST_SIZE),
    ),
    "_default_message_delay": (
        int,
        _int_check(lambda _: 0, lambda lim: lim.max_message_delay, MESSAGE_DELAY),
    ),
    "_dead_letter_queue": (str, _queue_name_check),
    "_max_claim_count": (
        int,
        _int_check(
            lambda _: LOWEST_MAX_CLAIM_COUNT, lambda _: HIGHEST_MAX_CLAIM_COUNT, CLAIM_COUNT
        ),
    ),
    "_dead_letter_queue_messages_ttl": (
        int,
        _int_check(lambda _: SHORTEST_TTL, lambda lim: lim.max_message_ttl, MESSAGE_TTL),
    ),
    "_enable_encrypt_messages": (bool, _no_check),
    "_retry_policy": (dict, _retry_policy_check),
    "_flavor": (str, _no_check),
    "_default_wait_seconds": (
        int,
        _int_check(lambda _: 0, lambda lim: lim.max_wait_seconds, DEFAULT_WAIT),
    ),
}


def defaults(limits: Limits) -> dict[str, JSON]:
    """What a queue's reserved keys are when its metadata does not set them."""
    return {
        "_max_messages_post_size": limits.max_messages_post_size,
        "_default_message_ttl": limits.default_message_ttl,
        "_default_message_delay": limits.default_message_delay,
        "_dead_letter_queue": None,
        "_dead_letter_queue_messages_ttl": None,
        "_max_claim_count": None,
        "_enable_encrypt_messages": False,
        "_default_wait_seconds": 0,
    }


def with_defaults(metadata: Mapping[str, JSON] | None, limits: Limits) -> dict[str, JSON]:
    """The metadata with every reserved key present; null reserved keys take the default."""
    merged = defaults(limits)
    for key, value in (metadata or {}).items():
        if value is not None or key not in merged:
            merged[key] = value
    return merged


def checked(metadata: Any, limits: Limits) -> dict[str, JSON]:
    """``metadata`` if it is an object within the size limit whose reserved keys are valid.

    A reserved key set to null means "use the default", as in GET's view of the queue.
    """
    document = validate.document(metadata, "Metadata")
    size = len(orjson.dumps(document))
    if size > limits.max_queue_metadata:
        raise errors.InvalidRequest(
            f"Queue metadata is too large. Max size: {limits.max_queue_metadata}"
        )
    for key, value in document.items():
        if key in RESERVED and value is not None:
            kind, check = RESERVED[key]
            check(validate.typed(value, kind, key), limits)
    return document
