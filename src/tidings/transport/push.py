"""Live push: the messages posted to a queue, handed to every socket subscribed to it.

One follower per ``(project, queue)`` in this process reads the new messages from the service
(``MessageService.follow``: posts by any process, woken by the storage's signal) and hands
each batch to the queue's sinks, one per subscribed socket; a sink must not block. A
subscription returns once its follower has its place at the end of the queue, so a message
posted after the subscription's reply is pushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from tidings.models import Message
from tidings.service import Service

log = logging.getLogger(__name__)

Sink = Callable[[str, list[Message]], None]
"""Takes the queue's name and a batch of its new messages."""
RETRY = 1.0
"""Seconds before a follower that failed starts again."""


class PushHub:
    def __init__(self, service: Service) -> None:
        self._service = service
        self._followers: dict[tuple[str, str], _Follower] = {}

    async def subscribe(self, project: str, queue: str, sink: Sink) -> Callable[[], None]:
        """Hand the queue's new messages to ``sink`` until the returned function is called:
        every message posted after this returned."""
        key = (project, queue)
        if key not in self._followers:
            marker = await self._service.messages.newest_marker(project, queue)
            if key not in self._followers:  # nobody started one while the marker was read
                self._followers[key] = _Follower(self._service, project, queue, marker)
        follower = self._followers[key]
        follower.sinks.add(sink)

        def stop() -> None:
            follower.sinks.discard(sink)
            if not follower.sinks and self._followers.get(key) is follower:
                del self._followers[key]
                follower.stop()

        return stop


class _Follower:
    def __init__(self, service: Service, project: str, queue: str, marker: str | None) -> None:
        self.sinks: set[Sink] = set()
        self._service = service
        self._project = project
        self._queue = queue
        self._task = asyncio.create_task(self._run(marker), name=f"tidings-push-{queue}")

    def stop(self) -> None:
        self._task.cancel()

    async def _run(self, marker: str | None) -> None:
        """Follow from ``marker``; after a failure, on from the last batch handed out."""
        while True:
            follow = self._service.messages.follow(self._project, self._queue, marker)
            try:
                async with contextlib.aclosing(follow) as batches:
                    async for batch, after in batches:
                        marker = after  # where a restart goes on from
                        for sink in list(self.sinks):
                            sink(self._queue, batch)
            except Exception:
                log.exception("pushing the messages of queue %s failed", self._queue)
            await asyncio.sleep(RETRY)
