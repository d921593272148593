"""Pre-signed URLs, as Zaqar makes them (``zaqar/common/urls.py``): what ``POST .../share``
signs, and the signature that the transport recomputes to verify a pre-signed request."""

from __future__ import annotations

import datetime
import hashlib
import hmac
from collections.abc import Iterable
from typing import Any

from tidings import errors
from tidings.clock import Clock
from tidings.models import JSON
from tidings.service import validate

DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
KEYS = frozenset({"paths", "methods", "expires"})
PATHS = frozenset({"messages", "subscriptions", "claims"})
LIFETIME = datetime.timedelta(days=1)
EXPIRES_FORMAT = "`expires` should be date format, for example 2016-01-01T00:00:00"


def signature(
    key: str, paths: Iterable[str], methods: Iterable[str], project: str, expires: str
) -> str:
    """Hex HMAC-SHA256 of the sorted paths, sorted methods, project and expiry, joined by the
    two characters backslash and n (not a newline), exactly as Zaqar signs them."""
    text = "\\n".join([",".join(sorted(paths)), ",".join(sorted(methods)), project, expires])
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def parse_expires(value: str) -> datetime.datetime:
    """An ISO-8601 time as naive UTC; integers are refused, as Zaqar refuses them."""
    if value.strip().lstrip("+-").isdigit():
        raise ValueError(f"{EXPIRES_FORMAT}, not integer value: {value}")
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(EXPIRES_FORMAT) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment


def utc(timestamp: float) -> datetime.datetime:
    """Seconds since the epoch as naive UTC."""
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).replace(tzinfo=None)


class ShareService:
    """Signs URLs with the current key; without one, sharing is refused."""

    def __init__(self, key: str, clock: Clock) -> None:
        self._key = key
        self._clock = clock

    def create(self, project: str, queue: str, document: Any) -> dict[str, JSON]:
        document = validate.document(document)
        unknown = set(document) - KEYS
        if unknown:
            raise errors.InvalidRequest(f"Unknown keys: {_set(unknown)}")
        paths = _paths(validate.queue_name(queue), document.get("paths"))
        if not self._key:
            raise errors.InvalidRequest("The `key` can't be None")
        methods = _methods(document.get("methods"))
        expires = _expires(document.get("expires"), utc(self._clock())).strftime(DATE_FORMAT)
        return {
            "paths": paths,
            "methods": methods,
            "project": project,
            "expires": expires,
            "signature": signature(self._key, paths, methods, project, expires),
        }


def _paths(queue: str, value: Any) -> list[str]:
    if _left_out(value):
        value = ["messages"]
    if not isinstance(value, list) or not all(isinstance(path, str) for path in value):
        raise errors.InvalidRequest("Invalid paths: the paths must be a list of strings")
    invalid = set(value) - PATHS
    if invalid:
        raise errors.InvalidRequest(f"Invalid paths: {_set(invalid)}")
    return sorted(f"/v2/queues/{queue}/{path}" for path in value)


def _methods(value: Any) -> list[str]:
    if _left_out(value):
        return ["GET"]
    if not isinstance(value, list) or not all(isinstance(method, str) for method in value):
        raise errors.InvalidRequest("`methods` should be a list")
    return sorted(value)


def _expires(value: Any, now: datetime.datetime) -> datetime.datetime:
    if value is None:
        return now + LIFETIME
    if isinstance(value, int):
        raise errors.InvalidRequest(f"{EXPIRES_FORMAT}, not integer value: {value}")
    if not isinstance(value, str):
        raise errors.InvalidRequest(EXPIRES_FORMAT)
    try:
        moment = parse_expires(value)
    except ValueError as exc:
        raise errors.InvalidRequest(str(exc)) from None
    if moment <= now:
        raise errors.InvalidRequest("`expires` is lower than the current time")
    return moment


def _left_out(value: Any) -> bool:
    """Null or an empty list asks for the default, as in Zaqar; other empty values (0, "",
    false) are not lists, and are refused."""
    return value is None or value == []


def _set(values: set[str]) -> str:
    return "{" + ", ".join(repr(value) for value in sorted(values)) + "}"
