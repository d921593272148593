"""One wrapper that puts every call of the Storage contract in a span, for every driver."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, cast

from opentelemetry.trace import SpanKind, Tracer

from tidings.storage.base import Storage

CALLS = frozenset(
    name
    for name, value in vars(Storage).items()
    if not name.startswith("_") and inspect.iscoroutinefunction(value)
)
"""The contract's coroutine methods: these are traced; anything else passes through."""


def traced(storage: Storage, tracer: Tracer, system: str) -> Storage:
    """``storage`` with each contract call in a client span named ``storage.<method>``,
    carrying ``db.system.name`` (the URL scheme), the project and the queue."""
    return cast(Storage, _TracedStorage(storage, tracer, system))


class _TracedStorage:
    def __init__(self, inner: Storage, tracer: Tracer, system: str) -> None:
        self._inner = inner
        self._tracer = tracer
        self._system = system

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name in CALLS:
            value = self._wrap(name, value)
            setattr(self, name, value)  # wrap once; later lookups find it directly
        return value

    def _wrap(
        self, name: str, method: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        where = _argument_positions(getattr(Storage, name))
        span_name = f"storage.{name}"

        async def call(*args: Any, **kwargs: Any) -> Any:
            attributes = {"db.system.name": self._system, "db.operation.name": name}
            for attribute, (position, keyword) in where.items():
                value = args[position] if position < len(args) else kwargs.get(keyword)
                if value is not None:
                    attributes[attribute] = value
            with self._tracer.start_as_current_span(
                span_name, kind=SpanKind.CLIENT, attributes=attributes
            ):
                return await method(*args, **kwargs)

        return call


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
