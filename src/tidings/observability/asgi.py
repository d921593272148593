"""The outermost layer of every HTTP request: its id, its metrics, its span and its log line.

The endpoint leaves what it learns in the ASGI scope (``OPERATION``, ``PROJECT``; the router
adds the path parameters); this layer reads them once the response is sent.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tidings.ids import unique_id

if TYPE_CHECKING:
    from tidings.observability import Instruments

log = logging.getLogger(__name__)

REQUEST_ID = "tidings.request_id"
OPERATION = "tidings.operation"
PROJECT = "tidings.project"
REQUEST_ID_HEADER = "X-OpenStack-Request-Id"
REQUEST_ID_HEADER_NAME = REQUEST_ID_HEADER.lower().encode()
UNROUTED = "other"
"""The ``operation`` of requests that reached no operation (unknown paths, /metrics)."""


def new_request_id() -> str:
    """The id of one HTTP request or WebSocket frame, as OpenStack services write theirs."""
    return f"req-{unique_id()}"


class RequestMiddleware:
    def __init__(self, app: ASGIApp, instruments: Instruments) -> None:
        self.app = app
        self.metrics = instruments.metrics
        self.tracing = instruments.tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.tracing is None:
            await self._handle(scope, receive, send)
            return
        with self.tracing.request(scope) as span:
            status = await self._handle(scope, receive, send)
            span.set_attributes({"http.response.status_code": status, **_labels(scope)})

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> int:
        request_id = new_request_id()
        scope[REQUEST_ID] = request_id
        header = (REQUEST_ID_HEADER_NAME, request_id.encode())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
        return status

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        operation = scope.get(OPERATION, UNROUTED)
        if self.metrics is not None:
            self.metrics.observe(operation, status, seconds)
            queue = scope.get("path_params", {}).get("queue_name")
            if self.metrics.backlog is not None and queue and PROJECT in scope:
                self.metrics.backlog.saw(scope[PROJECT], queue)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s %d %.1f ms",
                scope["method"],
                scope["path"],
                status,
                seconds * 1000,
                extra={**log_extra(scope), "status": status, "duration_ms": seconds * 1000},
            )


def log_extra(scope: Scope) -> dict[str, Any]:
    """What a log record about this request carries in ``extra``."""
    return {
        "request_id": scope.get(REQUEST_ID, ""),
        "operation": scope.get(OPERATION, UNROUTED),
        "project": scope.get(PROJECT, ""),
        "queue": scope.get("path_params", {}).get("queue_name", ""),
    }


def _labels(scope: Scope) -> dict[str, str]:
    extra = log_extra(scope)
    return {f"tidings.{key}": value for key, value in extra.items() if value}
