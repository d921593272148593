"""Fixtures of the pool tests: a catalog on each management store, and a router over a default
store with pools added as the tests need them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.servers.backends import storage_url
from tidings.models import Pool
from tidings.storage.base import storage_from_url
from tidings.storage.catalog import Catalog, catalog_from_url
from tidings.storage.pooled import PooledStorage, pooled_from_url

CATALOG_BACKENDS = ("sqlite", "redis", "redis-cluster", "postgres", "swift")
"""The management stores (each default storage keeps its catalog)."""


@pytest.fixture(params=CATALOG_BACKENDS)
async def catalog(request: pytest.FixtureRequest) -> AsyncIterator[Catalog]:
    """An empty, opened catalog on each management store."""
    url = storage_url(request, request.param)
    await storage_from_url(url).migrate()  # PostgreSQL: the catalog tables come with the schema
    opened = catalog_from_url(url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def router(tmp_path: Path) -> AsyncIterator[PooledStorage]:
    """A default store (a SQLite file) with no pool yet; the catalog is read at every call."""
    storage = pooled_from_url(f"sqlite:///{tmp_path / 'default.db'}", refresh=1e-9)
    await storage.open()
    try:
        yield storage
    finally:
        await storage.close()


async def add_pool(
    router: PooledStorage, name: str, uri: str, weight: int = 1, flavor: str | None = None
) -> Pool:
    """Register a pool straight in the router's catalog."""
    pool = Pool(name, uri, weight, flavor)
    await router.catalog.pool_put(pool)
    return pool


def sqlite_pool(tmp_path: Path, name: str) -> str:
    """The URL of a SQLite file pool of its own."""
    return f"sqlite:///{tmp_path / name}.db"
