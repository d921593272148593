"""The operation table as WebSocket actions: every operation is the action of its name.

A frame's body carries everything HTTP spreads over the path, the query and the body: each
parameter under its name (or its ``ws_name``), and the operation's HTTP body under
``Body.ws_field``, or else as the rest of the frame's body. As in HTTP, operations that share
a route are told apart by their ``selector``: Zaqar's ``message_delete_many`` with ``pop``
runs ``message_pop``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import groupby
from typing import Any

import orjson

from tidings import errors
from tidings.api.operation import Operation, Param, Reply, Request
from tidings.models import JSON
from tidings.transport import wire
from tidings.transport.frames import SCHEMA_FAILED, Refused


class Actions:
    def __init__(self, operations: Iterable[Operation]) -> None:
        self._named = {operation.name: operation for operation in operations}
        by_route = sorted(self._named.values(), key=_route)
        self._siblings = {route: tuple(group) for route, group in groupby(by_route, key=_route)}

    def __contains__(self, action: object) -> bool:
        return action in self._named

    def operation(self, action: Any, body: Mapping[str, Any]) -> Operation:
        """The operation a frame names, or the sibling whose selector its body carries."""
        named = self._named.get(action) if isinstance(action, str) else None
        if named is None:
            raise Refused(400, f"{action} is not a valid action")
        chosen = [
            sibling
            for sibling in self._siblings[_route(named)]
            if sibling.selector and _key(sibling, sibling.selector) in body
        ]
        if len(chosen) > 1:
            keys = " and ".join(f'"{_key(op, op.selector or "")}"' for op in chosen)
            raise errors.InvalidParameter(f"Only one of {keys} may be given.")
        return chosen[0] if chosen else named


def params(operation: Operation, body: Mapping[str, Any]) -> dict[str, Any]:
    """The operation's parameters found in a frame's body, typed; absent ones are left out
    (but path parameters are required: HTTP has them by its routes)."""
    found: dict[str, Any] = {}
    for param in operation.params:
        key = param.ws_name or param.name
        if body.get(key) is not None:
            found[param.name] = _typed(param, body[key])
        elif param.required or param.location == "path":
            raise Refused(400, SCHEMA_FAILED)
    return found


def http_body(operation: Operation, body: Mapping[str, Any]) -> tuple[JSON, int]:
    """The operation's HTTP body in a frame's body, and its size as JSON."""
    if operation.body is None:
        return None, 0
    if operation.body.ws_field is not None:
        document = body.get(operation.body.ws_field)
    else:
        keys = {param.ws_name or param.name for param in operation.params}
        rest = {key: value for key, value in body.items() if key not in keys}
        document = rest if rest or operation.body.required else None
    return document, 0 if document is None else len(orjson.dumps(document))


def path(operation: Operation, params: Mapping[str, Any]) -> str:
    """The HTTP path of the same request (pre-signed URLs grant paths)."""
    return operation.path.format(**params)


def answer(operation: Operation, request: Request, reply: Reply) -> JSON:
    if operation.ws_render is not None:
        return operation.ws_render(request, reply)
    return {} if reply.body is None else reply.body


def _typed(param: Param, value: Any) -> Any:
    """A frame's JSON value as the parameter's type; strings are read as in a query."""
    if isinstance(value, str):
        return wire.typed(param, value)
    kinds: dict[str, type] = {"string": str, "integer": int, "boolean": bool, "list": list}
    expected = kinds[param.type]
    wrong = not isinstance(value, expected) or (expected is int and isinstance(value, bool))
    if wrong or (expected is list and not all(isinstance(item, str) for item in value)):
        raise Refused(400, SCHEMA_FAILED)
    if expected is list:
        return [wire.without_nul(param, item) for item in value]
    return value


def _route(operation: Operation) -> tuple[str, str]:
    return operation.path, operation.method


def _key(operation: Operation, name: str) -> str:
    """The frame body's key of the operation's parameter ``name``."""
    for param in operation.params:
        if param.name == name:
            return param.ws_name or param.name
    return name
