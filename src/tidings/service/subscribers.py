"""Checks on a subscription's fields: the subscriber URI, the TTL and the options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from tidings import errors
from tidings.config import SHORTEST_TTL, Limits
from tidings.mail_addresses import is_mailbox, is_one_line, is_sender, mailto
from tidings.models import JSON
from tidings.service import retry_policy, validate
from tidings.service.outbox import queue_sink
from tidings.webhook_requests import header_problem, url_problem

LATEST = 253402300799
"""9999-12-31T23:59:59Z: expiry must stay a representable date, as in Zaqar."""
TRUST = (
    "trust+http(s) subscribers are not supported: subscribe the http(s) URL and verify the "
    "X-Tidings-Signature header, or use a queue:NAME subscriber to fill a queue."
)


def subscriber(value: Any, limits: Limits, source: str, is_queue: bool) -> str:
    """A subscriber URI whose scheme the deployment accepts and whose shape fits it."""
    uri: str = validate.typed(value, str, "subscriber")
    try:
        scheme = urlsplit(uri).scheme
    except ValueError:
        raise errors.InvalidRequest("The subscriber is not a valid URI.") from None
    if scheme.startswith("trust+"):
        raise errors.InvalidRequest(TRUST)
    if scheme not in limits.subscriber_types:
        raise errors.InvalidRequest(
            "The subscriber type of subscription must be supported in the list "
            f"{list(limits.subscriber_types)}."
        )
    SHAPES[scheme](uri)
    if is_queue and queue_sink(uri) == source:
        raise errors.InvalidRequest("A queue cannot subscribe to itself.")
    return uri


def _web(uri: str) -> None:
    if not urlsplit(uri).hostname:
        raise errors.InvalidRequest("The subscriber URL must name a host.")
    problem = url_problem(uri)
    if problem:
        raise errors.InvalidRequest(f"The subscriber URL cannot be sent to: {problem}.")


def _mail(uri: str) -> None:
    _one_line(uri, "The subscriber")
    target = mailto(uri)
    if not all(is_mailbox(text) for text in target.addresses):
        raise errors.InvalidRequest("The subscriber must look like mailto:user@example.com.")
    _one_line(target.subject, "The subscriber's subject")


def _sender(value: str) -> None:
    if not is_sender(value):
        raise errors.InvalidRequest(
            'The "from" option must be one address, such as "Ops <ops@example.com>".'
        )


def _subject(value: str) -> None:
    _one_line(value, 'The "subject" option')


def _one_line(text: str, what: str) -> None:
    if not is_one_line(text):
        raise errors.InvalidRequest(f"{what} must be one line, with no control character.")


def _queue(uri: str) -> None:
    validate.queue_name(queue_sink(uri) or "")


SHAPES: dict[str, Callable[[str], None]] = {
    "http": _web,
    "https": _web,
    "mailto": _mail,
    "queue": _queue,
}


def ttl(value: Any, now: float) -> int:
    seconds: int = validate.typed(value, int, "ttl")
    if seconds < SHORTEST_TTL:
        raise errors.InvalidRequest(
            f"The TTL for a subscription must be at least {SHORTEST_TTL} seconds long."
        )
    if now + seconds > LATEST:
        raise errors.InvalidRequest(
            "The TTL seconds for a subscription plus current time must be less than "
            "9999-12-31T23:59:59."
        )
    return seconds


def _headers(value: Any) -> None:
    if not all(isinstance(item, str) for item in value.values()):
        raise errors.InvalidRequest("post_headers values must be strings.")
    for name, text in value.items():
        problem = header_problem(name, text)
        if problem:
            raise errors.InvalidRequest(f"post_headers cannot be sent: {problem}.")


def _no_check(value: Any) -> None:
    """The type check is all there is."""


OPTIONS: dict[str, tuple[type, Callable[[Any], object]]] = {
    "_retry_policy": (dict, retry_policy.checked),
    "post_headers": (dict, _headers),
    "post_data": (str, _no_check),
    "from": (str, _sender),
    "subject": (str, _subject),
    "dead_letter_queue": (str, validate.queue_name),
}
"""Options tidings reads, with their checks; other keys are kept as given."""


def options(value: Any) -> dict[str, JSON]:
    if not isinstance(value, dict):
        raise errors.InvalidRequest("Options must be a dict.")
    for key, (kind, check) in OPTIONS.items():
        if key in value:
            check(validate.typed(value[key], kind, key))
    return value
