"""What the API returns, as the wire shows it (ages and TTLs in whole seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tidings.models import JSON, QueueRecord


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    body: JSON
    ttl: int
    age: int
    href: str = ""
    claim_id: str | None = None
    """The claim holding the message, when the response names one."""

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> Message:
        href = item.get("href", "")
        return cls(
            id=item["id"],
            body=item.get("body"),
            ttl=item.get("ttl", 0),
            age=item.get("age", 0),
            href=href,
            claim_id=item.get("claim_id") or query_value(href, "claim_id"),
        )


@dataclass(frozen=True, slots=True)
class Claim:
    id: str
    messages: list[Message] = field(default_factory=list)
    ttl: int | None = None
    """None when the server did not say (a new claim made with its default TTL)."""
    age: int = 0


@dataclass(frozen=True, slots=True)
class Stats:
    """A queue's message counts; ``oldest`` and ``newest`` are as the server sent them."""

    claimed: int
    free: int
    total: int
    delayed: int = 0
    oldest: dict[str, JSON] | None = None
    newest: dict[str, JSON] | None = None


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: list[Message]
    marker: str | None
    """Where the next page starts; None after the last one."""


@dataclass(frozen=True, slots=True)
class QueuePage:
    queues: list[QueueRecord]
    marker: str | None
    count: int | None = None


def query_value(href: str, name: str) -> str | None:
    values = parse_qs(urlsplit(href).query).get(name)
    return values[0] if values else None


def next_marker(links: list[dict[str, str]]) -> str | None:
    """The marker of the ``next`` link, if any."""
    for link in links:
        if link.get("rel") == "next":
            return query_value(link["href"], "marker")
    return None
