"""WebSocket frames as Zaqar's WebSocket API has them: a request ``{"action", "headers",
"body"}`` as JSON text or MessagePack binary, and a response ``{"request": {..., "api": "v2"},
"body": ..., "headers": {"status": N}}`` in the request's own encoding."""

from __future__ import annotations

from typing import Any

import msgpack
import orjson

from tidings.models import JSON
from tidings.observability.asgi import REQUEST_ID_HEADER
from tidings.transport import wire

Frame = str | bytes

SCHEMA_FAILED = "Schema validation failed."
NOT_AN_OBJECT = "Unexpected body type. Expected dict or dict like."
NO_REQUEST: dict[str, JSON] = {"action": None, "body": {}, "headers": None, "api": "v2"}
"""The request part of an answer to a frame that holds no request."""


class Refused(Exception):
    """A frame that the WebSocket API itself refuses (as opposed to an operation's error),
    answered ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def decode(frame: Frame) -> dict[str, Any]:
    """The request object a frame holds."""
    try:
        payload = msgpack.unpackb(frame) if isinstance(frame, bytes) else orjson.loads(frame)
    except Exception as exc:
        kind = "binary (MessagePack)" if isinstance(frame, bytes) else "text (JSON)"
        raise Refused(400, f"Can't decode {kind} request. {type(exc).__name__}: {exc}") from None
    if isinstance(frame, str):
        payload = wire.round_trips(frame.encode(), payload)
    else:
        wire.shallow_enough(payload)
    if not isinstance(payload, dict):
        raise Refused(400, NOT_AN_OBJECT)
    return payload


def encode(document: JSON, binary: bool) -> Frame:
    if binary:
        packed: bytes = msgpack.packb(document)
        return packed
    return orjson.dumps(document).decode()


def echo(payload: dict[str, Any]) -> dict[str, JSON]:
    """The request part of the answer to ``payload``."""
    return {
        "action": payload.get("action"),
        "body": payload.get("body", {}),
        "headers": payload.get("headers"),
        "api": "v2",
    }


def response(request: dict[str, JSON], status: int, body: JSON, request_id: str) -> dict[str, JSON]:
    """The answer to one frame: Zaqar's envelope, and the request id among its headers as an
    HTTP response has it."""
    headers = {"status": status, REQUEST_ID_HEADER: request_id}
    return {"request": request, "body": body, "headers": headers}


def body(payload: dict[str, Any]) -> dict[str, Any]:
    found = payload.get("body", {})
    if not isinstance(found, dict):
        raise Refused(400, SCHEMA_FAILED)
    return found


def headers(payload: dict[str, Any]) -> dict[str, str]:
    """The request's headers as HTTP's are read: names in lower case, values trimmed."""
    found = payload.get("headers", {})
    if not isinstance(found, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in found.items()
    ):
        raise Refused(400, SCHEMA_FAILED)
    return {key.lower(): wire.header_value(value) for key, value in found.items()}
