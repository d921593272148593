"""Operations slower than ``observability.slow_operation_ms``, logged at WARNING with where
their time went: how long their storage calls took, and apart from it how long a long poll
waited for messages, which is not counted against the threshold.

An operation (over HTTP or WebSocket alike) keeps its tally in a context variable, which its
storage calls add to: those made in tasks it starts (a long poll's watch) add to the same
tally. Calls made outside an operation (the notifier, the backlog's reads) find none.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from tidings.context import RequestContext

log = logging.getLogger(__name__)

WAIT = "watch"
"""The storage call in which a long poll waits for a post."""


@dataclass(slots=True)
class _Tally:
    storage_seconds: float = 0.0
    storage_calls: int = 0
    waited_seconds: float = 0.0


_tally: ContextVar[_Tally | None] = ContextVar("slow_operation_tally", default=None)


class SlowOperations:
    def __init__(self, threshold_ms: float) -> None:
        self.threshold = threshold_ms / 1000

    def operation(
        self,
        name: str,
        caller: RequestContext,
        queue: str | None,
        inner: AbstractContextManager[Any],
    ) -> AbstractContextManager[Any]:
        """``inner`` (the operation's span, or nothing), with the operation timed around it."""
        return _Timed(self.threshold, name, caller, queue, inner)

    @staticmethod
    def observe_storage_call(call: str, result: str, seconds: float) -> None:
        """Add a storage call's time to the tally of the operation that made it, if any."""
        tally = _tally.get()
        if tally is None:
            return
        if call == WAIT:
            tally.waited_seconds += seconds
        else:
            tally.storage_seconds += seconds
            tally.storage_calls += 1


@dataclass(slots=True)
class _Timed:
    threshold: float
    name: str
    caller: RequestContext
    queue: str | None
    inner: AbstractContextManager[Any]
    tally: _Tally = field(default_factory=_Tally)
    token: Token[_Tally | None] | None = None
    started: float = 0.0

    def __enter__(self) -> Any:
        entered = self.inner.__enter__()
        self.token = _tally.set(self.tally)
        self.started = time.perf_counter()
        return entered

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        seconds = time.perf_counter() - self.started
        assert self.token is not None
        _tally.reset(self.token)
        if seconds - self.tally.waited_seconds > self.threshold:
            self._log(seconds)
        return self.inner.__exit__(kind, error, traceback)

    def _log(self, seconds: float) -> None:
        tally = self.tally
        calls = (
            "1 storage call" if tally.storage_calls == 1 else f"{tally.storage_calls} storage calls"
        )
        waited = f" and {tally.waited_seconds * 1000:.1f} ms waiting for messages"
        log.warning(
            "slow operation %s: %.1f ms, of which %.1f ms in %s%s",
            self.name,
            seconds * 1000,
            tally.storage_seconds * 1000,
            calls,
            waited if tally.waited_seconds else "",
            extra={
                "request_id": self.caller.request_id,
                "operation": self.name,
                "project": self.caller.project_id,
                "queue": self.queue or "",
                "duration_ms": seconds * 1000,
                "storage_ms": tally.storage_seconds * 1000,
                "storage_calls": tally.storage_calls,
                "waited_ms": tally.waited_seconds * 1000,
            },
        )
