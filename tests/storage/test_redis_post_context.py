"""The Redis driver keeps the post context it read last of each queue, so that the next post
to it is one round trip; each post still sees every change another process made to the
queue's metadata and subscriptions, and to the queue's existence."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tidings import errors
from tidings.models import NewMessage, PostContext, PreparedPost
from tidings.storage.redis import RedisStorage, parse_url

PROJECT = "project-a"
QUEUE = "fizbit"
NOW = 1_700_000_000.0


@pytest.fixture
async def other(redis_url: str, redis_storage: RedisStorage) -> AsyncIterator[RedisStorage]:
    """A second process's driver on the same Redis."""
    driver = RedisStorage(parse_url(redis_url))
    await driver.open()
    try:
        yield driver
    finally:
        await driver.close()


class Poster:
    """Posts one message at a time, keeping the context each stored post was prepared with."""

    def __init__(self, storage: RedisStorage) -> None:
        self.storage = storage
        self.used: list[PostContext] = []
        self._last: PostContext | None = None

    async def post(self, now: float = NOW) -> list[str]:
        posted = await self.storage.messages_post_in_context(PROJECT, QUEUE, now, self._prepare)
        assert self._last is not None
        self.used.append(self._last)
        return posted

    def _prepare(self, context: PostContext) -> PreparedPost:
        self._last = context
        return PreparedPost([NewMessage(str(uuid.uuid4()), "x", 300, 0, "client")], ())


async def _script_calls(storage: RedisStorage) -> int:
    stats = await storage._client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def _subscribe(storage: RedisStorage, subscriber: str, ttl: int = 3600) -> str:
    created, _ = await storage.subscription_create(
        PROJECT, QUEUE, subscriber, ttl, {}, "secret", NOW
    )
    return created.id


async def test_a_post_to_an_unchanged_queue_is_one_round_trip(redis_storage: RedisStorage) -> None:
    # Given a queue this process has posted to once
    await redis_storage.queue_create(PROJECT, QUEUE, {"a": 1}, NOW)
    poster = Poster(redis_storage)
    await poster.post()

    # When it posts again
    before = await _script_calls(redis_storage)
    [posted] = await poster.post()

    # Then that post ran one script (the insert), stored its message, and saw the metadata
    assert await _script_calls(redis_storage) - before == 1
    assert [m.id for m in await redis_storage.messages_get(PROJECT, QUEUE, [posted], NOW)] == [
        posted
    ]
    assert [context.metadata for context in poster.used] == [{"a": 1}, {"a": 1}]


async def test_a_post_sees_metadata_another_process_set_since(
    redis_storage: RedisStorage, other: RedisStorage
) -> None:
    await redis_storage.queue_create(PROJECT, QUEUE, {"a": 1}, NOW)
    poster = Poster(redis_storage)
    await poster.post()

    await other.queue_set_metadata(PROJECT, QUEUE, {"a": 2})
    await poster.post()

    assert [context.metadata for context in poster.used] == [{"a": 1}, {"a": 2}]


async def test_a_post_sees_subscriptions_another_process_made_or_removed_since(
    redis_storage: RedisStorage, other: RedisStorage
) -> None:
    await redis_storage.queue_create(PROJECT, QUEUE, {}, NOW)
    poster = Poster(redis_storage)
    await poster.post()

    first = await _subscribe(other, "http://127.0.0.1:1/first")
    await poster.post()
    second = await _subscribe(other, "http://127.0.0.1:1/second")
    await poster.post()
    await other.subscription_confirm(PROJECT, QUEUE, first, True, NOW)
    await poster.post()
    await other.subscription_delete(PROJECT, QUEUE, first)
    await other.subscription_delete(PROJECT, QUEUE, second)
    await poster.post()

    subscribers = [
        sorted((s.id, s.confirmed) for s in context.subscribers) for context in poster.used
    ]
    assert subscribers == [
        [],
        [(first, False)],
        sorted([(first, False), (second, False)]),
        sorted([(first, True), (second, False)]),
        [],
    ]


async def test_a_post_sees_a_queue_another_process_deleted_and_created_again(
    redis_storage: RedisStorage, other: RedisStorage
) -> None:
    await redis_storage.queue_create(PROJECT, QUEUE, {"a": 1}, NOW)
    poster = Poster(redis_storage)
    await poster.post()

    await other.queue_delete(PROJECT, QUEUE)
    await other.queue_create(PROJECT, QUEUE, {"a": 3}, NOW)
    [posted] = await poster.post()

    assert poster.used[-1].metadata == {"a": 3}
    assert len(await redis_storage.messages_get(PROJECT, QUEUE, [posted], NOW)) == 1


async def test_a_post_does_not_see_a_subscription_that_expired_since(
    redis_storage: RedisStorage,
) -> None:
    await redis_storage.queue_create(PROJECT, QUEUE, {}, NOW)
    await _subscribe(redis_storage, "http://127.0.0.1:1/brief", ttl=60)
    poster = Poster(redis_storage)
    await poster.post()

    await poster.post(now=NOW + 61)

    assert [len(context.subscribers) for context in poster.used] == [1, 0]


async def test_an_error_found_with_a_kept_context_is_checked_with_a_fresh_one(
    redis_storage: RedisStorage, other: RedisStorage
) -> None:
    # Given a process that kept a context in which posts are refused
    await redis_storage.queue_create(PROJECT, QUEUE, {"open": False}, NOW)

    def prepare(context: PostContext) -> PreparedPost:
        if not (context.metadata or {}).get("open"):
            raise errors.InvalidRequest("closed")
        return PreparedPost([NewMessage(str(uuid.uuid4()), "x", 300, 0, "client")], ())

    with pytest.raises(errors.InvalidRequest):
        await redis_storage.messages_post_in_context(PROJECT, QUEUE, NOW, prepare)

    # When another process allows them, Then the next post is accepted
    await other.queue_set_metadata(PROJECT, QUEUE, {"open": True})
    [posted] = await redis_storage.messages_post_in_context(PROJECT, QUEUE, NOW, prepare)
    assert len(await redis_storage.messages_get(PROJECT, QUEUE, [posted], NOW)) == 1


async def test_a_post_sees_a_queue_another_process_deleted(
    redis_storage: RedisStorage, other: RedisStorage
) -> None:
    await redis_storage.queue_create(PROJECT, QUEUE, {"a": 1}, NOW)
    poster = Poster(redis_storage)
    await poster.post()

    await other.queue_delete(PROJECT, QUEUE)
    [posted] = await poster.post()

    assert poster.used[-1].metadata is None
    assert len(await redis_storage.messages_get(PROJECT, QUEUE, [posted], NOW)) == 1
