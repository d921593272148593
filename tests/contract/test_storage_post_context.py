"""A post sees its queue as it is when the post is written: every change another process made
to the queue's metadata, its subscriptions or its existence since this process last posted
to it, though drivers keep the context a post read (``storage/known_contexts.py``).

Two drivers on one store stand for two processes; each backend that can be shared runs it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.messages import one_message
from tests.servers.backends import storage_url
from tidings import errors
from tidings.models import JSON, MessageFilter, PostContext, PreparedPost
from tidings.storage.base import Storage, storage_from_url

PROJECT = "project-a"
QUEUE = "fizbit"
NOW = 1_700_000_000.0


@pytest.fixture(params=["sqlite-file", "redis", "redis-cluster", "postgres", "swift"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Storage, Storage]]:
    """This process's driver and another process's, on one store."""
    url = storage_url(request, request.param)
    mine, other = storage_from_url(url), storage_from_url(url)
    await mine.open()
    await other.open()
    try:
        yield mine, other
    finally:
        await other.close()
        await mine.close()


class Poster:
    """Posts one message at a time, keeping the context each stored post was prepared with."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.used: list[PostContext] = []
        self._last: PostContext | None = None

    async def post(self, now: float = NOW) -> str:
        [posted] = await self.storage.messages_post_in_context(PROJECT, QUEUE, now, self._prepare)
        assert self._last is not None
        self.used.append(self._last)
        assert len(await self.storage.messages_get(PROJECT, QUEUE, [posted], now)) == 1
        return posted

    def _prepare(self, context: PostContext) -> PreparedPost:
        self._last = context
        return one_message(context)


async def _subscribe(storage: Storage, subscriber: str, ttl: int = 3600) -> str:
    created, _ = await storage.subscription_create(
        PROJECT, QUEUE, subscriber, ttl, {}, "secret", NOW
    )
    return created.id


async def test_a_post_sees_metadata_another_process_set_since(
    stores: tuple[Storage, Storage],
) -> None:
    mine, other = stores
    await mine.queue_create(PROJECT, QUEUE, {"a": 1}, NOW)
    poster = Poster(mine)
    await poster.post()
    await poster.post()

    await other.queue_set_metadata(PROJECT, QUEUE, {"a": 2})
    await poster.post()

    assert [context.metadata for context in poster.used] == [{"a": 1}, {"a": 1}, {"a": 2}]


async def test_a_post_sees_subscriptions_another_process_made_changed_or_removed_since(
    stores: tuple[Storage, Storage],
) -> None:
    mine, other = stores
    await mine.queue_create(PROJECT, QUEUE, {}, NOW)
    poster = Poster(mine)
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


@pytest.mark.parametrize("created_again", [None, {"a": 3}])
async def test_a_post_sees_a_queue_another_process_deleted_or_created_again(
    stores: tuple[Storage, Storage], created_again: dict[str, JSON] | None
) -> None:
    mine, other = stores
    await mine.queue_create(PROJECT, QUEUE, {"a": 1}, NOW)
    poster = Poster(mine)
    await poster.post()

    await other.queue_delete(PROJECT, QUEUE)
    if created_again is not None:
        await other.queue_create(PROJECT, QUEUE, created_again, NOW)
    await poster.post()

    assert poster.used[-1].metadata == created_again


async def test_a_post_does_not_see_a_subscription_that_expired_since(
    stores: tuple[Storage, Storage],
) -> None:
    mine, _ = stores
    await mine.queue_create(PROJECT, QUEUE, {}, NOW)
    await _subscribe(mine, "http://127.0.0.1:1/brief", ttl=60)
    poster = Poster(mine)
    await poster.post()

    await poster.post(now=NOW + 61)

    assert [len(context.subscribers) for context in poster.used] == [1, 0]


async def test_an_error_found_with_a_kept_context_is_checked_with_a_fresh_one(
    stores: tuple[Storage, Storage],
) -> None:
    # Given a process whose last post was refused by the queue's metadata
    mine, other = stores
    await mine.queue_create(PROJECT, QUEUE, {"open": False}, NOW)

    def prepare(context: PostContext) -> PreparedPost:
        if not (context.metadata or {}).get("open"):
            raise errors.InvalidRequest("closed")
        return one_message(context)

    with pytest.raises(errors.InvalidRequest):
        await mine.messages_post_in_context(PROJECT, QUEUE, NOW, prepare)

    # When another process changes the metadata to allow the post, Then it is stored
    await other.queue_set_metadata(PROJECT, QUEUE, {"open": True})
    [posted] = await mine.messages_post_in_context(PROJECT, QUEUE, NOW, prepare)
    assert len(await mine.messages_get(PROJECT, QUEUE, [posted], NOW)) == 1


async def test_a_post_and_its_copy_into_another_queue_are_written_once(
    stores: tuple[Storage, Storage],
) -> None:
    # Given posts whose fan-out copies each message into another queue (on a cluster, most
    # likely in another slot, written before the post)
    mine, _ = stores

    def with_copy(context: PostContext) -> PreparedPost:
        [message] = one_message(context).messages
        copy = dataclasses.replace(message, id=str(uuid.uuid4()))
        return PreparedPost([message], [("copies", [copy])])

    # When three are posted one after the other, Then each is stored once, and so is its copy
    for _ in range(3):
        await mine.messages_post_in_context(PROJECT, QUEUE, NOW, with_copy)
    everything = MessageFilter("", True, True, True, None, 10)
    for queue in (QUEUE, "copies"):
        listed, _ = await mine.messages_list(PROJECT, queue, everything, NOW)
        assert len(listed) == 3
