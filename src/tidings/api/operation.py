"""What an operation is: its name, parameters, body, policy rule and the service call behind it.

Transports build a ``Request`` from the wire, call the operation, and render its ``Reply``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tidings.config import Limits
from tidings.context import RequestContext
from tidings.models import JSON
from tidings.service.waiting import CallerGone

ParamType = Literal["string", "integer", "boolean", "list"]
"""``list`` is a comma-separated list of strings on the wire."""
Bounds = Callable[[Limits], tuple[int, int]]
"""The lowest and highest value (an integer) or number of items (a list) a deployment
accepts."""


@dataclass(frozen=True)
class Param:
    name: str
    location: Literal["path", "query"]
    type: ParamType
    description: str
    required: bool = False
    ws_name: str | None = None
    """Its key in a WebSocket frame's body, where Zaqar's WebSocket API names it otherwise
    (``message_ids`` for HTTP's ``ids``); None: ``name``."""
    bounds: Bounds | None = None
    """What the OpenAPI document tells clients the deployment accepts; the service is what
    checks it."""


@dataclass(frozen=True)
class Body:
    """A JSON request body; ``schema`` describes it under the deployment's limits."""

    schema: Callable[[Limits], dict[str, JSON]]
    required: bool = True
    media_type: str = "application/json"
    ws_field: str | None = None
    """The key of a WebSocket frame's body that holds this body (Zaqar's ``metadata`` of
    ``queue_create``); None: the frame's body less the operation's parameters."""


@dataclass(frozen=True)
class Request:
    context: RequestContext
    params: Mapping[str, Any]
    body: JSON = None
    body_size: int = 0
    caller_gone: CallerGone | None = None
    """Returns once the caller has gone: a long poll stops waiting then."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: JSON = None
    location: str | None = None
    media_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Any, Request], Awaitable[Reply]]
"""Takes the ``Service`` and the request."""


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    summary: str
    policy: str
    handler: Handler
    params: tuple[Param, ...] = ()
    body: Body | None = None
    responses: Mapping[int, str] = field(default_factory=dict)
    selector: str | None = None
    """A query parameter whose presence routes an HTTP request to this operation rather
    than to another one on the same method and path."""
    authenticated: bool = True
    """False for the few documents any client may read without identifying itself."""
    ws_render: Callable[[Request, Reply], JSON] | None = None
    """The body of the WebSocket answer, made from the request and the reply, where Zaqar's
    WebSocket API answers otherwise than HTTP; None: the reply's body."""
