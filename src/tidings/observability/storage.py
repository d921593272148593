"""Every call of the Storage contract, for every driver: timed for the metrics, and (tracing
on, see ``tracing``) in a span of its own; but for calls made ``unobserved``."""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any, cast

from tidings import errors
from tidings.storage.base import Storage

CALLS = frozenset(
    name
    for name, value in vars(Storage).items()
    if not name.startswith("_") and inspect.iscoroutinefunction(value)
)
"""The contract's coroutine methods: these are wrapped; anything else passes through."""

Call = Callable[..., Awaitable[Any]]
Around = Callable[[str, Call], Call]
"""Given a contract call's name and the driver's method, what to call in its place."""


_unobserved = ContextVar("unobserved", default=False)


@contextlib.contextmanager
def unobserved() -> Iterator[None]:
    """Calls made inside (and in tasks started inside) are neither timed nor traced: the
    backlog's reads, made when Prometheus scrapes, which would count scrapes, not traffic."""
    token = _unobserved.set(True)
    try:
        yield
    finally:
        _unobserved.reset(token)


def each_call(storage: Storage, around: Around) -> Storage:
    """``storage`` with each contract call replaced by ``around(name, method)``, but for
    calls made ``unobserved``, which go to the method itself."""
    return cast(Storage, _EachCall(storage, around))


class _EachCall:
    def __init__(self, inner: Storage, around: Around) -> None:
        self._inner = inner
        self._around = around

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name in CALLS:
            value = _unless_unobserved(value, self._around(name, value))
            setattr(self, name, value)  # wrap once; later lookups find it directly
        return value


def _unless_unobserved(method: Call, observed: Call) -> Call:
    async def call(*args: Any, **kwargs: Any) -> Any:
        if _unobserved.get():
            return await method(*args, **kwargs)
        return await observed(*args, **kwargs)

    return call


CANCELLED = "cancelled"
"""The result of a call cancelled before it ended (a long poll whose caller left)."""


def timed(storage: Storage, observe: Callable[[str, str, float], None]) -> Storage:
    """``storage`` with each call's name, result and seconds given to ``observe`` once the
    call returns, raises or is cancelled (``CANCELLED``)."""

    def around(name: str, method: Call) -> Call:
        async def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = CANCELLED
            try:
                answer = await method(*args, **kwargs)
            except Exception as exc:
                result = _result_of(exc)
                raise
            else:
                result = "ok"
                return answer
            finally:
                observe(name, result, time.perf_counter() - started)

        return call

    return each_call(storage, around)


def _result_of(exc: Exception) -> str:
    """``refused``: the store answered no (no such message, an expired claim);
    ``unavailable``: it could not be reached or would not work; ``error``: anything else."""
    if isinstance(exc, errors.StorageUnavailable):
        return "unavailable"
    if isinstance(exc, errors.TidingsError):
        return "refused"
    return "error"
