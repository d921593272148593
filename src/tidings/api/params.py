"""Parameters and body schemas shared by several operations."""

from __future__ import annotations

from collections.abc import Callable

from tidings.api.operation import Param
from tidings.config import SHORTEST_TTL, Limits
from tidings.models import JSON
from tidings.service import validate
from tidings.service.metadata import HIGHEST_MAX_CLAIM_COUNT, LOWEST_MAX_CLAIM_COUNT

QUEUE_NAME = Param("queue_name", "path", "string", "Queue name: letters, digits, _ - . (max 64)")
TOPIC_NAME = Param("topic_name", "path", "string", "Topic name: letters, digits, _ - . (max 64)")
SUBSCRIPTION_ID = Param("subscription_id", "path", "string", "Subscription id")
MESSAGE_ID = Param("message_id", "path", "string", "Message id")
CLAIM_ID = Param("claim_id", "path", "string", "Claim id")
MARKER = Param("marker", "query", "string", "Continue after this marker (from a `next` link)")
WAIT = Param(
    "wait",
    "query",
    "integer",
    "Seconds to wait for a message when there is none yet; default: the queue's"
    " `_default_wait_seconds`",
    bounds=lambda limits: (0, limits.max_wait_seconds),
)


def messages_per_page(limits: Limits) -> tuple[int, int]:
    """From one message to a page of them (a listing, the ids a request names)."""
    return 1, limits.max_messages_per_page


def messages_per_take(limits: Limits) -> tuple[int, int]:
    """From one message to the most that a claim or a pop takes at once."""
    return 1, limits.max_messages_per_claim_or_pop


def page_size(largest: Callable[[Limits], int]) -> Param:
    """The ``limit`` of a listing whose pages hold at most ``largest`` items."""
    return Param(
        "limit", "query", "integer", "Page size", bounds=lambda limits: (1, largest(limits))
    )


QUEUES_PAGE = page_size(lambda limits: limits.max_queues_per_page)


def or_null(schema: dict[str, JSON]) -> dict[str, JSON]:
    """``schema``, or null: the server reads a null field as one left out, so that it takes
    the default (python-zaqarclient sends ``"grace": null`` for it)."""
    kind = schema["type"]
    assert isinstance(kind, str)
    return {**schema, "type": [kind, "null"]}


def queue_metadata_schema(limits: Limits) -> dict[str, JSON]:
    reserved = _reserved_metadata(limits)
    return {
        "type": "object",
        "description": "Queue metadata; keys starting with _ are reserved.",
        "properties": {name: or_null(schema) for name, schema in reserved.items()},
    }


def _reserved_metadata(limits: Limits) -> dict[str, dict[str, JSON]]:
    return {
        "_default_message_ttl": {
            "type": "integer",
            "minimum": SHORTEST_TTL,
            "maximum": limits.max_message_ttl,
        },
        "_default_message_delay": {
            "type": "integer",
            "minimum": 0,
            "maximum": limits.max_message_delay,
        },
        "_max_messages_post_size": {
            "type": "integer",
            "minimum": 1,
            "maximum": limits.max_messages_post_size,
        },
        "_dead_letter_queue": {"type": "string", "pattern": validate.NAMED.pattern},
        "_max_claim_count": {
            "type": "integer",
            "minimum": LOWEST_MAX_CLAIM_COUNT,
            "maximum": HIGHEST_MAX_CLAIM_COUNT,
        },
        "_dead_letter_queue_messages_ttl": {
            "type": "integer",
            "minimum": SHORTEST_TTL,
            "maximum": limits.max_message_ttl,
        },
        "_enable_encrypt_messages": {"type": "boolean"},
        "_default_wait_seconds": {
            "type": "integer",
            "minimum": 0,
            "maximum": limits.max_wait_seconds,
            "description": "Seconds GET messages and POST claims wait by default",
        },
    }


def claim_schema(limits: Limits) -> dict[str, JSON]:
    return {
        "type": "object",
        "properties": {
            "ttl": or_null(
                {"type": "integer", "minimum": SHORTEST_TTL, "maximum": limits.max_claim_ttl}
            ),
            "grace": or_null(
                {"type": "integer", "minimum": SHORTEST_TTL, "maximum": limits.max_claim_grace}
            ),
        },
    }
