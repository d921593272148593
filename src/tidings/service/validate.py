"""Checks on values coming from a request, with the messages Zaqar clients expect."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tidings import errors

NAME = "[a-zA-Z0-9_.-]{1,64}"
"""What a queue's, topic's, pool's or flavor's name is made of (the OpenAPI document says so
too)."""
NAMED = re.compile(f"^{NAME}$")

TYPE_NAMES: dict[type, str] = {int: "int", str: "str", bool: "bool", dict: "dict", list: "list"}


def queue_name(name: str) -> str:
    if not NAMED.match(name):
        raise errors.InvalidQueueName()
    return name


def typed(value: Any, kind: type, name: str) -> Any:
    """``value`` if it is a ``kind``; booleans are not integers here."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise errors.InvalidRequest(
            f'The value of the "{name}" field must be a {TYPE_NAMES[kind]}.'
        )
    return value


def field(document: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    """A typed field of a request document, or ``default`` when absent or null (clients such
    as python-zaqarclient send ``"grace": null`` to mean "the default")."""
    if document.get(name) is None:
        return default
    return typed(document[name], kind, name)


def in_range(value: int, low: int, high: int, message: str) -> int:
    """``value`` when ``low <= value <= high``; ``message`` may use {low} and {high}."""
    if not low <= value <= high:
        raise errors.InvalidRequest(message.format(low=low, high=high))
    return value


DEFAULT_PAGE = 10
"""Zaqar's page (and claim) size when a request names none."""


def limit(value: int | None, high: int) -> int:
    """The page size asked for, from 1 to ``high``; when none is, DEFAULT_PAGE, or ``high``
    where the deployment allows fewer."""
    if value is None:
        return min(DEFAULT_PAGE, high)
    return in_range(value, 1, high, "Limit must be at least {low} and no greater than {high}.")


def document(value: Any, what: str = "Document") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.InvalidBody(f"{what} type not supported.")
    return value
