"""Long polling: looking for messages again as they are posted, until a deadline.

A waiting request holds no thread and no storage connection: between two looks it awaits the
storage's ``watch``, which each driver answers from its own signal of posts. The deadline is
real time (the monotonic clock); each look still takes ``now`` from the service's clock.

A post wakes every waiter of its queue in the process, and each looks again: the looks that
follow a wait pass a gate of CONCURRENT_LOOKS, so a thousand waiters woken at once never ask
the store more than that at a time (its connection pool would refuse or time them out).

A long poll whose caller has gone (``caller_gone``, from the transport) stops waiting: a claim
made after its client disconnected would hide its messages from everyone until it expired.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tidings.config import Limits
from tidings.service import validate
from tidings.storage.base import Storage

T = TypeVar("T")

DEFAULT_KEY = "_default_wait_seconds"
WAIT_RANGE = 'The "wait" parameter must be at least {low} and no greater than {high} seconds.'
CONCURRENT_LOOKS = 8

CallerGone = Callable[[], Awaitable[object]]
"""Returns once the caller of a request has gone (its connection closed)."""


class LongPoll:
    def __init__(self, storage: Storage, limits: Limits) -> None:
        self.storage = storage
        self.limits = limits
        self.gate = asyncio.Semaphore(CONCURRENT_LOOKS)

    def check(self, wait: int | None) -> None:
        if wait is not None:
            validate.in_range(wait, 0, self.limits.max_wait_seconds, WAIT_RANGE)

    async def until_found(
        self,
        project: str,
        queue: str,
        wait: int | None,
        look: Callable[[], Awaitable[T]],
        found: Callable[[T], bool],
        caller_gone: CallerGone | None = None,
    ) -> T:
        """What ``look`` finds, looking again as messages are posted for ``wait`` seconds
        (None: the queue's ``_default_wait_seconds``) while it finds nothing and the caller is
        still there."""
        result = await look()
        if found(result) or wait == 0:
            return result
        seconds = await self._queue_default(project, queue) if wait is None else wait
        if seconds <= 0:
            return result
        return await watching(
            self.storage, project, queue, seconds, self.gated(look), found, caller_gone
        )

    def gated(self, look: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
        """``look`` through the gate."""

        async def gated() -> T:
            async with self.gate:
                return await look()

        return gated

    async def _queue_default(self, project: str, queue: str) -> int:
        queue_meta = await self.storage.queue_get_metadata(project, queue) or {}
        seconds = queue_meta.get(DEFAULT_KEY)
        return seconds if isinstance(seconds, int) else 0


async def watching(
    storage: Storage,
    project: str,
    queue: str,
    seconds: float,
    look: Callable[[], Awaitable[T]],
    found: Callable[[T], bool],
    gone: CallerGone | None = None,
) -> T:
    """Look, then wait for a post and look again, until ``look`` finds something, ``seconds``
    have passed or ``gone`` returns; the last look's result. Each wait starts before its look,
    so a post during the look is not missed."""
    deadline = time.monotonic() + seconds
    caller_gone = asyncio.ensure_future(gone()) if gone is not None else None
    try:
        while True:
            watch = asyncio.ensure_future(
                storage.watch(project, queue, deadline - time.monotonic())
            )
            try:
                await asyncio.sleep(0)  # the watch registers in its first step
                result = await look()
                if found(result) or not await _posted(watch, caller_gone):
                    return result
            finally:
                watch.cancel()
                await asyncio.wait((watch,))  # it ends within this call, as it started
    finally:
        if caller_gone is not None:
            caller_gone.cancel()


async def _posted(watch: asyncio.Future[bool], caller_gone: asyncio.Future[object] | None) -> bool:
    """What the watch answers (whether a post came before the deadline); False once the
    caller has gone."""
    if caller_gone is None:
        return await watch
    done, _ = await asyncio.wait((watch, caller_gone), return_when=asyncio.FIRST_COMPLETED)
    return caller_gone not in done and watch.result()
