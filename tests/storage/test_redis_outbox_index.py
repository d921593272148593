"""The Redis driver's outbox index and subscription sources: the slot rule of internal queues,
the guard that keeps a post and gc's pruning from losing an outbox, and gc's healing."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from tests.messages import new
from tidings.storage.base import outbox_queue, topic_space
from tidings.storage.redis import (
    OUTBOXES,
    SUBSCRIPTION_SOURCES,
    RedisStorage,
    _Keys,
    _member,
    _number,
    _text,
)

PROJECT = "project-a"
QUEUE = "fizbit"
OUTBOX = outbox_queue(QUEUE)
NOW = 1_700_000_000.0


async def members(redis_storage: RedisStorage, key: str) -> set[str]:
    return {_text(member) for member in await redis_storage._client.smembers(key)}


@pytest.mark.parametrize("project", [PROJECT, topic_space(PROJECT), "a/b{c}"])
@pytest.mark.parametrize("queue", [QUEUE, "q_1-2", "x"])
def test_an_internal_queue_shares_the_slot_of_its_queue_and_none_of_its_keys(
    project: str, queue: str
) -> None:
    plain, outbox = _Keys(project, queue), _Keys(project, outbox_queue(queue))

    assert key_slot(outbox.queue.encode()) == key_slot(plain.queue.encode())
    assert not set(outbox.keys) & set(plain.keys)
    assert not outbox.prefix.startswith(plain.prefix)


async def test_a_post_that_raced_with_pruning_adds_the_outbox_again(
    redis_storage: RedisStorage,
) -> None:
    # An outbox that was drained: gc marks it to take it out of the outbox set.
    [job] = new("x")
    await redis_storage.messages_post(PROJECT, QUEUE, new("x"), NOW, [(OUTBOX, [job])])
    await redis_storage.messages_delete(PROJECT, OUTBOX, [job.id], None, NOW)
    keys = _Keys(PROJECT, OUTBOX)
    assert await redis_storage._eval("outbox", keys, 0, "mark", "T1") == b"MARKED"

    # A poster expecting an indexed outbox is refused, and adds it to the set...
    async def post(guard: str) -> object:
        args = [keys.prefix, _number(NOW), "0", "", keys.prefix, guard, "0"]
        return await redis_storage._script("insert", keys.keys, *args)

    assert await post("=1") == [b"NOINDEX", 1, b"T1"]
    await redis_storage._client.sadd(OUTBOXES, _member(PROJECT, OUTBOX))
    # ...which gc's removal undoes, before gc settles the outbox.
    await redis_storage._client.srem(OUTBOXES, _member(PROJECT, OUTBOX))
    assert await redis_storage._eval("outbox", keys, 0, "settle", "T1", "T2") == 1

    # The poster's retry no longer matches, so it adds the outbox again before writing.
    assert await post("=T1") == [b"NOINDEX", 1, b"T2"]
    assert await post("=T2") == b"OK"


async def test_a_post_after_pruning_indexes_the_outbox_again(redis_storage: RedisStorage) -> None:
    [job] = new("x")
    await redis_storage.messages_post(PROJECT, QUEUE, new("x"), NOW, [(OUTBOX, [job])])
    await redis_storage.messages_delete(PROJECT, OUTBOX, [job.id], None, NOW)

    await redis_storage.gc(NOW)
    assert await members(redis_storage, OUTBOXES) == set()
    await redis_storage.messages_post(PROJECT, QUEUE, new("x"), NOW, [(OUTBOX, new("x"))])

    assert await members(redis_storage, OUTBOXES) == {_member(PROJECT, OUTBOX)}
    assert await redis_storage.outboxes(NOW) == [(PROJECT, OUTBOX)]


async def test_gc_heals_an_outbox_missing_from_the_set(redis_storage: RedisStorage) -> None:
    await redis_storage.messages_post(PROJECT, QUEUE, new("x"), NOW, [(OUTBOX, new("x"))])
    await redis_storage._client.srem(OUTBOXES, _member(PROJECT, OUTBOX))
    assert await redis_storage.outboxes(NOW) == []

    await redis_storage.gc(NOW)

    assert await redis_storage.outboxes(NOW) == [(PROJECT, OUTBOX)]


async def test_gc_prunes_sources_without_subscriptions(redis_storage: RedisStorage) -> None:
    await redis_storage.subscription_create(PROJECT, QUEUE, "http://h", 60, {}, "s", NOW)
    assert await members(redis_storage, SUBSCRIPTION_SOURCES) == {_member(PROJECT, QUEUE)}

    assert await redis_storage.gc(NOW + 60) == 1

    assert await members(redis_storage, SUBSCRIPTION_SOURCES) == set()
    await redis_storage.subscription_create(PROJECT, QUEUE, "http://h", 60, {}, "s", NOW + 60)
    assert await members(redis_storage, SUBSCRIPTION_SOURCES) == {_member(PROJECT, QUEUE)}


async def test_queue_names_with_a_hash_are_indexed_apart(redis_storage: RedisStorage) -> None:
    await redis_storage.messages_post(PROJECT, QUEUE, new("x"), NOW, [(OUTBOX, new("x"))])

    visible = await redis_storage._client.zrange(f"t:{{{PROJECT}}}:queues", 0, -1)
    internal = await redis_storage._client.zrange(f"t:{{{PROJECT}}}:internal", 0, -1)

    assert (visible, internal) == ([QUEUE.encode()], [OUTBOX.encode()])
