"""Fixtures for delivery tests: real receivers, a worker stepped on a fake clock, and an
in-process server whose own worker delivers in real time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import in_process_client
from tests.notify.receivers import Mailbox, Receiver
from tidings.clock import FakeClock
from tidings.config import (
    Limits,
    NotificationSettings,
    Settings,
    SignedUrlSettings,
    StorageSettings,
)
from tidings.models import MessageFilter
from tidings.notify import sinks
from tidings.notify.worker import DeliverySetup, Dispatcher
from tidings.service import Service
from tidings.service.encryption import BodyCipher
from tidings.storage.base import Storage, storage_from_url

PROJECT = "project-a"
SIGNING_KEY = "signing-key"
QUICK = NotificationSettings(webhook_timeout=0.8, smtp_timeout=5, poll_interval=0.02)
"""Timeouts short enough for quick tests, long enough for a loopback answer on a busy machine."""


@dataclass
class Harness:
    """A delivery worker run pass by pass on a fake clock, over a fresh store."""

    storage: Storage
    service: Service
    dispatcher: Dispatcher
    clock: FakeClock

    async def run(self, until: Callable[[], bool], seconds: int = 600) -> None:
        """Deliver every due job, then move the clock one second, until ``until()``."""
        for _ in range(seconds):
            while await self.dispatcher.drain():
                if until():
                    return
            if until():
                return
            self.clock.advance(1)
        raise AssertionError(f"not done after {seconds} s of fake time")

    async def idle(self, seconds: int) -> None:
        """Let ``seconds`` of fake time pass with the worker running."""
        for _ in range(seconds):
            while await self.dispatcher.drain():
                pass
            self.clock.advance(1)

    async def bodies(self, queue: str, project: str = PROJECT) -> list[Any]:
        """The bodies of the messages in a queue of the project."""
        query = MessageFilter(client_id="reader", echo=True, limit=20)
        found, _ = await self.storage.messages_list(project, queue, query, self.clock())
        return [message.body for message in found]


@pytest.fixture
async def harness(clock: FakeClock) -> AsyncIterator[Harness]:
    storage = storage_from_url("sqlite:///:memory:")
    await storage.open()
    limits = Limits()
    cipher = BodyCipher("")
    service = Service(storage, limits, clock, cipher, SIGNING_KEY, QUICK)
    async with httpx.AsyncClient(timeout=QUICK.webhook_timeout) as client:
        setup = DeliverySetup(storage, QUICK, clock, cipher, limits.max_message_ttl)
        dispatcher = Dispatcher(setup, sinks(setup, client))
        try:
            yield Harness(storage, service, dispatcher, clock)
        finally:
            await storage.close()


@pytest.fixture
def receiver(clock: FakeClock) -> Iterator[Receiver]:
    """A listening receiver; it notes the fake clock's time of each request."""
    with Receiver(clock=clock) as found:
        yield found


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as box:
        yield box


def serving(clock: FakeClock, **notification: Any) -> Any:
    """An in-process server (HTTP client) whose worker delivers in real time."""
    settings = Settings(
        storage=StorageSettings(url="sqlite:///:memory:"),
        signed_url=SignedUrlSettings(secret_key=SIGNING_KEY),
        notification=NotificationSettings(
            webhook_timeout=1, smtp_timeout=5, poll_interval=0.02, **notification
        ),
    )
    return in_process_client(settings, clock)


async def listed(api: httpx.AsyncClient, path: str, count: int = 1) -> list[Any]:
    """The bodies of the messages at ``path`` once there are ``count`` (waiting in real
    time, at most 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        response = await api.get(path, params={"echo": "true"})
        bodies = [message["body"] for message in response.json()["messages"]]
        if len(bodies) >= count or time.monotonic() > deadline:
            return bodies
        await asyncio.sleep(0.02)


async def subscribe(
    api: httpx.AsyncClient, source: str, subscriber: str, **fields: Any
) -> dict[str, Any]:
    response = await api.post(f"{source}/subscriptions", json={"subscriber": subscriber, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def post(api: httpx.AsyncClient, source: str, *bodies: Any) -> list[str]:
    response = await api.post(
        f"{source}/messages", json={"messages": [{"body": body} for body in bodies]}
    )
    assert response.status_code == 201, response.text
    return [href.rsplit("/", 1)[1] for href in response.json()["resources"]]
