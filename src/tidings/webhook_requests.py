"""Webhook subscribers and their ``post_headers`` as the HTTP client must send them, checked
by the subscription's checks when they are given, so that no delivery meets a URL or a header
it cannot send (the client raises on those before it connects, and no retry would help)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

UNSENDABLE = (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeError)
"""What the HTTP client raises on a request it cannot make: a URL it cannot parse, a header
the protocol does not allow, one that is not ASCII."""
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""A header's name (RFC 9110 ``token``)."""
FIELD_VALUE = re.compile(r"([\x21-\x7e]([ \t]*[\x21-\x7e])*)?")
"""A header's value: visible ASCII, with spaces or tabs only between (RFC 9110, less obs-text,
which the client does not encode)."""
FRAMING = frozenset({"content-length", "transfer-encoding"})
"""Headers that frame the body: the client sets them from the body it sends."""


def url_problem(uri: str) -> str | None:
    """Why the client cannot send to ``uri`` (a control character, a host that is not a
    valid international name, a port out of range), or None when it can."""
    try:
        httpx.URL(uri)
        port = urlsplit(uri).port
    except (httpx.InvalidURL, ValueError) as exc:
        return str(exc)
    if port == 0:
        return "port 0 cannot be reached"
    return None


def header_problem(name: str, value: str) -> str | None:
    """Why the client cannot send a header ``name: value``, or None when it can."""
    if not TOKEN.fullmatch(name):
        return f"{name!r} is not a header name"
    if name.lower() in FRAMING:
        return f"{name} is set from the body"
    if not FIELD_VALUE.fullmatch(value):
        return f"the value of {name} is not one line of visible ASCII"
    return None
