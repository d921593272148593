"""The pool catalog in Swift: objects in the container ``N:catalog`` of the default store's
account (``N`` the store's prefix, ``P`` and ``Q`` named as in ``swift.py``)::

    version        a random number, rewritten by every change but an added placement
    pool/NAME      JSON {name, uri, weight, flavor, options}
    flavor/NAME    empty: the flavor exists
    place/P/Q      JSON {pool, project, queue}; its content type names the pool, for listings

Swift has no transactions: pool and flavor changes are last-writer-wins, which suits changes
made by an operator one at a time. Placing a queue is exclusive: the placer first creates the
container ``N:p:DIGEST`` of the (project, queue), which only one of concurrent creators can do,
so two nodes placing one new queue at once agree on its pool.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from urllib.parse import quote, unquote

import orjson

from tidings import errors
from tidings.models import Flavor, Pool
from tidings.storage.catalog import Catalog
from tidings.storage.swift import _digest, _escape, _gather, _params, _project_key
from tidings.storage.swift_client import Doc, SwiftClient, SwiftConfig, parse_url

VERSION = "version"
POOLS, FLAVORS, PLACEMENTS = "pool/", "flavor/", "place/"
PLACEMENT_TYPE = "application/x-tidings-placement"
PLACED_WAIT = 2.0
"""Seconds a node waits for the placement another node is writing."""


def from_url(url: str) -> SwiftCatalog:
    return SwiftCatalog(parse_url(url))


class SwiftCatalog(Catalog):
    def __init__(self, config: SwiftConfig) -> None:
        self._swift = SwiftClient(config)
        self._prefix = config.prefix
        self._container = f"{config.prefix}:catalog"

    async def open(self) -> None:
        await self._swift.open()

    async def _put(self, name: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        """Write an object, creating the catalog's container at the first write."""
        await self._swift.put_creating(self._container, name, body, headers or {})

    async def close(self) -> None:
        await self._swift.close()

    async def version(self) -> int:
        stored = await self._swift.get(self._container, VERSION)
        return 0 if stored is None else int(stored.text)

    async def _bump(self) -> None:
        version = str(random.getrandbits(53)).encode()
        await self._put(VERSION, version)

    async def _json(self, name: str) -> Doc | None:
        stored = await self._swift.get(self._container, name)
        return None if stored is None else dict(orjson.loads(stored.content))

    async def _names(self, prefix: str) -> list[str]:
        rows = await self._swift.listing(self._container, prefix=prefix) or []
        return [unquote(row["name"][len(prefix) :]) for row in rows]

    # Pools

    async def _put_pool(self, pool: Pool) -> None:
        name = POOLS + quote(pool.name, safe="")
        body = orjson.dumps({key: getattr(pool, key) for key in Pool.__dataclass_fields__})
        await self._put(name, body)

    async def pool_put(self, pool: Pool) -> bool:
        new = await self.pool_get(pool.name) is None
        await self._put_pool(pool)
        await self._bump()
        return new

    async def pool_get(self, name: str) -> Pool | None:
        doc = await self._json(POOLS + quote(name, safe=""))
        return None if doc is None else Pool(**doc)

    async def _pools(self) -> list[Pool]:
        found = await _gather(self.pool_get(name) for name in await self._names(POOLS))
        return sorted((pool for pool in found if pool is not None), key=lambda pool: pool.name)

    async def pool_list(self, marker: str | None, limit: int | None) -> list[Pool]:
        pools = [pool for pool in await self._pools() if marker is None or pool.name > marker]
        return pools if limit is None else pools[:limit]

    async def pool_delete(self, name: str) -> None:
        if await self.placements_in(name, 1):
            raise errors.PoolInUse()
        await self._swift.delete(self._container, POOLS + quote(name, safe=""))
        await self._bump()

    # Flavors

    async def flavor_put(self, name: str, pools: Sequence[str]) -> bool:
        new = await self.flavor_get(name) is None
        await self._put(FLAVORS + quote(name, safe=""), b"")
        changed = [
            Pool(pool.name, pool.uri, pool.weight, name if joins else None, pool.options)
            for pool in await self._pools()
            if (joins := pool.name in pools) != (pool.flavor == name)
        ]
        await _gather(self._put_pool(pool) for pool in changed)
        await self._bump()
        return new

    async def flavor_get(self, name: str) -> Flavor | None:
        if not await self._swift.exists(self._container, FLAVORS + quote(name, safe="")):
            return None
        members = [pool.name for pool in await self._pools() if pool.flavor == name]
        return Flavor(name, tuple(members))

    async def flavor_list(self, marker: str | None, limit: int | None) -> list[Flavor]:
        names = sorted(
            name for name in await self._names(FLAVORS) if marker is None or name > marker
        )
        pools = await self._pools()
        flavors = [
            Flavor(name, tuple(pool.name for pool in pools if pool.flavor == name))
            for name in names
        ]
        return flavors if limit is None else flavors[:limit]

    async def flavor_delete(self, name: str) -> None:
        leaving = [pool for pool in await self._pools() if pool.flavor == name]
        await _gather(
            self._put_pool(Pool(pool.name, pool.uri, pool.weight, None, pool.options))
            for pool in leaving
        )
        await self._swift.delete(self._container, FLAVORS + quote(name, safe=""))
        await self._bump()

    # Placements

    def _placement(self, project: str, queue: str) -> str:
        return f"{PLACEMENTS}{_project_key(project)}/{_escape(queue)}"

    def _claim(self, project: str, queue: str) -> str:
        return f"{self._prefix}:p:{_digest(project, queue)}"

    async def placement_get(self, project: str, queue: str) -> str | None:
        doc = await self._json(self._placement(project, queue))
        return None if doc is None else str(doc["pool"])

    async def placement_add(self, project: str, queue: str, pool: str) -> str | None:
        if await self.pool_get(pool) is None:
            return None
        if await self._swift.create(self._claim(project, queue)):
            body = orjson.dumps({"pool": pool, "project": project, "queue": queue})
            headers = {"Content-Type": f"{PLACEMENT_TYPE};pool={quote(pool, safe='')}"}
            await self._put(self._placement(project, queue), body, headers)
            return pool
        return await self._placed(project, queue)

    async def _placed(self, project: str, queue: str) -> str:
        """The pool another node placed the queue in, once it has written it down."""
        for _ in range(int(PLACED_WAIT / 0.05)):
            placed = await self.placement_get(project, queue)
            if placed is not None:
                return placed
            await asyncio.sleep(0.05)
        raise errors.StorageUnavailable("The queue is being placed in a pool; try again.")

    async def placement_remove(self, project: str, queue: str) -> None:
        await self._swift.delete(self._container, self._placement(project, queue))
        await self._swift.delete(self._claim(project, queue))
        await self._bump()

    async def placements_in(self, pool: str, limit: int) -> list[tuple[str, str]]:
        rows = await self._swift.listing(self._container, prefix=PLACEMENTS) or []
        wanted = quote(pool, safe="")
        names = [
            row["name"]
            for row in rows
            if _params(row.get("content_type", "")).get("pool") == wanted
        ][:limit]
        docs = await _gather(self._json(name) for name in names)
        return [(doc["project"], doc["queue"]) for doc in docs if doc is not None]
