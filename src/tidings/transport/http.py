"""The HTTP binding: one route per (method, path) of the operation table."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from itertools import groupby
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request as HttpRequest
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from tidings import api, errors
from tidings.api import openapi
from tidings.api.operation import Operation, Reply, Request
from tidings.api.policy import Policy
from tidings.config import Settings
from tidings.context import RequestContext
from tidings.observability import Instruments
from tidings.observability.asgi import OPERATION, PROJECT, REQUEST_ID, log_extra
from tidings.service import Service
from tidings.transport import websocket, wire
from tidings.transport.auth import Authenticator
from tidings.transport.dispatch import Dispatch, OperationRoute
from tidings.transport.status import status_of

log = logging.getLogger(__name__)

ANONYMOUS = RequestContext(project_id="", client_id="")
FORM = "application/x-www-form-urlencoded"
ACCEPTABLE = ("*/*", "application/*", "application/json")
Endpoint = Callable[[HttpRequest], Awaitable[Response]]


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
        routes.append(Route(path, endpoint, methods=[method]))
        operations.append(OperationRoute.of(path, method, _operation_app(endpoint)))
    app = _App(
        operations,
        instruments,
        routes=routes
        + websocket.routes(service, settings, authenticator, policy, instruments)
        + instruments.routes(),
        lifespan=lifespan,
        exception_handlers={
            errors.TidingsError: _on_error,
            HTTPException: _on_http_exception,
            Exception: _on_crash,
        },
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


def _operation_app(endpoint: Endpoint) -> ASGIApp:
    """The endpoint as an ASGI app, its errors answered as Starlette's stack answers them."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        http = HttpRequest(scope, receive, send)
        try:
            response = await endpoint(http)
        except errors.TidingsError as exc:
            response = await _on_error(http, exc)
        except Exception as exc:
            await (await _on_crash(http, exc))(scope, receive, send)
            raise  # for the server's log, as Starlette does
        await response(scope, receive, send)

    return app


def _endpoint(
    service: Service,
    settings: Settings,
    authenticator: Authenticator,
    policy: Policy,
    instruments: Instruments,
    operations: Sequence[Operation],
) -> Endpoint:
    async def endpoint(http: HttpRequest) -> Response:
        request_id = http.scope[REQUEST_ID]
        operation = _select(operations, http)
        http.scope[OPERATION] = operation.name
        _check_accept(http)
        caller = ANONYMOUS
        if operation.authenticated:
            caller = await authenticator.context(
                http.headers, http.method, http.url.path, request_id
            )
            http.scope[PROJECT] = caller.project_id
        params = wire.params(operation, http.path_params, _query(operation, http.query_params))
        body, size = await _body(operation, http, settings)
        gone = functools.partial(_disconnected, http.receive)
        request = Request(caller, params, body, size, gone)
        with instruments.operation(operation.name, caller.project_id, params.get("queue_name")):
            reply = await api.call(operation, service, request, policy)
        return _render(reply)

    return endpoint


def _select(operations: Sequence[Operation], http: HttpRequest) -> Operation:
    """The operation a query parameter selects, else the one that needs none."""
    chosen = [op for op in operations if op.selector and op.selector in http.query_params]
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


def _query(operation: Operation, query: QueryParams) -> dict[str, str]:
    """The query string; a list parameter may also be repeated (``ids=a&ids=b``, as
    python-zaqarclient sends it), which falcon-based Zaqar reads as one list."""
    found = dict(query)
    for param in operation.params:
        if param.type == "list" and param.location == "query" and param.name in query:
            found[param.name] = ",".join(query.getlist(param.name))
    return found


def _check_accept(http: HttpRequest) -> None:
    accept = http.headers.get("accept", "")
    if accept and not any(kind in accept for kind in ACCEPTABLE):
        raise errors.NotAcceptable()


async def _body(operation: Operation, http: HttpRequest, settings: Settings) -> tuple[Any, int]:
    """The parsed JSON body and its size in bytes; (None, 0) when there is none."""
    if operation.body is None:
        return None, 0
    raw = await _read_capped(http, _largest_body(settings))
    if not raw.strip():
        if operation.body.required:
            raise errors.InvalidBody("Request body can not be empty.")
        return None, 0
    content_type = http.headers.get("content-type", "").split(";")[0].strip().lower()
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
    return wire.json_body(raw), len(raw)


def _largest_body(settings: Settings) -> int:
    return max(settings.limits.max_messages_post_size, settings.limits.max_queue_metadata)


async def _read_capped(http: HttpRequest, cap: int) -> bytes:
    declared = http.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise errors.InvalidRequest(f"Request body is too large. Max size {cap}")
    chunks = bytearray()
    async for chunk in http.stream():
        chunks += chunk
        if len(chunks) > cap:
            raise errors.InvalidRequest(f"Request body is too large. Max size {cap}")
    return bytes(chunks)


async def _disconnected(receive: Receive) -> None:
    """Return once the client has disconnected; the request's body must have been read."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _render(reply: Reply) -> Response:
    headers = dict(reply.headers)
    if reply.location is not None:
        headers["Location"] = reply.location
    content = b"" if reply.body is None else orjson.dumps(reply.body)
    return Response(content, reply.status, headers, media_type=reply.media_type)


def _error_response(
    status: int, title: str, description: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = orjson.dumps({"title": title, "description": description})
    return Response(body, status, headers, media_type="application/json")


async def _on_error(http: HttpRequest, exc: Exception) -> Response:
    assert isinstance(exc, errors.TidingsError)
    headers = {}
    if isinstance(exc, errors.Unauthorized) and exc.challenge:
        headers["WWW-Authenticate"] = exc.challenge
    return _error_response(status_of(exc), exc.title, exc.description, headers)


async def _on_http_exception(http: HttpRequest, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error: errors.TidingsError = errors.MethodNotAllowed()
    else:
        error = errors.NotFound("The resource could not be found.")
    return _error_response(exc.status_code, error.title, error.description)


async def _on_crash(http: HttpRequest, exc: Exception) -> Response:
    extra = log_extra(http.scope)
    log.exception("unexpected error on %s %s", http.method, http.url.path, extra=extra)
    return _error_response(500, "Internal server error", "The server met an unexpected error.")


def _openapi_endpoint(settings: Settings) -> Any:
    body = orjson.dumps(openapi.document(api.OPERATIONS.values(), settings.limits))

    async def endpoint(http: HttpRequest) -> Response:
        return Response(body, 200, media_type="application/json")

    return endpoint
