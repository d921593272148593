"""OpenTelemetry spans for requests and operations, exported over OTLP/HTTP.

Imported only when tracing is on (``observability.tracing = true``), so a server without the
``tracing`` extra installed, or with tracing off, never loads OpenTelemetry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import Scope

from tidings.config import ObservabilitySettings
from tidings.context import RequestContext
from tidings.observability.storage import Call, each_call
from tidings.storage.base import Storage

PROPAGATED = (b"traceparent", b"tracestate")


class Tracing:
    """Spans from one provider: the test suite hands in one that keeps spans in memory."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("tidings")
        self._propagator = TraceContextTextMapPropagator()

    @classmethod
    def from_settings(cls, settings: ObservabilitySettings) -> Tracing:
        provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint)
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    def request(self, scope: Scope) -> AbstractContextManager[Span]:
        """The server span of one HTTP request, continuing the caller's trace if it sent one."""
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in PROPAGATED
        }
        return self.tracer.start_as_current_span(
            f"{scope['method']} {scope['path']}",
            context=self._propagator.extract(carrier) if carrier else None,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
        )

    def operation(
        self, name: str, caller: RequestContext, queue: str | None
    ) -> AbstractContextManager[Span]:
        """The span of one operation from the operation table, for ``caller``."""
        attributes = {
            "tidings.operation": name,
            "tidings.project": caller.project_id,
            "tidings.request_id": caller.request_id,
        }
        if queue is not None:
            attributes["tidings.queue"] = queue
        return self.tracer.start_as_current_span(name, attributes=attributes)

    def traced(self, storage: Storage, system: str, pool: str) -> Storage:
        """``storage`` with each contract call in a client span named ``storage.<method>``,
        carrying ``db.system.name`` (the URL scheme), the pool (unless it is the default
        storage), the project and the queue."""
        common = {"db.system.name": system}
        if pool:
            common["tidings.pool"] = pool

        def around(name: str, method: Call) -> Call:
            where = _argument_positions(getattr(Storage, name))
            span_name = f"storage.{name}"

            async def call(*args: Any, **kwargs: Any) -> Any:
                attributes = {**common, "db.operation.name": name}
                for attribute, (position, keyword) in where.items():
                    value = args[position] if position < len(args) else kwargs.get(keyword)
                    if value is not None:
                        attributes[attribute] = value
                with self.tracer.start_as_current_span(
                    span_name, kind=SpanKind.CLIENT, attributes=attributes
                ):
                    return await method(*args, **kwargs)

            return call

        return each_call(storage, around)

    def shutdown(self) -> None:
        """Export what is buffered and stop."""
        self.provider.shutdown()


def _argument_positions(method: Callable[..., Any]) -> dict[str, tuple[int, str]]:
    """Where a contract method takes its project and queue: span attribute to (position
    among the arguments after ``self``, keyword)."""
    names = list(inspect.signature(method).parameters)[1:]
    found = {}
    for attribute, keywords in (
        ("tidings.project", ("project",)),
        ("tidings.queue", ("queue", "name")),
    ):
        for keyword in keywords:
            if keyword in names:
                found[attribute] = (names.index(keyword), keyword)
                break
    return found
