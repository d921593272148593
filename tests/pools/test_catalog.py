"""The catalog contract, on every management store: pools, flavors, placements, version."""

from __future__ import annotations

import dataclasses

import pytest

from tidings import errors
from tidings.models import Flavor, Pool
from tidings.storage.catalog import Catalog

REDIS = Pool("fast", "redis://127.0.0.1:6379/0", 100, None, {"note": [1, {"deep": True}]})
FILE = Pool("file", "sqlite:///pool.db", 0)


async def test_a_pool_is_registered_read_and_replaced(catalog: Catalog) -> None:
    assert await catalog.pool_put(REDIS) is True
    assert await catalog.pool_get("fast") == REDIS

    heavier = Pool("fast", REDIS.uri, 200)
    assert await catalog.pool_put(heavier) is False
    assert await catalog.pool_get("fast") == heavier
    assert await catalog.pool_get("nowhere") is None


async def test_pools_are_listed_by_name_after_the_marker(catalog: Catalog) -> None:
    for name in ("c", "a", "b", "d"):
        await catalog.pool_put(Pool(name, f"sqlite:///{name}.db", 1))

    assert [pool.name for pool in await catalog.pool_list(None, None)] == ["a", "b", "c", "d"]
    assert [pool.name for pool in await catalog.pool_list(None, 2)] == ["a", "b"]
    assert [pool.name for pool in await catalog.pool_list("b", 10)] == ["c", "d"]


async def test_a_flavor_gathers_its_pools(catalog: Catalog) -> None:
    for pool in (REDIS, FILE, Pool("other", "sqlite:///other.db", 1)):
        await catalog.pool_put(pool)

    assert await catalog.flavor_put("gold", ["fast", "file"]) is True

    assert await catalog.flavor_get("gold") == Flavor("gold", ("fast", "file"))
    assert await catalog.pool_get("fast") == dataclasses.replace(REDIS, flavor="gold")
    assert await catalog.pool_get("other") == Pool("other", "sqlite:///other.db", 1)


async def test_redefining_a_flavor_lets_the_unnamed_pools_go(catalog: Catalog) -> None:
    await catalog.pool_put(REDIS)
    await catalog.pool_put(FILE)
    await catalog.flavor_put("gold", ["fast", "file"])

    assert await catalog.flavor_put("gold", ["file"]) is False

    assert await catalog.flavor_get("gold") == Flavor("gold", ("file",))
    assert await catalog.pool_get("fast") == REDIS


async def test_deleting_a_flavor_keeps_its_pools(catalog: Catalog) -> None:
    await catalog.pool_put(REDIS)
    await catalog.flavor_put("gold", ["fast"])

    await catalog.flavor_delete("gold")
    await catalog.flavor_delete("never-was")

    assert await catalog.flavor_get("gold") is None
    assert await catalog.pool_get("fast") == REDIS


async def test_flavors_are_listed_by_name_after_the_marker(catalog: Catalog) -> None:
    await catalog.pool_put(REDIS)
    for name in ("silver", "bronze", "gold"):
        await catalog.flavor_put(name, ["fast"] if name == "gold" else [])

    listed = await catalog.flavor_list(None, None)
    assert listed == [Flavor("bronze"), Flavor("gold", ("fast",)), Flavor("silver")]
    assert [flavor.name for flavor in await catalog.flavor_list("bronze", 1)] == ["gold"]


async def test_a_queue_is_placed_once(catalog: Catalog) -> None:
    await catalog.pool_put(REDIS)
    await catalog.pool_put(FILE)

    assert await catalog.placement_get("p", "q") is None
    assert await catalog.placement_add("p", "q", "fast") == "fast"
    assert await catalog.placement_add("p", "q", "file") == "fast"
    assert await catalog.placement_get("p", "q") == "fast"
    assert await catalog.placement_get("other-project", "q") is None


async def test_a_queue_is_not_placed_in_an_unknown_pool(catalog: Catalog) -> None:
    assert await catalog.placement_add("p", "q", "nowhere") is None
    assert await catalog.placement_get("p", "q") is None


async def test_a_pool_holding_queues_is_not_deleted(catalog: Catalog) -> None:
    # Given a pool holding a queue
    await catalog.pool_put(REDIS)
    await catalog.placement_add("p\n#topics", "q", "fast")

    # Then it stays
    with pytest.raises(errors.PoolInUse):
        await catalog.pool_delete("fast")
    assert await catalog.pool_get("fast") == REDIS
    assert await catalog.placements_in("fast", 10) == [("p\n#topics", "q")]

    # Until the queue is gone
    await catalog.placement_remove("p\n#topics", "q")
    assert await catalog.placements_in("fast", 10) == []
    await catalog.pool_delete("fast")
    assert await catalog.pool_get("fast") is None
    await catalog.pool_delete("fast")


async def test_placements_in_a_pool_come_by_pages(catalog: Catalog) -> None:
    await catalog.pool_put(REDIS)
    await catalog.pool_put(FILE)
    for number in range(5):
        await catalog.placement_add("p", f"q{number}", "fast")
    await catalog.placement_add("p", "elsewhere", "file")

    assert len(await catalog.placements_in("fast", 3)) == 3
    assert sorted(await catalog.placements_in("fast", 10)) == [("p", f"q{n}") for n in range(5)]


async def test_the_version_changes_with_pools_flavors_and_removed_placements(
    catalog: Catalog,
) -> None:
    seen = [await catalog.version()]

    async def changed() -> bool:
        seen.append(await catalog.version())
        return seen[-1] != seen[-2]

    await catalog.pool_put(REDIS)
    assert await changed()
    await catalog.flavor_put("gold", ["fast"])
    assert await changed()
    await catalog.placement_add("p", "q", "fast")
    assert not await changed()
    await catalog.placement_remove("p", "q")
    assert await changed()
    await catalog.flavor_delete("gold")
    assert await changed()
    await catalog.pool_delete("fast")
    assert await changed()
