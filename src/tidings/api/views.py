"""How records look on the wire (Zaqar v2 shapes)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from tidings.config import Limits
from tidings.models import JSON, Claim, Message, QueueRecord, QueueStats, Subscription
from tidings.service import metadata
from tidings.service.scope import Kind


def queue_href(queue: str, kind: Kind = "queues") -> str:
    return f"/v2/{kind}/{queue}"


def message_href(
    queue: str, message_id: str, claim_id: str | None = None, kind: Kind = "queues"
) -> str:
    href = f"{queue_href(queue, kind)}/messages/{message_id}"
    return href if claim_id is None else f"{href}?claim_id={claim_id}"


def claim_href(queue: str, claim_id: str) -> str:
    return f"{queue_href(queue)}/claims/{claim_id}"


def message(queue: str, record: Message, now: float, kind: Kind = "queues") -> dict[str, JSON]:
    """A message; its href names its claim while one holds it."""
    claim_id = record.claim_id if record.is_claimed(now) else None
    return {
        "id": record.id,
        "href": message_href(queue, record.id, claim_id, kind),
        "ttl": record.ttl,
        "age": record.age(now),
        "body": record.body,
    }


def messages(
    queue: str, records: list[Message], now: float, kind: Kind = "queues"
) -> list[dict[str, JSON]]:
    return [message(queue, record, now, kind) for record in records]


def claim(record: Claim, now: float) -> dict[str, JSON]:
    return {
        "age": record.age(now),
        "ttl": record.ttl,
        "href": claim_href(record.queue, record.id),
        "messages": messages(record.queue, record.messages, now),
    }


def queue(
    record: QueueRecord, detailed: bool, limits: Limits, kind: Kind = "queues"
) -> dict[str, JSON]:
    view: dict[str, JSON] = {"name": record.name, "href": queue_href(record.name, kind)}
    if detailed:
        view["metadata"] = reserved(metadata.with_defaults(record.metadata, limits), kind)
    return view


TOPIC_DEFAULTS = ("_max_messages_post_size", "_default_message_ttl", "_default_message_delay")
"""The reserved keys a topic always shows; it shows the others only when they are set."""


def reserved(meta: dict[str, JSON], kind: Kind) -> dict[str, JSON]:
    """Metadata (reserved defaults filled) as a queue, or a topic, shows it."""
    if kind == "queues":
        return meta
    return {
        key: value
        for key, value in meta.items()
        if value or key in TOPIC_DEFAULTS or key not in metadata.RESERVED
    }


def stats(queue: str, record: QueueStats, now: float, kind: Kind = "queues") -> dict[str, JSON]:
    """A queue's counts; a topic shows only its total (it has no claims)."""
    counts: dict[str, JSON] = {"total": record.total}
    if kind == "queues":
        counts = {
            "claimed": record.claimed,
            "free": record.free,
            "delayed": record.delayed,
            **counts,
        }
    if record.oldest is not None and record.newest is not None:
        counts["oldest"] = _stats_end(queue, record.oldest, now, kind)
        counts["newest"] = _stats_end(queue, record.newest, now, kind)
    return {"messages": counts}


def _stats_end(queue: str, record: Message, now: float, kind: Kind) -> dict[str, JSON]:
    return {
        "id": record.id,
        "href": message_href(queue, record.id, kind=kind),
        "age": record.age(now),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
    }


def subscription(record: Subscription, now: float) -> dict[str, JSON]:
    return {
        "id": record.id,
        "source": record.source,
        "subscriber": record.subscriber,
        "ttl": record.ttl,
        "age": record.age(now),
        "options": record.options,
        "confirmed": record.confirmed,
    }


def next_link(path: str, query: dict[str, Any], marker: str) -> list[dict[str, str]]:
    """The ``links`` list of a page: where the page after ``marker`` is."""
    params = {key: _query_value(value) for key, value in query.items() if value is not None}
    params["marker"] = marker
    return [{"rel": "next", "href": f"{path}?{urlencode(params)}"}]


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)
