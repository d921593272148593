"""The pool catalog in PostgreSQL: the ``catalog_*`` tables of the default store's database
(created by its migrations, ``postgres_migrations/0004_pool_catalog.sql``), on a small asyncpg
pool of its own.

A placement and the removal of its pool cannot cross: placing takes a share lock on the pool's
row, and deleting a pool takes an update lock on it before it looks for placements.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import orjson

from tidings import errors
from tidings.models import Flavor, Pool
from tidings.storage.catalog import Catalog
from tidings.storage.postgres import (
    ACQUIRE_TIMEOUT,
    CLOSE_TIMEOUT,
    COMMAND_TIMEOUT,
    UNAVAILABLE,
    split_pool_size,
    translated,
)

Record = Any
CATALOG = "The PostgreSQL catalog"

VERSION = "SELECT coalesce((SELECT version FROM catalog_version), 0)"
BUMP = """
INSERT INTO catalog_version VALUES (1, 1)
ON CONFLICT (one) DO UPDATE SET version = catalog_version.version + 1
"""
POOL_COLUMNS = "name, uri, weight, flavor, options"
POOL_PUT = f"""
INSERT INTO catalog_pools ({POOL_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (name) DO UPDATE SET uri = excluded.uri, weight = excluded.weight,
    flavor = excluded.flavor, options = excluded.options
RETURNING xmax = 0 AS created
"""
POOL_LIST = f"""
SELECT {POOL_COLUMNS} FROM catalog_pools WHERE name > $1 ORDER BY name LIMIT $2
"""
FLAVORS = """
SELECT f.name, coalesce(array_agg(p.name ORDER BY p.name) FILTER (WHERE p.name IS NOT NULL),
                        '{}') AS pools
FROM catalog_flavors f LEFT JOIN catalog_pools p ON p.flavor = f.name
"""
FLAVOR_LIST = f"{FLAVORS} WHERE f.name > $1 GROUP BY f.name ORDER BY f.name LIMIT $2"
FLAVOR_GET = f"{FLAVORS} WHERE f.name = $1 GROUP BY f.name"
PLACEMENT_GET = "SELECT pool FROM catalog_placements WHERE project = $1 AND queue = $2"
PLACEMENT_ADD = """
INSERT INTO catalog_placements (project, queue, pool)
SELECT $1, $2, name FROM catalog_pools WHERE name = $3 FOR SHARE
ON CONFLICT DO NOTHING
"""


def from_url(url: str) -> PostgresCatalog:
    """The catalog in the default store's database; the store's ``pool_size`` is the store's
    alone (the catalog keeps a small pool of its own)."""
    connect_to, _ = split_pool_size(url)
    return PostgresCatalog(connect_to)


def _pool(row: Record) -> Pool:
    return Pool(row["name"], row["uri"], row["weight"], row["flavor"], orjson.loads(row["options"]))


def _flavor(row: Record) -> Flavor:
    return Flavor(row["name"], tuple(row["pools"]))


class PostgresCatalog(Catalog):
    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: Any = None

    async def open(self) -> None:
        with translated(CATALOG):
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=4,
                timeout=ACQUIRE_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT,
            )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
        except (*UNAVAILABLE, asyncpg.PostgresError):
            pool.terminate()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        if self._pool is None:
            raise errors.StorageUnavailable("The PostgreSQL catalog is not open.")
        with translated(CATALOG):
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as connection:
                yield connection

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        async with self._connection() as connection, connection.transaction():
            yield connection

    async def _fetch(self, sql: str, *args: object) -> list[Record]:
        async with self._connection() as connection:
            rows: list[Record] = await connection.fetch(sql, *args)
            return rows

    async def version(self) -> int:
        rows = await self._fetch(VERSION)
        return int(rows[0][0])

    # Pools

    async def pool_put(self, pool: Pool) -> bool:
        options = orjson.dumps(pool.options).decode()
        async with self._transaction() as connection:
            created: bool = await connection.fetchval(
                POOL_PUT, pool.name, pool.uri, pool.weight, pool.flavor, options
            )
            await connection.execute(BUMP)
        return created

    async def pool_get(self, name: str) -> Pool | None:
        rows = await self._fetch(f"SELECT {POOL_COLUMNS} FROM catalog_pools WHERE name = $1", name)
        return _pool(rows[0]) if rows else None

    async def pool_list(self, marker: str | None, limit: int | None) -> list[Pool]:
        return [_pool(row) for row in await self._fetch(POOL_LIST, marker or "", limit)]

    async def pool_delete(self, name: str) -> None:
        async with self._transaction() as connection:
            if not await connection.fetch(
                "SELECT 1 FROM catalog_pools WHERE name = $1 FOR UPDATE", name
            ):
                return
            if await connection.fetch(
                "SELECT 1 FROM catalog_placements WHERE pool = $1 LIMIT 1", name
            ):
                raise errors.PoolInUse(f"Pool {name} still holds queues; it cannot be deleted.")
            await connection.execute("DELETE FROM catalog_pools WHERE name = $1", name)
            await connection.execute(BUMP)

    # Flavors

    async def flavor_put(self, name: str, pools: Sequence[str]) -> bool:
        members = list(pools)
        async with self._transaction() as connection:
            created = await connection.fetch(
                "INSERT INTO catalog_flavors VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1", name
            )
            await connection.execute(
                "UPDATE catalog_pools SET flavor = NULL"
                " WHERE flavor = $1 AND NOT (name = ANY($2::text[]))",
                name,
                members,
            )
            await connection.execute(
                "UPDATE catalog_pools SET flavor = $1 WHERE name = ANY($2::text[])", name, members
            )
            await connection.execute(BUMP)
        return bool(created)

    async def flavor_get(self, name: str) -> Flavor | None:
        rows = await self._fetch(FLAVOR_GET, name)
        return _flavor(rows[0]) if rows else None

    async def flavor_list(self, marker: str | None, limit: int | None) -> list[Flavor]:
        return [_flavor(row) for row in await self._fetch(FLAVOR_LIST, marker or "", limit)]

    async def flavor_delete(self, name: str) -> None:
        async with self._transaction() as connection:
            await connection.execute(
                "UPDATE catalog_pools SET flavor = NULL WHERE flavor = $1", name
            )
            deleted = await connection.fetch(
                "DELETE FROM catalog_flavors WHERE name = $1 RETURNING 1", name
            )
            if deleted:
                await connection.execute(BUMP)

    # Placements

    async def placement_get(self, project: str, queue: str) -> str | None:
        rows = await self._fetch(PLACEMENT_GET, project, queue)
        return str(rows[0]["pool"]) if rows else None

    async def placement_add(self, project: str, queue: str, pool: str) -> str | None:
        async with self._connection() as connection:
            await connection.execute(PLACEMENT_ADD, project, queue, pool)
            placed: str | None = await connection.fetchval(PLACEMENT_GET, project, queue)
        return placed

    async def placement_remove(self, project: str, queue: str) -> None:
        async with self._transaction() as connection:
            await connection.execute(
                "DELETE FROM catalog_placements WHERE project = $1 AND queue = $2", project, queue
            )
            await connection.execute(BUMP)

    async def placements_in(self, pool: str, limit: int) -> list[tuple[str, str]]:
        rows = await self._fetch(
            "SELECT project, queue FROM catalog_placements WHERE pool = $1 LIMIT $2", pool, limit
        )
        return [(row["project"], row["queue"]) for row in rows]
