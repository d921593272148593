"""What a server records about itself: Prometheus metrics, OpenTelemetry traces, structured
logs. Whatever is switched off costs nothing on the request path: with tracing off, no span is
made; with metrics off too, the storage driver is not wrapped."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from tidings.clock import Clock
from tidings.config import ObservabilitySettings
from tidings.context import RequestContext
from tidings.observability.asgi import RequestMiddleware
from tidings.observability.metrics import SHARED_DIR, Backlog, Metrics
from tidings.observability.slow import SlowOperations
from tidings.observability.storage import timed
from tidings.storage.base import Storage

if TYPE_CHECKING:
    from tidings.observability.tracing import Tracing

_NO_SPAN: AbstractContextManager[None] = contextlib.nullcontext()


class Instruments:
    def __init__(
        self,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
        backlog_interval: float = 15.0,
        slow: SlowOperations | None = None,
    ) -> None:
        self.metrics = metrics
        self.tracing = tracing
        self.backlog_interval = backlog_interval
        self.slow = slow
        self._sharing: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: ObservabilitySettings) -> Instruments:
        tracing = None
        if settings.tracing:
            from tidings.observability.tracing import Tracing  # only loaded when on

            tracing = Tracing.from_settings(settings)
        metrics = Metrics() if settings.metrics else None
        slow = SlowOperations(settings.slow_operation_ms) if settings.slow_operation_ms else None
        return cls(metrics, tracing, settings.backlog_interval, slow)

    def watch(self, driver: Storage, url: str, pool: str) -> Storage:
        """The driver of one store (``pool``: its pool's name, empty for the default
        storage), its calls timed (metrics or slow operations on) and traced (tracing on)."""
        observe = self._storage_observer(pool)
        if observe is not None:
            driver = timed(driver, observe)
        if self.tracing is not None:
            driver = self.tracing.traced(driver, urlsplit(url).scheme, pool)
        return driver

    def _storage_observer(self, pool: str) -> Callable[[str, str, float], None] | None:
        """Who is told of each storage call of ``pool``'s store: the metrics, the slow
        operations' tally, both or neither."""
        metrics, slow = self.metrics, self.slow
        if metrics is None:
            return None if slow is None else slow.observe_storage_call
        if slow is None:
            return functools.partial(metrics.observe_storage_call, pool=pool)

        def both(call: str, result: str, seconds: float) -> None:
            metrics.observe_storage_call(call, result, seconds, pool)
            slow.observe_storage_call(call, result, seconds)

        return both

    def read_backlog(self, storage: Storage, clock: Clock) -> None:
        """Metrics on: read the backlog gauges from ``storage`` when Prometheus scrapes."""
        if self.metrics is not None:
            self.metrics.backlog = Backlog(storage, clock, self.backlog_interval)

    def operation(
        self, name: str, caller: RequestContext, queue: str | None
    ) -> AbstractContextManager[Any]:
        """The span of one operation (tracing on), timed to log it when it is slow (slow
        operations on); else nothing."""
        span = _NO_SPAN if self.tracing is None else self.tracing.operation(name, caller, queue)
        if self.slow is None:
            return span
        return self.slow.operation(name, caller, queue, span)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """``app`` inside the request layer: request id, metrics, span and log line."""
        return RequestMiddleware(app, self)

    def routes(self) -> list[BaseRoute]:
        if self.metrics is None:
            return []
        metrics = self.metrics

        async def endpoint(http: Request) -> Response:
            content, media_type = await metrics.exposition()
            return Response(content, 200, media_type=media_type)

        return [Route("/metrics", endpoint, methods=["GET"], include_in_schema=False)]

    def start(self) -> None:
        """At the start of a server process: share its metrics with the other workers'."""
        if self.metrics is not None and SHARED_DIR in os.environ:
            self._sharing = asyncio.create_task(self.metrics.share())

    async def stop(self) -> None:
        """At the end of a server process: leave its last figures, flush spans."""
        if self._sharing is not None:
            self._sharing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sharing
        if self.tracing is not None:
            self.tracing.shutdown()
