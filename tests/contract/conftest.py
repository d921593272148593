"""The storage contract suite: every test here runs once per driver in ``BACKENDS``, and once on
the pool router (``pooled``: a default SQLite store and two SQLite pools).

Every test runs on every driver. Where drivers differ, in order (``FIFO`` in a driver's
``capabilities``), a test states what each guarantees with the ``post_order`` fixture
(``tests/ordering.py``). Time is a ``FakeClock``: tests pass ``clock()`` as ``now`` and move it
with ``advance``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.ordering import PostOrderOf, post_order_of
from tests.servers.backends import BACKENDS, storage_url
from tidings.clock import FakeClock
from tidings.models import Pool
from tidings.storage.base import Storage, storage_from_url
from tidings.storage.pooled import PooledStorage, pooled_from_url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=[*BACKENDS, "pooled"])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    if request.param == "pooled":
        driver: Storage = pooled_from_url(storage_url(request, "sqlite-file"))
    else:
        driver = storage_from_url(storage_url(request, request.param))
    await driver.open()
    try:
        if isinstance(driver, PooledStorage):
            await _add_pools(driver, request.getfixturevalue("tmp_path"))
        yield driver
    finally:
        await driver.close()


@pytest.fixture
def post_order(storage: Storage) -> PostOrderOf:
    """The expected value of a listing of the given items, posted in that order, on ``storage``."""
    return post_order_of(storage)


async def _add_pools(router: PooledStorage, directory: Path) -> None:
    """Two SQLite pools of equal weight beside the default store: queues land in either."""
    for name in ("left", "right"):
        await router.catalog.pool_put(Pool(name, f"sqlite:///{directory / name}.db", 1))
    router.invalidate()
