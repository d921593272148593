"""Turning wire values into typed ones: headers into a project and client, query strings
into parameters, bytes into JSON. Shared by every transport; raises only ``tidings.errors``."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from tidings import errors
from tidings.api.operation import Operation, Param
from tidings.config import Limits
from tidings.models import JSON

TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
FALSE = frozenset({"false", "f", "no", "n", "0", "off"})
INTEGER = re.compile(r"^[+-]?[0-9]{1,30}$")
DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
"""With ``bytes.translate``, a run of digits becomes a run of zeros, found by a substring
search at a tenth of the cost of a regular expression's."""
LONG_DIGIT_RUN = b"0" * 19
"""Where the integers that orjson may not keep exact begin: 2**63 has 19 digits."""
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""What ``str(uuid.UUID(value))`` gives back unchanged: matching it costs a tenth as much."""
SMALLEST_INT, LARGEST_INT = -(2**63), 2**64 - 1
DEEPEST = 200
"""Levels of nesting a request document may have: orjson writes no document deeper than 254,
and an answer or a notification wraps a message's body in a few more."""
MAX_PROJECT_ID = 256
NUL = "\0"
"""Refused in every header and parameter the service keeps or looks up: PostgreSQL's text
cannot hold it, and the other stores would keep what PostgreSQL refuses."""


def header_value(text: str) -> str:
    """A header's value without the spaces and tabs around it, which are not part of it (RFC
    9110, 5.5): the server stack hands trailing ones over, and a WebSocket frame's
    ``headers`` read as HTTP's."""
    return text.strip(" \t")


def client_id(value: str | None, limits: Limits) -> str:
    if value is None:
        raise errors.MissingHeader('The "Client-ID" header is required.')
    if limits.client_id_uuid_safe == "strict":
        if CANONICAL_UUID.fullmatch(value):
            return value
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise errors.InvalidHeader(
                "Malformed hexadecimal UUID in the Client-ID header."
            ) from None
    if not limits.min_length_client_id <= len(value) <= limits.max_length_client_id:
        raise errors.InvalidHeader(
            f"Client-ID must be {limits.min_length_client_id} to "
            f"{limits.max_length_client_id} characters long."
        )
    if NUL in value:
        raise errors.InvalidHeader("Client-ID may not hold a NUL character.")
    return value


def project_id(value: str | None) -> str:
    if value is None:
        raise errors.MissingHeader("The header X-Project-ID was missing.")
    if not value:
        raise errors.InvalidHeader("Empty project header not allowed.")
    if len(value) > MAX_PROJECT_ID:
        raise errors.InvalidHeader(
            f"X-Project-ID may not be more than {MAX_PROJECT_ID} characters long."
        )
    if NUL in value:
        raise errors.InvalidHeader("X-Project-ID may not hold a NUL character.")
    return value


def params(
    operation: Operation, path: Mapping[str, str], query: Mapping[str, str]
) -> dict[str, Any]:
    """The operation's parameters that were given, typed; absent ones are left out."""
    found: dict[str, Any] = {}
    for param in operation.params:
        source = path if param.location == "path" else query
        if param.name in source:
            found[param.name] = typed(param, source[param.name])
        elif param.required:
            raise errors.InvalidParameter(f'The "{param.name}" parameter is required.')
    return found


def typed(param: Param, value: str) -> Any:
    without_nul(param, value)
    if param.type == "integer":
        if not INTEGER.match(value.strip()):
            raise errors.InvalidParameter(
                f'The "{param.name}" parameter is invalid. The value must be an integer.'
            )
        return int(value)
    if param.type == "boolean":
        if value.lower() in TRUE:
            return True
        if value.lower() in FALSE:
            return False
        raise errors.InvalidParameter(
            f'The "{param.name}" parameter is invalid. The value must be a boolean.'
        )
    if param.type == "list":
        return [item for item in value.split(",") if item]
    return value


def without_nul(param: Param, value: str) -> str:
    if NUL in value:
        raise errors.InvalidParameter(f'The "{param.name}" parameter may not hold a NUL character.')
    return value


def json_body(raw: bytes) -> JSON:
    """Parse a JSON document, refusing what would not round-trip unchanged."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.InvalidBody("Request body could not be parsed.") from None
    return round_trips(raw, document)


def round_trips(raw: bytes, document: JSON) -> JSON:
    """``document``, as orjson parsed it from ``raw``, refused when it would not be written
    back as it came: integers beyond 64 bits, nesting deeper than ``DEEPEST``."""
    document = _exact_integers(raw, document)
    if raw.count(b"[") + raw.count(b"{") > DEEPEST:  # else it cannot be that deep
        shallow_enough(document)
    return document


def shallow_enough(document: JSON) -> None:
    """Refuse a document whose containers nest more than ``DEEPEST`` levels deep."""
    level = [document]
    for _ in range(DEEPEST + 1):
        level = [
            child
            for container in level
            if isinstance(container, (dict, list))
            for child in (container.values() if isinstance(container, dict) else container)
        ]
        if not level:
            return
    raise errors.InvalidBody(f"Request body is nested more than {DEEPEST} levels deep.")


def _exact_integers(raw: bytes, document: JSON) -> JSON:
    """``document``, parsed again with exact integers when ``raw`` may hold one beyond 64
    bits (orjson turns those into floats), refused if it does."""
    if LONG_DIGIT_RUN not in raw.translate(DIGITS_AS_ZERO):
        return document
    try:
        return json.loads(raw, parse_int=_bounded_int)
    except RecursionError:
        raise errors.InvalidBody("Request body could not be parsed.") from None


def _bounded_int(text: str) -> int:
    value = int(text)
    if not SMALLEST_INT <= value <= LARGEST_INT:
        raise errors.InvalidBody("JSON contains integer that is too large.")
    return value
