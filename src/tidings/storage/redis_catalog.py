"""The pool catalog in Redis (or a Redis Cluster): a few keys sharing one hash tag, so every
change is one Lua script on one node, atomic like the SQL catalogs' transactions::

    c:{catalog}:version       string  bumped by every change but an added placement
    c:{catalog}:pools         hash    pool name -> JSON {uri, weight, options}
    c:{catalog}:pool-flavor   hash    pool name -> its flavor
    c:{catalog}:flavors       set     flavor names
    c:{catalog}:placements    hash    project + LF + queue -> pool name
    c:{catalog}:counts        hash    pool name -> how many placements name it

(A project id never holds a line feed, a queue name never does either.) Pools and flavors are
few, so listings read them whole and sort them here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import orjson
from redis.commands.core import AsyncScript

from tidings import errors
from tidings.models import Flavor, Pool
from tidings.storage.catalog import Catalog
from tidings.storage.redis import DEADLINE, Client, _connect, _translated, parse_url

T = TypeVar("T")

PREFIX = "c:{catalog}:"
VERSION = PREFIX + "version"
POOLS = PREFIX + "pools"
POOL_FLAVOR = PREFIX + "pool-flavor"
FLAVORS = PREFIX + "flavors"
PLACEMENTS = PREFIX + "placements"
COUNTS = PREFIX + "counts"

POOL_PUT = """
local new = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '' then
    redis.call('HDEL', KEYS[2], ARGV[1])
else
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
end
redis.call('INCR', KEYS[3])
return new and 1 or 0
"""
POOL_DELETE = """
if tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0') > 0 then return -1 end
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
    redis.call('HDEL', KEYS[2], ARGV[1])
    redis.call('HDEL', KEYS[4], ARGV[1])
    redis.call('INCR', KEYS[3])
end
return 0
"""
FLAVOR_PUT = """
local new = redis.call('SADD', KEYS[1], ARGV[1])
local members = {}
for i = 2, #ARGV do members[ARGV[i]] = true end
local current = redis.call('HGETALL', KEYS[2])
for i = 1, #current, 2 do
    if current[i + 1] == ARGV[1] and not members[current[i]] then
        redis.call('HDEL', KEYS[2], current[i])
    end
end
for i = 2, #ARGV do redis.call('HSET', KEYS[2], ARGV[i], ARGV[1]) end
redis.call('INCR', KEYS[3])
return new
"""
FLAVOR_DELETE = """
local current = redis.call('HGETALL', KEYS[2])
for i = 1, #current, 2 do
    if current[i + 1] == ARGV[1] then redis.call('HDEL', KEYS[2], current[i]) end
end
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 then redis.call('INCR', KEYS[3]) end
return 0
"""
PLACEMENT_ADD = """
local placed = redis.call('HGET', KEYS[1], ARGV[1])
if placed then return placed end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then return false end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
return ARGV[2]
"""
PLACEMENT_REMOVE = """
local pool = redis.call('HGET', KEYS[1], ARGV[1])
if pool then
    redis.call('HDEL', KEYS[1], ARGV[1])
    redis.call('HINCRBY', KEYS[2], pool, -1)
end
redis.call('INCR', KEYS[3])
return 0
"""
SCRIPTS = {
    "pool_put": POOL_PUT,
    "pool_delete": POOL_DELETE,
    "flavor_put": FLAVOR_PUT,
    "flavor_delete": FLAVOR_DELETE,
    "placement_add": PLACEMENT_ADD,
    "placement_remove": PLACEMENT_REMOVE,
}


def from_url(url: str) -> RedisCatalog:
    return RedisCatalog(url)


def _member(project: str, queue: str) -> str:
    return f"{project}\n{queue}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _page(names: list[str], marker: str | None, limit: int | None) -> list[str]:
    after = sorted(name for name in names if name > (marker or ""))
    return after if limit is None else after[:limit]


class RedisCatalog(Catalog):
    def __init__(self, url: str) -> None:
        self.address = parse_url(url)
        self._redis: Client | None = None
        self._scripts: dict[str, AsyncScript] = {}

    async def open(self) -> None:
        self._redis = _connect(self.address)
        self._scripts = {
            name: self._redis.register_script(source) for name, source in SCRIPTS.items()
        }

    async def close(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    @property
    def _client(self) -> Client:
        if self._redis is None:
            raise errors.StorageUnavailable("The Redis catalog is closed.")
        return self._redis

    async def _call(self, awaitable: Awaitable[T]) -> T:
        with _translated():
            async with asyncio.timeout(DEADLINE):
                return await awaitable

    async def _script(self, name: str, keys: list[str], *args: str) -> Any:
        return await self._call(self._scripts[name](keys=keys, args=list(args)))

    async def version(self) -> int:
        return int(await self._call(self._client.get(VERSION)) or 0)

    # Pools

    async def pool_put(self, pool: Pool) -> bool:
        record = orjson.dumps({"uri": pool.uri, "weight": pool.weight, "options": pool.options})
        keys = [POOLS, POOL_FLAVOR, VERSION]
        return bool(
            await self._script("pool_put", keys, pool.name, record.decode(), pool.flavor or "")
        )

    async def pool_get(self, name: str) -> Pool | None:
        record, flavor = await self._call(
            asyncio.gather(self._client.hget(POOLS, name), self._client.hget(POOL_FLAVOR, name))
        )
        return None if record is None else _pool(name, record, flavor)

    async def pool_list(self, marker: str | None, limit: int | None) -> list[Pool]:
        records, flavors = await self._call(
            asyncio.gather(self._client.hgetall(POOLS), self._client.hgetall(POOL_FLAVOR))
        )
        by_name = {_text(name): record for name, record in records.items()}
        flavor_of = {_text(name): flavor for name, flavor in flavors.items()}
        return [
            _pool(name, by_name[name], flavor_of.get(name))
            for name in _page(list(by_name), marker, limit)
        ]

    async def pool_delete(self, name: str) -> None:
        keys = [POOLS, POOL_FLAVOR, VERSION, COUNTS]
        if await self._script("pool_delete", keys, name) == -1:
            raise errors.PoolInUse(f"Pool {name} still holds queues; it cannot be deleted.")

    # Flavors

    async def flavor_put(self, name: str, pools: Sequence[str]) -> bool:
        keys = [FLAVORS, POOL_FLAVOR, VERSION]
        return bool(await self._script("flavor_put", keys, name, *pools))

    async def flavor_get(self, name: str) -> Flavor | None:
        found = [flavor for flavor in await self.flavor_list(None, None) if flavor.name == name]
        return found[0] if found else None

    async def flavor_list(self, marker: str | None, limit: int | None) -> list[Flavor]:
        names, flavors = await self._call(
            asyncio.gather(self._client.smembers(FLAVORS), self._client.hgetall(POOL_FLAVOR))
        )
        members = sorted((_text(flavor), _text(pool)) for pool, flavor in flavors.items())
        return [
            Flavor(name, tuple(pool for flavor, pool in members if flavor == name))
            for name in _page([_text(name) for name in names], marker, limit)
        ]

    async def flavor_delete(self, name: str) -> None:
        await self._script("flavor_delete", [FLAVORS, POOL_FLAVOR, VERSION], name)

    # Placements

    async def placement_get(self, project: str, queue: str) -> str | None:
        pool = await self._call(self._client.hget(PLACEMENTS, _member(project, queue)))
        return None if pool is None else _text(pool)

    async def placement_add(self, project: str, queue: str, pool: str) -> str | None:
        keys = [PLACEMENTS, POOLS, COUNTS]
        placed = await self._script("placement_add", keys, _member(project, queue), pool)
        return None if placed is None else _text(placed)

    async def placement_remove(self, project: str, queue: str) -> None:
        keys = [PLACEMENTS, COUNTS, VERSION]
        await self._script("placement_remove", keys, _member(project, queue))

    async def placements_in(self, pool: str, limit: int) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        with _translated():
            async for member, placed in self._client.hscan_iter(PLACEMENTS):
                if _text(placed) == pool:
                    project, _, queue = _text(member).rpartition("\n")
                    found.append((project, queue))
                    if len(found) == limit:
                        break
        return found


def _pool(name: str, record: bytes | str, flavor: bytes | str | None) -> Pool:
    fields = orjson.loads(record)
    return Pool(
        name,
        fields["uri"],
        fields["weight"],
        None if flavor is None else _text(flavor),
        fields["options"],
    )
