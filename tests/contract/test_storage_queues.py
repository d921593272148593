"""Contract: queues are created, described, listed, counted, measured, purged and deleted."""

from __future__ import annotations

import pytest

from tests.messages import PRODUCER, new
from tests.ordering import PostOrderOf
from tidings import errors
from tidings.clock import FakeClock
from tidings.models import JSON, MessageFilter, QueueStats
from tidings.storage.base import Storage

PROJECT = "project-a"
QUEUE = "fizbit"


# Create and metadata


async def test_create_returns_true_for_a_new_queue(storage: Storage, clock: FakeClock) -> None:
    created = await storage.queue_create(PROJECT, QUEUE, {"_default_message_ttl": 60}, clock())

    assert created is True
    assert await storage.queue_get_metadata(PROJECT, QUEUE) == {"_default_message_ttl": 60}


async def test_create_is_idempotent_and_keeps_the_first_metadata(
    storage: Storage, clock: FakeClock
) -> None:
    # Given a queue with metadata
    await storage.queue_create(PROJECT, QUEUE, {"color": "blue"}, clock())
    # When it is created again with other metadata
    created = await storage.queue_create(PROJECT, QUEUE, {"color": "red"}, clock())
    # Then it reports so and nothing changes
    assert created is False
    assert await storage.queue_get_metadata(PROJECT, QUEUE) == {"color": "blue"}
    assert await storage.queue_count(PROJECT) == 1


async def test_create_keeps_the_queues_messages(storage: Storage, clock: FakeClock) -> None:
    [message_id] = await storage.messages_post(PROJECT, QUEUE, new("hello"), clock())

    assert await storage.queue_create(PROJECT, QUEUE, {}, clock()) is False
    assert [m.id for m in await storage.messages_get(PROJECT, QUEUE, [message_id], clock())] == [
        message_id
    ]


async def test_metadata_of_a_missing_queue_is_none(storage: Storage) -> None:
    assert await storage.queue_get_metadata(PROJECT, "nowhere") is None


async def test_metadata_round_trips_json(storage: Storage, clock: FakeClock) -> None:
    metadata: dict[str, JSON] = {
        "_max_messages_post_size": 65536,
        "_dead_letter_queue": "dlq",
        "nested": {"list": [1, 2.5, "three", None, True], "empty": {}},
        "unicode": "caf\u00e9 \u2603",
    }

    await storage.queue_create(PROJECT, QUEUE, metadata, clock())

    assert await storage.queue_get_metadata(PROJECT, QUEUE) == metadata


async def test_set_metadata_replaces_the_whole_document(storage: Storage, clock: FakeClock) -> None:
    # Given a queue with two metadata keys
    await storage.queue_create(PROJECT, QUEUE, {"a": 1, "b": 2}, clock())
    # When the metadata is set to a document with other keys
    await storage.queue_set_metadata(PROJECT, QUEUE, {"c": 3})
    # Then only the new document remains
    assert await storage.queue_get_metadata(PROJECT, QUEUE) == {"c": 3}


async def test_set_metadata_on_a_missing_queue_raises_and_creates_nothing(
    storage: Storage,
) -> None:
    with pytest.raises(errors.QueueNotFound):
        await storage.queue_set_metadata(PROJECT, "nowhere", {"a": 1})

    assert await storage.queue_get_metadata(PROJECT, "nowhere") is None
    assert await storage.queue_count(PROJECT) == 0


# List and count


async def test_list_of_a_project_without_queues_is_empty(storage: Storage) -> None:
    assert await storage.queue_list(PROJECT, None, 10) == []


async def test_list_is_sorted_by_name_and_limited(storage: Storage, clock: FakeClock) -> None:
    for name in ["delta", "alpha", "echo", "charlie", "bravo"]:
        await storage.queue_create(PROJECT, name, {}, clock())

    page = await storage.queue_list(PROJECT, None, 3)

    assert [queue.name for queue in page] == ["alpha", "bravo", "charlie"]


async def test_list_pages_with_the_last_name_as_marker(storage: Storage, clock: FakeClock) -> None:
    # Given five queues
    names = ["q-3", "q-1", "q-5", "q-2", "q-4"]
    for name in names:
        await storage.queue_create(PROJECT, name, {}, clock())
    # When they are listed two at a time, each page starting after the last name seen
    pages: list[list[str]] = []
    marker: str | None = None
    for _ in range(4):
        page = await storage.queue_list(PROJECT, marker, 2)
        pages.append([queue.name for queue in page])
        marker = page[-1].name if page else marker
    # Then every queue is seen once, in name order, and the page after the last is empty
    assert pages == [["q-1", "q-2"], ["q-3", "q-4"], ["q-5"], []]


async def test_list_after_a_marker_that_is_not_a_queue(storage: Storage, clock: FakeClock) -> None:
    for name in ["apple", "banana", "cherry"]:
        await storage.queue_create(PROJECT, name, {}, clock())

    assert [q.name for q in await storage.queue_list(PROJECT, "b", 10)] == ["banana", "cherry"]
    assert await storage.queue_list(PROJECT, "zzz", 10) == []


async def test_list_includes_metadata(storage: Storage, clock: FakeClock) -> None:
    await storage.queue_create(PROJECT, "with", {"ttl": 60}, clock())
    await storage.queue_create(PROJECT, "without", {}, clock())

    records = await storage.queue_list(PROJECT, None, 10)

    assert [(queue.name, queue.metadata) for queue in records] == [
        ("with", {"ttl": 60}),
        ("without", {}),
    ]


async def test_count_counts_the_projects_queues(storage: Storage, clock: FakeClock) -> None:
    assert await storage.queue_count(PROJECT) == 0

    for name in ["one", "two", "three"]:
        await storage.queue_create(PROJECT, name, {}, clock())

    assert await storage.queue_count(PROJECT) == 3


# Delete


async def test_delete_removes_the_queue(storage: Storage, clock: FakeClock) -> None:
    await storage.queue_create(PROJECT, QUEUE, {"a": 1}, clock())
    await storage.queue_create(PROJECT, "other", {}, clock())

    await storage.queue_delete(PROJECT, QUEUE)

    assert await storage.queue_get_metadata(PROJECT, QUEUE) is None
    assert [queue.name for queue in await storage.queue_list(PROJECT, None, 10)] == ["other"]
    assert await storage.queue_count(PROJECT) == 1


async def test_delete_removes_messages_and_claims(storage: Storage, clock: FakeClock) -> None:
    # Given a queue with a claimed and a free message
    ids = await storage.messages_post(PROJECT, QUEUE, new("claimed", "free"), clock())
    claim = await storage.claim_create(PROJECT, QUEUE, 60, 60, 1, clock())
    assert claim is not None
    # When the queue is deleted and then created again under the same name
    await storage.queue_delete(PROJECT, QUEUE)
    await storage.queue_create(PROJECT, QUEUE, {}, clock())
    # Then neither the messages nor the claim came back
    assert await storage.messages_get(PROJECT, QUEUE, ids, clock()) == []
    assert await storage.claim_get(PROJECT, QUEUE, claim.id, clock()) is None
    assert await storage.queue_stats(PROJECT, QUEUE, clock()) == QueueStats()
    assert await storage.claim_create(PROJECT, QUEUE, 60, 60, 10, clock()) is None


async def test_delete_of_a_missing_queue_is_no_error(storage: Storage, clock: FakeClock) -> None:
    await storage.queue_create(PROJECT, QUEUE, {}, clock())

    await storage.queue_delete(PROJECT, QUEUE)
    await storage.queue_delete(PROJECT, QUEUE)
    await storage.queue_delete(PROJECT, "never-existed")

    assert await storage.queue_count(PROJECT) == 0


# Stats


async def test_stats_of_a_missing_queue_are_zero(storage: Storage, clock: FakeClock) -> None:
    stats = await storage.queue_stats(PROJECT, "nowhere", clock())

    assert stats == QueueStats()
    assert (stats.total, stats.claimed, stats.delayed, stats.free) == (0, 0, 0, 0)
    assert stats.oldest is None
    assert stats.newest is None


async def test_stats_of_an_empty_queue_are_zero(storage: Storage, clock: FakeClock) -> None:
    await storage.queue_create(PROJECT, QUEUE, {}, clock())

    assert await storage.queue_stats(PROJECT, QUEUE, clock()) == QueueStats()


async def test_stats_count_free_claimed_and_delayed(storage: Storage, clock: FakeClock) -> None:
    # Given two claimed, one delayed and three free messages
    await storage.messages_post(PROJECT, QUEUE, new(1, 2, 3, 4, 5), clock())
    await storage.messages_post(PROJECT, QUEUE, new("later", delay=30), clock())
    assert await storage.claim_create(PROJECT, QUEUE, 60, 60, 2, clock()) is not None
    # When the stats are taken
    stats = await storage.queue_stats(PROJECT, QUEUE, clock())
    # Then each kind is counted once
    assert (stats.total, stats.claimed, stats.delayed, stats.free) == (6, 2, 1, 3)


async def test_stats_follow_the_clock(storage: Storage, clock: FakeClock) -> None:
    # Given a message claimed for 60 s and one delayed by 30 s, both living 300 s
    await storage.messages_post(PROJECT, QUEUE, new("claimed"), clock())
    await storage.messages_post(PROJECT, QUEUE, new("delayed", delay=30), clock())
    assert await storage.claim_create(PROJECT, QUEUE, 60, 0, 10, clock()) is not None
    # When the delay passes, then the claim, then the messages' lifetime
    clock.advance(30)
    after_delay = await storage.queue_stats(PROJECT, QUEUE, clock())
    clock.advance(30)
    after_claim = await storage.queue_stats(PROJECT, QUEUE, clock())
    clock.advance(240)
    after_ttl = await storage.queue_stats(PROJECT, QUEUE, clock())
    # Then the counts move from delayed and claimed to free, and then to nothing
    assert (after_delay.total, after_delay.claimed, after_delay.delayed) == (2, 1, 0)
    assert (after_claim.total, after_claim.claimed, after_claim.free) == (2, 0, 2)
    assert after_ttl == QueueStats()


async def test_stats_ignore_expired_messages(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("short", ttl=60), clock())
    await storage.messages_post(PROJECT, QUEUE, new("long", ttl=600), clock())

    clock.advance(60)
    stats = await storage.queue_stats(PROJECT, QUEUE, clock())

    assert (stats.total, stats.free) == (1, 1)
    assert stats.oldest is not None
    assert stats.oldest.body == "long"


async def test_stats_name_the_oldest_and_newest_message(
    storage: Storage, clock: FakeClock, post_order: PostOrderOf
) -> None:
    # Given three messages posted ten seconds apart
    [first] = await storage.messages_post(PROJECT, QUEUE, new("first"), clock())
    clock.advance(10)
    [middle] = await storage.messages_post(PROJECT, QUEUE, new("middle"), clock())
    clock.advance(10)
    [last] = await storage.messages_post(PROJECT, QUEUE, new("last"), clock())
    # When the stats are taken
    stats = await storage.queue_stats(PROJECT, QUEUE, clock())
    # Then the oldest and newest are the ends of the queue's listing, which on FIFO drivers are
    # the first and the last posted
    everything = MessageFilter(PRODUCER, echo=True)
    listing, _ = await storage.messages_list(PROJECT, QUEUE, everything, clock())
    assert [message.id for message in listing] == post_order(first, middle, last)
    assert (stats.oldest, stats.newest) == (listing[0], listing[-1])


# Purge


async def test_purge_removes_messages_and_claims_but_keeps_the_queue(
    storage: Storage, clock: FakeClock
) -> None:
    # Given a queue with metadata, a claimed message and a free one
    await storage.queue_create(PROJECT, QUEUE, {"keep": "me"}, clock())
    ids = await storage.messages_post(PROJECT, QUEUE, new("claimed", "free"), clock())
    claim = await storage.claim_create(PROJECT, QUEUE, 60, 60, 1, clock())
    assert claim is not None
    # When the queue is purged
    await storage.queue_purge(PROJECT, QUEUE)
    # Then it is empty but still there, metadata and all
    assert await storage.messages_get(PROJECT, QUEUE, ids, clock()) == []
    assert await storage.claim_get(PROJECT, QUEUE, claim.id, clock()) is None
    assert await storage.queue_stats(PROJECT, QUEUE, clock()) == QueueStats()
    assert await storage.queue_get_metadata(PROJECT, QUEUE) == {"keep": "me"}
    assert await storage.queue_count(PROJECT) == 1


async def test_purge_leaves_other_queues_alone(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("doomed"), clock())
    kept = await storage.messages_post(PROJECT, "other", new("kept"), clock())

    await storage.queue_purge(PROJECT, QUEUE)

    assert [m.id for m in await storage.messages_get(PROJECT, "other", kept, clock())] == kept


async def test_messages_posted_after_a_purge_are_kept(storage: Storage, clock: FakeClock) -> None:
    # Given a purged queue
    await storage.messages_post(PROJECT, QUEUE, new("old"), clock())
    await storage.queue_purge(PROJECT, QUEUE)
    # When a message is posted
    ids = await storage.messages_post(PROJECT, QUEUE, new("new"), clock())
    # Then it is there
    assert [m.body for m in await storage.messages_get(PROJECT, QUEUE, ids, clock())] == ["new"]
    assert (await storage.queue_stats(PROJECT, QUEUE, clock())).total == 1
