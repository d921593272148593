"""The HTTP binding: one route per (method, path) of the operation table."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request as HttpRequest
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from tidings import api, errors
from tidings.api import openapi
from tidings.api.operation import Operation, Reply, Request
from tidings.api.policy import Policy
from tidings.config import Settings
from tidings.context import anonymous
from tidings.observability import Instruments
from tidings.observability.asgi import OPERATION, PROJECT, REQUEST_ID, log_extra
from tidings.service import Service
from tidings.transport import websocket, wire
from tidings.transport.auth import Authenticator
from tidings.transport.dispatch import Dispatch, OperationRoute
from tidings.transport.status import error_document, status_of

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"
JSON_WHITESPACE = b" \t\n\r"
"""What JSON takes for whitespace: a body of nothing else is none (a vertical tab or a form
feed is not whitespace there, but bytes.strip() takes them for it)."""
ACCEPTABLE = ("*/*", "application/*", "application/json")
Endpoint = Callable[["_HttpCall"], Awaitable[Reply]]


def create_app(
    service: Service,
    settings: Settings,
    lifespan: Lifespan[Any] | None,
    authenticator: Authenticator,
    policy: Policy,
    instruments: Instruments | None = None,
) -> Starlette:
    instruments = instruments or Instruments()
    routes: list[BaseRoute] = [
        Route(
            "/openapi.json",
            _openapi_endpoint(settings),
            methods=["GET"],
            include_in_schema=False,
        )
    ]
    operations = []
    by_route = sorted(api.OPERATIONS.values(), key=lambda op: (op.path, op.method))
    for (path, method), group in groupby(by_route, key=lambda op: (op.path, op.method)):
        endpoint = _endpoint(service, settings, authenticator, policy, instruments, list(group))
        operation_app = _OperationApp(endpoint)
        routes.append(Route(path, operation_app, methods=[method]))
        operations.append(OperationRoute.of(path, method, operation_app))
    app = _App(
        operations,
        instruments,
        routes=routes
        + websocket.routes(service, settings, authenticator, policy, instruments)
        + instruments.routes(),
        lifespan=lifespan,
        exception_handlers={HTTPException: _on_http_exception, Exception: _on_crash},
    )
    app.router.redirect_slashes = False  # Zaqar answers 404 to /v2 and /v2/queues/, not 307
    return app


class _App(Starlette):
    """Starlette, with the operation routes dispatched ahead of its own stack (``dispatch``)
    and the request layer of ``observability`` outermost."""

    def __init__(
        self, operations: list[OperationRoute], instruments: Instruments, **options: Any
    ) -> None:
        super().__init__(**options)
        self._operations = operations
        self._instruments = instruments

    def build_middleware_stack(self) -> ASGIApp:
        starlette = super().build_middleware_stack()
        return self._instruments.middleware(Dispatch(self._operations, starlette))


class _ClientGone(Exception):
    """The client disconnected before it sent the whole body."""


@dataclass(frozen=True, slots=True)
class _HttpCall:
    """What an operation reads of an HTTP request, taken straight from the ASGI scope:
    Starlette's ``Request`` builds URL, header and query objects that cost more CPU than
    the reading itself."""

    scope: Scope
    receive: Receive
    headers: Mapping[str, str]
    """Lower-case names; the first value of a repeated header, as Starlette's ``get``."""
    query: Sequence[tuple[str, str]]

    @classmethod
    def of(cls, scope: Scope, receive: Receive) -> _HttpCall:
        headers = {}
        for name, value in reversed(scope["headers"]):
            headers[name.decode("latin-1")] = wire.header_value(value.decode("latin-1"))
        raw_query: bytes = scope.get("query_string", b"")
        query = parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True) if raw_query else []
        return cls(scope, receive, headers, query)


class _OperationApp:
    """An operation endpoint as an ASGI app, for the fast dispatch and for Starlette's
    router alike; it answers its own errors."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = _HttpCall.of(scope, receive)
        try:
            reply = await self._endpoint(call)
        except errors.TidingsError as exc:
            reply = _error_reply(exc)
        except _ClientGone:
            return
        except Exception:
            _log_crash(scope)
            await _send(send, CRASH)
            raise  # for the server's log, as Starlette does
        await _send(send, reply)


def _endpoint(
    service: Service,
    settings: Settings,
    authenticator: Authenticator,
    policy: Policy,
    instruments: Instruments,
    operations: Sequence[Operation],
) -> Endpoint:
    largest_body = max(settings.limits.max_messages_post_size, settings.limits.max_queue_metadata)

    async def endpoint(call: _HttpCall) -> Reply:
        scope = call.scope
        query = dict(call.query)
        operation = _select(operations, query)
        scope[OPERATION] = operation.name
        _check_accept(call.headers)
        if operation.authenticated:
            caller = await authenticator.context(
                call.headers, scope["method"], scope["path"], scope[REQUEST_ID]
            )
            scope[PROJECT] = caller.project_id
        else:
            caller = anonymous(scope[REQUEST_ID])
        params = wire.params(operation, scope["path_params"], _query(operation, call.query, query))
        body, size = await _body(operation, call, largest_body)
        gone = functools.partial(_disconnected, call.receive)
        request = Request(caller, params, body, size, gone)
        with instruments.operation(operation.name, caller, params.get("queue_name")):
            return await api.call(operation, service, request, policy)

    return endpoint


def _select(operations: Sequence[Operation], query: Mapping[str, str]) -> Operation:
    """The operation a query parameter selects, else the one that needs none."""
    chosen = [op for op in operations if op.selector and op.selector in query]
    if len(chosen) > 1:
        names = " and ".join(f'"{op.selector}"' for op in chosen)
        raise errors.InvalidParameter(f"Only one of {names} may be given.")
    if chosen:
        return chosen[0]
    default = [op for op in operations if op.selector is None]
    if not default:
        names = " or ".join(f'"{op.selector}"' for op in operations)
        raise errors.InvalidParameter(f"One of {names} is required.")
    return default[0]


def _query(
    operation: Operation, pairs: Sequence[tuple[str, str]], query: dict[str, str]
) -> dict[str, str]:
    """The query string (the last of a repeated name); a list parameter may also be repeated
    (``ids=a&ids=b``, as python-zaqarclient sends it), which falcon-based Zaqar reads as one
    list."""
    for param in operation.params:
        if param.type == "list" and param.location == "query" and param.name in query:
            query[param.name] = ",".join(value for name, value in pairs if name == param.name)
    return query


def _check_accept(headers: Mapping[str, str]) -> None:
    accept = headers.get("accept", "")
    if accept and not any(kind in accept for kind in ACCEPTABLE):
        raise errors.NotAcceptable()


async def _body(operation: Operation, call: _HttpCall, cap: int) -> tuple[Any, int]:
    """The parsed JSON body and its size in bytes; (None, 0) when there is none."""
    if operation.body is None:
        return None, 0
    raw = await _read_capped(call, cap)
    if not raw.strip(JSON_WHITESPACE):
        if operation.body.required:
            raise errors.InvalidBody("Request body can not be empty.")
        return None, 0
    content_type = call.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == FORM:
        raise errors.InvalidBody("Invalid Content-Type.")
    if (
        operation.body.media_type != "application/json"
        and content_type != operation.body.media_type
    ):
        raise errors.UnsupportedMediaType(
            f"{content_type or 'No Content-Type'} is not supported; "
            f"Accept-Patch: {operation.body.media_type}"
        )
    document = wire.json_body(raw)
    if document is None and not operation.body.required:
        # a body that may be left out is None when it is: a JSON null is not one left out
        raise errors.InvalidBody("Document type not supported.")
    return document, len(raw)


async def _read_capped(call: _HttpCall, cap: int) -> bytes:
    declared = call.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise errors.InvalidRequest(f"Request body is too large. Max size {cap}")
    chunks = bytearray()
    while True:
        message = await call.receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone()
        chunks += message.get("body", b"")
        if len(chunks) > cap:
            raise errors.InvalidRequest(f"Request body is too large. Max size {cap}")
        if not message.get("more_body", False):
            return bytes(chunks)


async def _disconnected(receive: Receive) -> None:
    """Return once the client has disconnected; the request's body must have been read."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _encoded(reply: Reply) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The reply's raw headers and body, as Starlette's ``Response`` would send them."""
    body = b"" if reply.body is None else orjson.dumps(reply.body)
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in reply.headers.items()
    ]
    if reply.location is not None:
        headers.append((b"location", reply.location.encode("latin-1")))
    if not (reply.status < 200 or reply.status in (204, 304)):
        headers.append((b"content-length", str(len(body)).encode("latin-1")))
    headers.append((b"content-type", reply.media_type.encode("latin-1")))
    return headers, body


async def _send(send: Send, reply: Reply) -> None:
    headers, body = _encoded(reply)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _response(reply: Reply) -> Response:
    """The reply for Starlette's own error handlers."""
    headers, body = _encoded(reply)
    response = Response(body, reply.status)
    response.raw_headers = headers
    return response


def _error_reply(exc: errors.TidingsError) -> Reply:
    headers = {}
    if isinstance(exc, errors.Unauthorized) and exc.challenge:
        headers["WWW-Authenticate"] = exc.challenge
    return _failure(status_of(exc), exc, headers)


def _failure(
    status: int, error: errors.TidingsError, headers: Mapping[str, str] | None = None
) -> Reply:
    return Reply(status, error_document(error), headers=headers or {})


CRASH = Reply(
    500, {"title": "Internal server error", "description": "The server met an unexpected error."}
)


async def _on_http_exception(http: HttpRequest, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = {"Allow": ", ".join(_allowed_methods(http))}
        return _response(_failure(405, errors.MethodNotAllowed(), allowed))
    return _response(_failure(exc.status_code, errors.NotFound("The resource could not be found.")))


def _allowed_methods(http: HttpRequest) -> list[str]:
    """Every method some route takes on the request's path (Starlette's 405 names only
    those of the first route that matched the path, and each operation is a route)."""
    routes = [route for route in http.app.router.routes if isinstance(route, Route)]
    matching = [route for route in routes if route.matches(http.scope)[0] != Match.NONE]
    return sorted({method for route in matching for method in route.methods or ()})


async def _on_crash(http: HttpRequest, exc: Exception) -> Response:
    _log_crash(http.scope)
    return _response(CRASH)


def _log_crash(scope: Scope) -> None:
    extra = log_extra(scope)
    log.exception("unexpected error on %s %s", scope["method"], scope["path"], extra=extra)


def _openapi_endpoint(settings: Settings) -> Any:
    keystone = settings.auth.strategy == "keystone"
    body = orjson.dumps(openapi.document(api.OPERATIONS.values(), settings.limits, keystone))

    async def endpoint(http: HttpRequest) -> Response:
        return Response(body, 200, media_type="application/json")

    return endpoint
