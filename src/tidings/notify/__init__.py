"""Delivery of notifications to subscribers: webhooks, mail and queues of other projects'
topics, with retries and dead-lettering. Each server process runs one worker, started and
stopped with the app."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from tidings.clock import Clock
from tidings.config import NotificationSettings
from tidings.notify.fanout import QueueSink
from tidings.notify.mail import MailSink
from tidings.notify.sinks import Sink
from tidings.notify.webhook import WebhookSink
from tidings.notify.worker import DeliveryObserver, Dispatcher, keep_no_figures
from tidings.service.encryption import BodyCipher
from tidings.storage.base import Storage


def sinks(
    storage: Storage, settings: NotificationSettings, clock: Clock, client: httpx.AsyncClient
) -> dict[str, Sink]:
    """The sink of each subscriber scheme."""
    webhook = WebhookSink(client, clock, settings.webhook_timeout)
    return {
        "http": webhook,
        "https": webhook,
        "mailto": MailSink(settings),
        "queue": QueueSink(storage, clock),
    }


class Notifier:
    """The delivery worker of one server process; ``workers = 0`` turns it off."""

    def __init__(
        self,
        storage: Storage,
        settings: NotificationSettings,
        clock: Clock,
        cipher: BodyCipher,
        job_ttl: int,
        observe: DeliveryObserver = keep_no_figures,
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._cipher = cipher
        self._job_ttl = job_ttl
        self._observe = observe
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self._settings.workers:
            return
        self._client = httpx.AsyncClient(timeout=self._settings.webhook_timeout)
        dispatcher = Dispatcher(
            self._storage,
            sinks(self._storage, self._settings, self._clock, self._client),
            self._settings,
            self._clock,
            self._cipher,
            self._job_ttl,
            self._observe,
        )
        self._task = asyncio.create_task(dispatcher.run())

    async def stop(self) -> None:
        """Stop at once; jobs in flight are claimed, so another worker delivers them later."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()
