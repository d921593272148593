"""From an error response back to the ``tidings.errors`` class the server raised.

The status picks a family; the body's ``title`` picks the class within it (Zaqar and tidings
share these titles). Anything else is a plain ``TidingsError`` with the body as description.
"""

from __future__ import annotations

import orjson

from tidings import errors

FAMILIES: dict[int, tuple[type[errors.TidingsError], ...]] = {
    400: (
        errors.InvalidRequest,
        errors.MalformedRequest,
        errors.InvalidBody,
        errors.InvalidParameter,
        errors.InvalidQueueName,
        errors.MissingHeader,
        errors.InvalidHeader,
    ),
    401: (errors.Unauthorized,),
    403: (errors.Forbidden, errors.MessageIsClaimed),
    404: (errors.NotFound,),
    405: (errors.MethodNotAllowed,),
    406: (errors.NotAcceptable,),
    409: (errors.Conflict,),
    415: (errors.UnsupportedMediaType,),
    503: (errors.StorageUnavailable,),
}
"""Status to its error classes; the first is the one used when no title matches."""


def error_for(status: int, body: bytes) -> errors.TidingsError:
    title, description = _title_and_description(body)
    family = FAMILIES.get(status, (errors.TidingsError,))
    kind = next((cls for cls in family if cls.title == title), family[0])
    return kind(description or f"HTTP {status}")


def _title_and_description(body: bytes) -> tuple[str, str]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", body.decode("utf-8", "replace").strip()
    if not isinstance(document, dict):
        return "", str(document)
    return str(document.get("title", "")), str(document.get("description", ""))
