"""Fixtures of the driver-level tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tidings.storage.redis import RedisStorage, parse_url


@pytest.fixture
async def redis_storage(redis_url: str) -> AsyncIterator[RedisStorage]:
    """The Redis driver, open on the session's standalone Redis (emptied for the test)."""
    driver = RedisStorage(parse_url(redis_url))
    await driver.open()
    try:
        yield driver
    finally:
        await driver.close()
