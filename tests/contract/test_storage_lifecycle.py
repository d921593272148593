"""Contract: a driver declares what the suite tests, an opened driver is alive, and every test
starts from an empty store."""

from __future__ import annotations

from tidings.clock import FakeClock
from tidings.storage.base import AOD, CLAIMS, Storage


def test_a_driver_declares_claims_and_at_least_once_delivery(storage: Storage) -> None:
    """The suite tests them on every driver; only FIFO may be missing (see ``post_order``)."""
    assert {CLAIMS, AOD} <= storage.capabilities


async def test_an_open_driver_is_alive(storage: Storage) -> None:
    assert await storage.is_alive() is True


async def test_each_test_starts_with_an_empty_store(storage: Storage, clock: FakeClock) -> None:
    assert await storage.queue_count("project-a") == 0
    assert await storage.gc(clock() + 10**9) == 0
