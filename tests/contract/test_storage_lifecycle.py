"""Contract: a driver declares what the suite tests, an opened driver is alive, and every test
starts from an empty store."""

from __future__ import annotations

import asyncio
from random import Random

from tidings.clock import FakeClock
from tidings.storage.base import AOD, CLAIMS, Storage

CANCELLATIONS = 300


def test_a_driver_declares_claims_and_at_least_once_delivery(storage: Storage) -> None:
    """The suite tests them on every driver; only FIFO may be missing (see ``post_order``)."""
    assert {CLAIMS, AOD} <= storage.capabilities


async def test_an_open_driver_is_alive(storage: Storage) -> None:
    assert await storage.is_alive() is True


async def test_each_test_starts_with_an_empty_store(storage: Storage, clock: FakeClock) -> None:
    assert await storage.queue_count("project-a") == 0
    assert await storage.gc(clock() + 10**9) == 0


async def test_a_cancelled_call_ends_its_task(storage: Storage, clock: FakeClock) -> None:
    """Cancelled at any point of a call, a task ends: stopping a push follower or a feed relies
    on it. One cancellation each, at a different point of the call every time."""
    await storage.queue_create("project-a", "fifo", {}, clock())
    random = Random(7)

    async def reading() -> None:
        while True:
            await storage.queue_get_metadata("project-a", "fifo")

    for _ in range(CANCELLATIONS):
        task = asyncio.create_task(reading())
        for _ in range(random.randrange(1, 40)):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait((task,), timeout=5)
        while not task.done():  # stop it anyway, so that the test ends
            task.cancel()
            await asyncio.wait((task,), timeout=0.1)
        assert done, "the cancellation was lost: the task went on"
        assert task.cancelled()
