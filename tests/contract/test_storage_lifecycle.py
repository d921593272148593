"""Contract: an opened driver is alive, and every test starts from an empty store."""

from __future__ import annotations

from tidings.clock import FakeClock
from tidings.storage.base import Storage


async def test_an_open_driver_is_alive(storage: Storage) -> None:
    assert await storage.is_alive() is True


async def test_each_test_starts_with_an_empty_store(storage: Storage, clock: FakeClock) -> None:
    assert await storage.queue_count("project-a") == 0
    assert await storage.gc(clock() + 10**9) == 0
