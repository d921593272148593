"""Contract: ``watch`` wakes on posts by any process, ``newest_marker`` lists only newer posts.

"Another process" is a second driver on the same store (for the in-memory SQLite store, which
no other process can share, the same driver).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.contract.test_storage_messages import PROJECT, QUEUE, everything
from tests.messages import new
from tests.servers.backends import BACKENDS, storage_url
from tidings.clock import FakeClock
from tidings.models import JSON
from tidings.storage.base import Storage, storage_from_url

WAKE_WITHIN = 2.0
"""Seconds a post may take to wake a watcher (the SQLite poll is the slowest: 50 ms)."""
LONG = 30.0


@pytest.fixture(params=list(BACKENDS))
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Storage, Storage]]:
    """A watching driver and a posting one, on one store."""
    url = storage_url(request, request.param)
    drivers = [storage_from_url(url)]
    if not url.endswith(":memory:"):
        drivers.append(storage_from_url(url))
    for driver in drivers:
        await driver.open()
    try:
        yield drivers[0], drivers[-1]
    finally:
        for driver in drivers:
            await driver.close()


async def listening(storage: Storage, queue: str = QUEUE) -> None:
    """Have the store listen to ``queue``: the first watch of a queue answers True as soon as
    its subscription is in place, so that the caller looks for messages again."""
    assert await storage.watch(PROJECT, queue, LONG)


async def started(storage: Storage, queue: str = QUEUE) -> asyncio.Task[bool]:
    watching = asyncio.create_task(storage.watch(PROJECT, queue, LONG))
    await asyncio.sleep(0)  # the wait is registered in its first step
    return watching


async def post(storage: Storage, clock: FakeClock, *bodies: JSON, queue: str = QUEUE) -> None:
    await storage.messages_post(PROJECT, queue, new(*bodies), clock())


async def test_a_post_by_another_process_wakes_a_watcher(
    pair: tuple[Storage, Storage], clock: FakeClock
) -> None:
    watcher, poster = pair
    await listening(watcher)
    watching = await started(watcher)
    start = time.monotonic()

    await post(poster, clock, "hello")

    assert await asyncio.wait_for(watching, WAKE_WITHIN)
    assert time.monotonic() - start < WAKE_WITHIN


async def test_every_watcher_of_the_queue_wakes(
    pair: tuple[Storage, Storage], clock: FakeClock
) -> None:
    watcher, poster = pair
    await listening(watcher)
    watching = [await started(watcher) for _ in range(3)]

    await post(poster, clock, "hello")

    assert await asyncio.wait_for(asyncio.gather(*watching), WAKE_WITHIN) == [True] * 3


async def test_a_watch_without_posts_ends_false_after_its_seconds(
    pair: tuple[Storage, Storage],
) -> None:
    watcher, _ = pair
    await listening(watcher)
    start = time.monotonic()

    assert not await watcher.watch(PROJECT, QUEUE, 0.3)

    assert 0.25 < time.monotonic() - start < 0.3 + WAKE_WITHIN


async def test_a_post_to_another_queue_does_not_wake(
    pair: tuple[Storage, Storage], clock: FakeClock
) -> None:
    watcher, poster = pair
    await listening(watcher)
    watching = asyncio.create_task(watcher.watch(PROJECT, QUEUE, 0.5))
    await asyncio.sleep(0)

    await post(poster, clock, "elsewhere", queue="other")

    assert not await watching


async def test_a_watch_of_no_time_ends_at_once(storage: Storage) -> None:
    assert not await storage.watch(PROJECT, QUEUE, 0)


async def test_a_closed_store_sends_watchers_back_to_look(pair: tuple[Storage, Storage]) -> None:
    watcher, _ = pair
    await listening(watcher)
    watching = await started(watcher)

    await watcher.close()

    assert await asyncio.wait_for(watching, WAKE_WITHIN)


async def test_newest_marker_of_a_queue_without_messages_is_none(storage: Storage) -> None:
    assert await storage.newest_marker(PROJECT, "never-used") is None


async def test_listing_from_the_newest_marker_shows_only_later_posts(
    storage: Storage, clock: FakeClock
) -> None:
    await post(storage, clock, "old", "older")
    marker = await storage.newest_marker(PROJECT, QUEUE)

    before, _ = await storage.messages_list(PROJECT, QUEUE, everything(marker), clock())
    await post(storage, clock, "new")
    after, _ = await storage.messages_list(PROJECT, QUEUE, everything(marker), clock())

    assert before == []
    assert [message.body for message in after] == ["new"]
