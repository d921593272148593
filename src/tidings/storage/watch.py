"""Waiting for posts: the per-process half of ``Storage.watch``, shared by the drivers.

A driver hears about posts through a ``Feed``: Redis pub/sub, PostgreSQL LISTEN/NOTIFY, a poll
of SQLite. ``Watchers`` keeps this process's waiters by ``(project, queue)``, has the feed
listen to each queue that has waiters (one backend subscription per queue, however many wait
on it), and wakes the waiters of a queue when the feed reports a post to it.

``watch`` answers True when a message may have been posted since it was called: on a post, and
also when the feed starts (or, after a lost connection, resumes) listening to the queue after
the call, since a post just before that would go unreported. Callers look for messages again
after each True. A queue stays listened to for ``LINGER`` seconds after its last waiter left,
so a caller that looks again and waits again finds its subscription in place. Waiters cost no
thread, no connection and no timer beyond their own timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from typing import Protocol

log = logging.getLogger(__name__)

Key = tuple[str, str]
"""``(project, queue)``."""

LINGER = 10.0
"""Seconds a queue is still listened to after its last waiter left."""
RETRY = 1.0
"""Seconds between two attempts to reach the backend after the feed lost it."""


class Feed(Protocol):
    """A backend's news of posts, for the queues it is told to listen to."""

    async def connect(self, posted: Callable[[Key], None]) -> None:
        """Get ready to listen; ``posted(key)`` is then called for each post reported."""

    async def listen(self, keys: Collection[Key]) -> None:
        """Return once every post to these queues from now on will be reported."""

    async def unlisten(self, keys: Collection[Key]) -> None: ...

    async def lost(self) -> None:
        """Return, or raise, when the feed stops hearing about posts (connection lost)."""

    async def close(self) -> None: ...


class Watchers:
    def __init__(self, feed: Feed, linger: float = LINGER) -> None:
        self._feed = feed
        self._linger = linger
        self._waiters: dict[Key, set[asyncio.Future[bool]]] = {}
        self._lingering: dict[Key, asyncio.TimerHandle] = {}
        self._listening: set[Key] = set()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def watch(self, key: Key, seconds: float) -> bool:
        """Wait for news of a post to ``key``, at most ``seconds``. The waiter is registered
        before the first suspension of this coroutine."""
        if self._closed:
            return True  # the caller looks again, and learns that the store is closed
        if seconds <= 0:
            return False
        future = asyncio.get_running_loop().create_future()
        self._add(key, future)
        try:
            done, _ = await asyncio.wait((future,), timeout=seconds)
        finally:
            self._remove(key, future)
        return bool(done)

    def posted(self, key: Key) -> None:
        """A message was posted to ``key``: wake its waiters."""
        for future in self._waiters.get(key, ()):
            if not future.done():
                future.set_result(True)

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._feed.close()
        for handle in self._lingering.values():
            handle.cancel()
        self._lingering.clear()
        for key in list(self._waiters):
            self.posted(key)  # let them look again (and meet the closed store)

    def _add(self, key: Key, future: asyncio.Future[bool]) -> None:
        waiters = self._waiters.setdefault(key, set())
        waiters.add(future)
        lingering = self._lingering.pop(key, None)
        if lingering is not None:
            lingering.cancel()
        elif len(waiters) == 1 and key not in self._listening:
            self._changed.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tidings-watchers")

    def _remove(self, key: Key, future: asyncio.Future[bool]) -> None:
        waiters = self._waiters[key]
        waiters.discard(future)
        if not waiters:
            del self._waiters[key]
            loop = asyncio.get_running_loop()
            self._lingering[key] = loop.call_later(self._linger, self._forget, key)

    def _forget(self, key: Key) -> None:
        del self._lingering[key]
        self._changed.set()

    async def _run(self) -> None:
        """Keep the feed listening to the wanted queues; reconnect when it is lost."""
        while True:
            try:
                await self._serve()
            except Exception as exc:
                log.warning("lost the news of posts (%r); retrying in %.0f s", exc, RETRY)
            self._listening.clear()
            with contextlib.suppress(Exception):
                await self._feed.close()
            await asyncio.sleep(RETRY)

    async def _serve(self) -> None:
        await self._feed.connect(self.posted)
        lost = asyncio.ensure_future(self._feed.lost())
        try:
            while not lost.done():
                self._changed.clear()
                await self._sync()
                changed = asyncio.ensure_future(self._changed.wait())
                await asyncio.wait((lost, changed), return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
            lost.result()
        finally:
            lost.cancel()
        raise ConnectionError("the connection was lost")

    async def _sync(self) -> None:
        wanted = self._waiters.keys() | self._lingering.keys()
        gone = self._listening - wanted
        if gone:
            self._listening -= gone
            await self._feed.unlisten(gone)
        new = wanted - self._listening
        if new:
            await self._feed.listen(new)
            self._listening |= new
            for key in new:
                self.posted(key)  # a post just before listening went unreported: look again
