"""The storage contract suite: every test here runs once per driver in ``BACKENDS``, and once on
the pool router (``pooled``: a default SQLite store and two SQLite pools).

A driver that lacks a behaviour declares it in its ``capabilities``; a test that needs the
behaviour says so with ``@pytest.mark.requires(CAPABILITY)`` (or a module's ``pytestmark``), and
the ``storage`` fixture below is the one place that turns a missing capability into a skip.
Time is a ``FakeClock``: tests pass ``clock()`` as ``now`` and move it with ``advance``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.servers.backends import BACKENDS, storage_url
from tidings.clock import FakeClock
from tidings.models import Pool
from tidings.storage.base import (
    AOD,
    CLAIMS,
    DURABILITY,
    FIFO,
    HIGH_THROUGHPUT,
    Storage,
    storage_from_url,
)
from tidings.storage.pooled import PooledStorage, pooled_from_url

KNOWN_CAPABILITIES = frozenset({FIFO, CLAIMS, DURABILITY, AOD, HIGH_THROUGHPUT})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires(*capabilities): run only on storage drivers that declare all these capabilities",
    )


def _required_capabilities(node: pytest.Item) -> set[str]:
    required = {name for marker in node.iter_markers("requires") for name in marker.args}
    unknown = required - KNOWN_CAPABILITIES
    if unknown:
        pytest.fail(f"unknown capabilities in @pytest.mark.requires: {sorted(unknown)}")
    return required


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=[*BACKENDS, "pooled"])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    if request.param == "pooled":
        driver: Storage = pooled_from_url(storage_url(request, "sqlite-file"))
    else:
        driver = storage_from_url(storage_url(request, request.param))
    missing = _required_capabilities(request.node) - driver.capabilities
    if missing:
        pytest.skip(f"{request.param} lacks {', '.join(sorted(missing))}")
    await driver.open()
    try:
        if isinstance(driver, PooledStorage):
            await _add_pools(driver, request.getfixturevalue("tmp_path"))
        yield driver
    finally:
        await driver.close()


async def _add_pools(router: PooledStorage, directory: Path) -> None:
    """Two SQLite pools of equal weight beside the default store: queues land in either."""
    for name in ("left", "right"):
        await router.catalog.pool_put(Pool(name, f"sqlite:///{directory / name}.db", 1))
    router.invalidate()
