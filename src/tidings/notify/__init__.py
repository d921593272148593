"""Delivery of notifications to subscribers: webhooks, mail and queues of other projects'
topics, with retries and dead-lettering. Each server process runs one worker, started and
stopped with the app."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from tidings.notify.fanout import QueueSink
from tidings.notify.mail import MailSink
from tidings.notify.sinks import Sink
from tidings.notify.webhook import WebhookSink
from tidings.notify.worker import DeliverySetup, Dispatcher


def sinks(setup: DeliverySetup, client: httpx.AsyncClient) -> dict[str, Sink]:
    """The sink of each subscriber scheme."""
    settings = setup.settings
    webhook = WebhookSink(client, setup.clock, settings.webhook_timeout)
    return {
        "http": webhook,
        "https": webhook,
        "mailto": MailSink(settings),
        "queue": QueueSink(setup.storage, setup.clock),
    }


class Notifier:
    """The delivery worker of one server process; ``workers = 0`` turns it off."""

    def __init__(self, setup: DeliverySetup) -> None:
        self._setup = setup
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        settings = self._setup.settings
        if not settings.workers:
            return
        self._client = httpx.AsyncClient(timeout=settings.webhook_timeout)
        dispatcher = Dispatcher(self._setup, sinks(self._setup, self._client))
        self._task = asyncio.create_task(dispatcher.run())

    async def stop(self) -> None:
        """Stop at once; jobs in flight are claimed, so another worker delivers them later."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()
