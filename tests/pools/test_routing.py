"""The router: where queues are placed, and every call for a queue reaching the store that holds
it, with pools on SQLite files beside a default SQLite store."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest

from tests.conftest import opened
from tests.messages import new
from tests.pools.conftest import add_pool, sqlite_pool
from tests.servers.backends import storage_url
from tests.servers.redis import free_port
from tidings import errors
from tidings.clock import FakeClock
from tidings.models import JSON, MessageFilter
from tidings.storage.base import Storage, outbox_queue, storage_from_url
from tidings.storage.pooled import PooledStorage, pooled_from_url

PROJECT = "project-a"


async def holds(url: str, queue: str, project: str = PROJECT) -> bool:
    async with opened(storage_from_url(url)) as driver:
        return await driver.queue_get_metadata(project, queue) is not None


async def bodies(storage: Storage, queue: str, now: float) -> list[JSON]:
    query = MessageFilter(client_id="reader", echo=True, include_claimed=True, limit=20)
    found, _ = await storage.messages_list(PROJECT, queue, query, now)
    return [message.body for message in found]


def test_every_call_of_the_contract_is_routed() -> None:
    """A method the contract gains with a default body would reach only the default store."""
    calls = {name for name, value in vars(Storage).items() if inspect.iscoroutinefunction(value)}

    assert calls - set(vars(PooledStorage)) == set()


# Placement


async def test_without_pools_every_queue_lives_in_the_default_storage(
    router: PooledStorage, clock: FakeClock
) -> None:
    await router.queue_create(PROJECT, "q", {"_flavor": "none-registered"}, clock())
    await router.messages_post(PROJECT, "lazy", new("hi"), clock())

    assert await router.catalog.placement_get(PROJECT, "q") is None
    assert await holds(router.default_url, "q")
    assert await holds(router.default_url, "lazy")


@pytest.mark.parametrize("backend", ["sqlite-file", "redis", "redis-cluster", "postgres", "swift"])
async def test_every_kind_of_store_can_be_a_pool(
    router: PooledStorage, clock: FakeClock, request: pytest.FixtureRequest, backend: str
) -> None:
    # Given a pool on a store of that kind
    url = storage_url(request, backend)
    await add_pool(router, "only", url)
    # When a queue is used through the router: post, claim, delete
    await router.messages_post(PROJECT, "orders", new("a", "b"), clock())
    claim = await router.claim_create(PROJECT, "orders", 60, 60, 1, clock())
    assert claim is not None
    [taken] = claim.messages
    await router.message_delete(PROJECT, "orders", taken.id, claim.id, clock())
    # Then the queue and what is left of it live in the pool
    assert await holds(url, "orders")
    async with opened(storage_from_url(url)) as pool:
        assert await bodies(pool, "orders", clock()) == [b for b in ["a", "b"] if b != taken.body]


async def test_a_pool_of_weight_zero_takes_no_new_queue(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    await add_pool(router, "one", sqlite_pool(tmp_path, "one"), weight=1)
    await add_pool(router, "zero", sqlite_pool(tmp_path, "zero"), weight=0)

    for number in range(20):
        await router.queue_create(PROJECT, f"q{number}", {}, clock())

    async with opened(storage_from_url(sqlite_pool(tmp_path, "one"))) as one:
        assert await one.queue_count(PROJECT) == 20
    assert await router.catalog.placements_in("zero", 10) == []


async def test_queues_spread_over_pools_by_weight(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    await add_pool(router, "light", sqlite_pool(tmp_path, "light"), weight=1)
    await add_pool(router, "heavy", sqlite_pool(tmp_path, "heavy"), weight=3)

    for number in range(400):
        await router.messages_post(PROJECT, f"q{number}", new(number), clock())

    async with opened(storage_from_url(sqlite_pool(tmp_path, "heavy"))) as heavy:
        share = await heavy.queue_count(PROJECT) / 400
    assert 0.6 < share < 0.9  # 0.75 expected; outside this band with odds below 1e-9
    assert await router.queue_count(PROJECT) == 400


async def test_a_flavor_pins_its_queues_to_its_pools(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    # Given a pool of flavor gold and a pool without a flavor
    await add_pool(router, "gold-1", sqlite_pool(tmp_path, "gold-1"), flavor="gold")
    await add_pool(router, "plain", sqlite_pool(tmp_path, "plain"))
    await router.catalog.flavor_put("gold", ["gold-1"])

    # When queues are created with and without the flavor
    for number in range(10):
        await router.queue_create(PROJECT, f"g{number}", {"_flavor": "gold"}, clock())
        await router.queue_create(PROJECT, f"p{number}", {}, clock())

    # Then each went to its pools
    placed = sorted(await router.catalog.placements_in("gold-1", 100))
    assert placed == sorted((PROJECT, f"g{number}") for number in range(10))
    assert len(await router.catalog.placements_in("plain", 100)) == 10


async def test_an_unknown_flavor_is_refused(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    await add_pool(router, "plain", sqlite_pool(tmp_path, "plain"))

    with pytest.raises(errors.InvalidRequest, match="Flavor bronze does not exist"):
        await router.queue_create(PROJECT, "q", {"_flavor": "bronze"}, clock())
    assert await router.catalog.placement_get(PROJECT, "q") is None


async def test_with_only_flavored_pools_plain_queues_stay_in_the_default_storage(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    await add_pool(router, "gold-1", sqlite_pool(tmp_path, "gold-1"), flavor="gold")
    await router.catalog.flavor_put("gold", ["gold-1"])

    await router.queue_create(PROJECT, "plain", {}, clock())

    assert await holds(router.default_url, "plain")


async def test_queues_from_before_the_pools_stay_where_they_are(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    # Given a queue holding a message, then a pool
    await router.messages_post(PROJECT, "old", new("before"), clock())
    await add_pool(router, "new", sqlite_pool(tmp_path, "new"))

    # When it is written again
    await router.messages_post(PROJECT, "old", new("after"), clock())

    # Then it is still whole in the default storage
    assert await bodies(router, "old", clock()) == ["before", "after"]
    assert await router.catalog.placement_get(PROJECT, "old") is None


async def test_an_outbox_lives_with_its_queue(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    await add_pool(router, "a", sqlite_pool(tmp_path, "a"))
    outbox = outbox_queue("q")

    await router.messages_post(PROJECT, "q", new("m"), clock(), [(outbox, new({"job": 1}))])

    async with opened(storage_from_url(sqlite_pool(tmp_path, "a"))) as pool:
        assert await bodies(pool, outbox, clock()) == [{"job": 1}]
    assert await router.outboxes(clock()) == [(PROJECT, outbox)]
    claim = await router.claim_create(PROJECT, outbox, 60, 60, 10, clock())
    assert claim is not None
    assert [message.body for message in claim.messages] == [{"job": 1}]


# Calls that span pools


async def test_listing_pages_through_every_pool_by_name(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    # Given queues in the default storage and in two pools
    names = [f"q{number:02}" for number in range(20)]
    for name in names[:4]:
        await router.queue_create(PROJECT, name, {}, clock())
    await add_pool(router, "a", sqlite_pool(tmp_path, "a"))
    await add_pool(router, "b", sqlite_pool(tmp_path, "b"))
    for name in names[4:]:
        await router.queue_create(PROJECT, name, {"n": name}, clock())

    # When they are listed page by page
    listed: list[str] = []
    marker = None
    while page := await router.queue_list(PROJECT, marker, 3):
        listed += [record.name for record in page]
        marker = page[-1].name

    # Then each comes once, in order
    assert listed == names
    assert await router.queue_count(PROJECT) == 20
    assert (await router.queue_list(PROJECT, "q10", 1))[0].metadata == {"n": "q11"}


async def test_gc_runs_on_every_pool(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    await router.messages_post(PROJECT, "old", new("x", ttl=60), clock())
    await add_pool(router, "a", sqlite_pool(tmp_path, "a"))
    await router.messages_post(PROJECT, "new", new("y", ttl=60), clock())

    assert await router.gc(clock() + 3600) >= 2


# Dead letters and fan-out


async def test_a_dead_letter_queue_is_made_in_its_source_pool(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    await add_pool(router, "a", sqlite_pool(tmp_path, "a"))
    await add_pool(router, "b", sqlite_pool(tmp_path, "b"))
    ids = await router.messages_post(PROJECT, "source", new("spent"), clock())

    await router.messages_move(PROJECT, "source", ids, "dead", None, clock())

    source = await router.catalog.placement_get(PROJECT, "source")
    assert await router.catalog.placement_get(PROJECT, "dead") == source
    assert await bodies(router, "dead", clock()) == ["spent"]
    assert await bodies(router, "source", clock()) == []


async def test_messages_move_to_a_queue_in_another_pool(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    # Given a source in pool a and a dead-letter queue already in pool b
    await add_pool(router, "a", sqlite_pool(tmp_path, "a"))
    await add_pool(router, "b", sqlite_pool(tmp_path, "b"), weight=0)
    await router.catalog.placement_add(PROJECT, "dead", "b")
    ids = await router.messages_post(PROJECT, "source", new("spent", "kept"), clock())
    claim = await router.claim_create(PROJECT, "source", 60, 60, 1, clock())
    assert claim is not None

    # When the claimed one moves
    await router.messages_move(PROJECT, "source", ids[:1], "dead", 600, clock())

    # Then it is in b, whole and unclaimed, with its new lifetime, and gone from a
    moved = await router.messages_get(PROJECT, "dead", ids[:1], clock())
    assert [(m.id, m.body, m.ttl, m.claim_id) for m in moved] == [(ids[0], "spent", 600, None)]
    assert await bodies(router, "source", clock()) == ["kept"]
    async with opened(storage_from_url(sqlite_pool(tmp_path, "b"))) as b:
        assert await bodies(b, "dead", clock()) == ["spent"]


async def test_a_fan_out_reaches_a_queue_in_another_pool(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    await add_pool(router, "a", sqlite_pool(tmp_path, "a"))
    await add_pool(router, "b", sqlite_pool(tmp_path, "b"), weight=0)
    await router.catalog.placement_add(PROJECT, "sink", "b")

    await router.messages_post(PROJECT, "source", new("m"), clock(), [("sink", new("copy"))])

    assert await bodies(router, "sink", clock()) == ["copy"]
    assert await bodies(router, "source", clock()) == ["m"]


# Deleting queues and pools


async def test_a_deleted_queue_leaves_its_pool(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    await add_pool(router, "a", sqlite_pool(tmp_path, "a"))
    await router.queue_create(PROJECT, "q", {}, clock())

    await router.queue_delete(PROJECT, "q")

    assert await router.catalog.placement_get(PROJECT, "q") is None


async def test_a_deleted_queue_with_subscriptions_keeps_its_place(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    await add_pool(router, "a", sqlite_pool(tmp_path, "a"))
    await router.queue_create(PROJECT, "q", {}, clock())
    await router.subscription_create(PROJECT, "q", "http://x", 600, {}, "s", clock())

    await router.queue_delete(PROJECT, "q")

    assert await router.catalog.placement_get(PROJECT, "q") == "a"
    assert len(await router.subscribers(PROJECT, "q", clock())) == 1


async def test_a_pool_holding_a_queue_is_not_released(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    await add_pool(router, "a", sqlite_pool(tmp_path, "a"))
    await router.queue_create(PROJECT, "q", {}, clock())

    with pytest.raises(errors.PoolInUse, match="still holds queues"):
        await router.release("a")


async def test_releasing_a_pool_forgets_placements_of_queues_gone(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    # Given a placement whose queue is not in the pool (its creation failed half-way)
    await add_pool(router, "a", sqlite_pool(tmp_path, "a"))
    await router.catalog.placement_add(PROJECT, "ghost", "a")

    await router.release("a")

    assert await router.catalog.placements_in("a", 10) == []
    await router.catalog.pool_delete("a")


# A pool that cannot be reached


async def test_a_pool_down_fails_only_its_queues(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    # Given a queue in a working pool and one in a pool nobody answers for
    await add_pool(router, "up", sqlite_pool(tmp_path, "up"))
    await add_pool(router, "down", f"redis://127.0.0.1:{free_port()}/0", weight=0)
    await router.catalog.placement_add(PROJECT, "lost", "down")
    await router.messages_post(PROJECT, "fine", new("ok"), clock())

    # Then calls for the lost queue fail as unavailable, the others work
    with pytest.raises(errors.StorageUnavailable):
        await router.messages_post(PROJECT, "lost", new("no"), clock())
    with pytest.raises(errors.StorageUnavailable):
        await router.queue_list(PROJECT, None, 10)
    assert await bodies(router, "fine", clock()) == ["ok"]

    # And background work goes on where it can, and health names the pool
    assert await router.outboxes(clock()) == []
    assert await router.gc(clock()) == 0
    assert await router.health() == {"down": False, "up": True}


# Caches of several processes


async def test_another_process_sees_pool_changes_within_the_refresh(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    # Given a second router on the same default storage, that checked the catalog just now
    other = pooled_from_url(router.default_url, refresh=0.2)
    await other.open()
    try:
        await other.queue_create(PROJECT, "before", {}, clock())

        # When a pool is added through the first one
        await add_pool(router, "a", sqlite_pool(tmp_path, "a"))

        # Then the second one places new queues in it once its refresh has passed
        await asyncio.sleep(0.3)
        await other.queue_create(PROJECT, "after", {}, clock())
        assert await router.catalog.placement_get(PROJECT, "after") == "a"
    finally:
        await other.close()


async def test_a_queue_deleted_elsewhere_is_found_again_where_it_is_recreated(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    # Given a second router that knows where a queue lives
    await add_pool(router, "a", sqlite_pool(tmp_path, "a"))
    await add_pool(router, "b", sqlite_pool(tmp_path, "b"), weight=0)
    other = pooled_from_url(router.default_url, refresh=0.2)
    await other.open()
    try:
        await router.messages_post(PROJECT, "q", new("first"), clock())
        assert await bodies(other, "q", clock()) == ["first"]

        # When the first router deletes it and it comes back in another pool
        await router.queue_delete(PROJECT, "q")
        await router.catalog.placement_add(PROJECT, "q", "b")
        await router.messages_post(PROJECT, "q", new("second"), clock())

        # Then the second router finds it there once its refresh has passed
        await asyncio.sleep(0.3)
        assert await bodies(other, "q", clock()) == ["second"]
    finally:
        await other.close()


# Waiting


async def test_a_watch_wakes_on_a_post_in_the_pool(
    router: PooledStorage, clock: FakeClock, tmp_path: Path
) -> None:
    await add_pool(router, "a", sqlite_pool(tmp_path, "a"))
    await router.queue_create(PROJECT, "q", {}, clock())
    slow = pooled_from_url(router.default_url, refresh=60)
    await slow.open()
    try:
        assert await slow.watch(PROJECT, "q", 5) is True  # learnt where q is: look again
        watch = asyncio.ensure_future(slow.watch(PROJECT, "q", 5))
        await asyncio.sleep(0)
        await router.messages_post(PROJECT, "q", new("m"), clock())

        assert await asyncio.wait_for(watch, 3) is True
    finally:
        await slow.close()
