"""Contract: the service's message ids are kept; a post writes its outbox entries in the same
atomic write; outbox queues are found by ``outboxes`` and hidden from users; topic spaces are
projects of their own."""

from __future__ import annotations

import uuid

import pytest

from tests.messages import PRODUCER, new
from tidings import errors
from tidings.clock import FakeClock
from tidings.models import JSON, MessageFilter, NewMessage, PostContext, PreparedPost
from tidings.storage.base import Storage, outbox_queue, topic_space

PROJECT = "project-a"
OTHER_PROJECT = "project-b"
QUEUE = "fizbit"
SINK = "sink"
OUTBOX = outbox_queue(QUEUE)


async def bodies(storage: Storage, project: str, queue: str, now: float) -> list[JSON]:
    query = MessageFilter(
        client_id="reader", echo=True, include_claimed=True, include_delayed=True, limit=20
    )
    messages, _ = await storage.messages_list(project, queue, query, now)
    return [message.body for message in messages]


# The service's ids


async def test_post_stores_and_returns_the_given_ids(storage: Storage, clock: FakeClock) -> None:
    batch = new("a", "b")

    ids = await storage.messages_post(PROJECT, QUEUE, batch, clock())

    assert ids == [message.id for message in batch]
    stored = await storage.messages_get(PROJECT, QUEUE, ids, clock())
    assert [(message.id, message.body) for message in stored] == [(ids[0], "a"), (ids[1], "b")]


async def test_a_retried_post_stores_nothing_twice(storage: Storage, clock: FakeClock) -> None:
    batch, jobs = new("a", "b"), new({"job": 1})
    await storage.messages_post(PROJECT, QUEUE, batch, clock(), [(OUTBOX, jobs)])

    ids = await storage.messages_post(PROJECT, QUEUE, batch, clock(), [(OUTBOX, jobs)])

    assert ids == [message.id for message in batch]
    assert await bodies(storage, PROJECT, QUEUE, clock()) == ["a", "b"]
    assert await bodies(storage, PROJECT, OUTBOX, clock()) == [{"job": 1}]


# The outbox


async def test_post_with_an_outbox_writes_both(storage: Storage, clock: FakeClock) -> None:
    now = clock()
    batch = new("a", "b")
    jobs = new({"message": batch[0].id}, {"message": batch[1].id}, ttl=900)

    ids = await storage.messages_post(PROJECT, QUEUE, batch, now, [(OUTBOX, jobs)])

    assert ids == [message.id for message in batch]
    assert await bodies(storage, PROJECT, QUEUE, now) == ["a", "b"]
    stored = await storage.messages_get(PROJECT, OUTBOX, [job.id for job in jobs], now)
    assert [(job.id, job.body, job.expires) for job in stored] == [
        (jobs[0].id, {"message": ids[0]}, now + 900),
        (jobs[1].id, {"message": ids[1]}, now + 900),
    ]


async def test_post_with_a_fan_out_writes_every_target(storage: Storage, clock: FakeClock) -> None:
    batch = new("a")
    copies = new("a")

    await storage.messages_post(
        PROJECT, QUEUE, batch, clock(), [(OUTBOX, new({"job": 1})), (SINK, copies)]
    )

    assert await bodies(storage, PROJECT, SINK, clock()) == ["a"]
    assert await bodies(storage, PROJECT, OUTBOX, clock()) == [{"job": 1}]
    assert await storage.queue_get_metadata(PROJECT, SINK) == {}
    assert [record.name for record in await storage.queue_list(PROJECT, None, 10)] == [
        QUEUE,
        SINK,
    ]


async def test_outbox_entries_without_messages_change_nothing(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock(), [(OUTBOX, []), (SINK, [])])

    assert await storage.outboxes(clock()) == []
    assert await storage.queue_get_metadata(PROJECT, SINK) is None


async def test_a_post_that_fails_writes_no_outbox_entry_either(
    storage: Storage, clock: FakeClock
) -> None:
    unstorable = [NewMessage(str(uuid.uuid4()), {"x": object()}, 300, 0, PRODUCER)]

    with pytest.raises(TypeError):
        await storage.messages_post(PROJECT, QUEUE, new("a"), clock(), [(OUTBOX, unstorable)])

    assert await bodies(storage, PROJECT, QUEUE, clock()) == []
    assert await bodies(storage, PROJECT, OUTBOX, clock()) == []
    assert await storage.outboxes(clock()) == []


async def test_outbox_messages_keep_their_own_delay(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock(), [(OUTBOX, new(1, delay=30))])

    assert await storage.outboxes(clock()) == []
    clock.advance(30)
    assert await storage.outboxes(clock()) == [(PROJECT, OUTBOX)]


# A post in its queue's context


async def test_a_post_in_context_stores_what_prepare_makes_of_the_context(
    storage: Storage, clock: FakeClock
) -> None:
    # Given a queue with metadata and a subscriber
    await storage.queue_create(PROJECT, QUEUE, {"a": 1}, clock())
    subscription, _ = await storage.subscription_create(
        PROJECT, QUEUE, "http://example.com/hook", 600, {}, "secret", clock()
    )
    seen: list[PostContext] = []
    batch, jobs = new("a", "b"), new({"job": 1})

    def prepare(context: PostContext) -> PreparedPost:
        seen.append(context)
        return PreparedPost(batch, [(OUTBOX, jobs)])

    # When a post is prepared from the queue's context
    ids = await storage.messages_post_in_context(PROJECT, QUEUE, clock(), prepare)

    # Then prepare saw that context once, and what it made is stored
    assert seen == [PostContext({"a": 1}, [subscription])]
    assert ids == [message.id for message in batch]
    assert await bodies(storage, PROJECT, QUEUE, clock()) == ["a", "b"]
    assert await bodies(storage, PROJECT, OUTBOX, clock()) == [{"job": 1}]


async def test_a_post_refused_by_prepare_stores_nothing(storage: Storage, clock: FakeClock) -> None:
    def refuse(context: PostContext) -> PreparedPost:
        raise errors.InvalidRequest("Message collection size is too large.")

    with pytest.raises(errors.InvalidRequest):
        await storage.messages_post_in_context(PROJECT, QUEUE, clock(), refuse)

    assert await bodies(storage, PROJECT, QUEUE, clock()) == []
    assert await storage.queue_get_metadata(PROJECT, QUEUE) is None


# Finding outboxes


async def test_outboxes_lists_the_outboxes_with_claimable_messages(
    storage: Storage, clock: FakeClock
) -> None:
    assert await storage.outboxes(clock()) == []
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock())
    await storage.messages_post(PROJECT, "q2", new("a"), clock(), [(outbox_queue("q2"), new(1))])
    await storage.messages_post(OTHER_PROJECT, QUEUE, new("a"), clock(), [(OUTBOX, new(1))])
    topics = topic_space(PROJECT)
    await storage.messages_post(topics, "news", new("a"), clock(), [(outbox_queue("news"), new(1))])

    found = await storage.outboxes(clock())

    assert sorted(found) == sorted(
        [(PROJECT, "q2#outbox"), (OTHER_PROJECT, OUTBOX), (topics, "news#outbox")]
    )


async def test_an_emptied_outbox_is_not_listed(storage: Storage, clock: FakeClock) -> None:
    jobs = new(1, 2)
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock(), [(OUTBOX, jobs)])

    await storage.messages_delete(PROJECT, OUTBOX, [job.id for job in jobs], None, clock())

    assert await storage.outboxes(clock()) == []
    await storage.gc(clock())
    assert await storage.outboxes(clock()) == []
    await storage.messages_post(PROJECT, QUEUE, new("b"), clock(), [(OUTBOX, new(3))])
    assert await storage.outboxes(clock()) == [(PROJECT, OUTBOX)]


async def test_an_outbox_with_only_expired_messages_is_not_listed_after_gc(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock(), [(OUTBOX, new(1, ttl=60))])
    clock.advance(60)

    await storage.gc(clock())

    assert await storage.outboxes(clock()) == []
    await storage.messages_post(PROJECT, QUEUE, new("b"), clock(), [(OUTBOX, new(2))])
    assert await storage.outboxes(clock()) == [(PROJECT, OUTBOX)]


async def test_workers_claim_retry_and_delete_outbox_jobs(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock(), [(OUTBOX, new({"job": 1}))])

    claim = await storage.claim_create(PROJECT, OUTBOX, 60, 60, 10, clock())
    assert claim is not None
    assert [job.body for job in claim.messages] == [{"job": 1}]
    assert await storage.outboxes(clock()) == []
    # A failed delivery is re-queued with a delay and the claimed job deleted.
    [job] = claim.messages
    await storage.messages_post(PROJECT, OUTBOX, new({"job": 1, "attempt": 2}, delay=10), clock())
    await storage.messages_delete(PROJECT, OUTBOX, [job.id], [claim.id], clock())
    assert await storage.outboxes(clock()) == []
    clock.advance(10)
    assert await storage.outboxes(clock()) == [(PROJECT, OUTBOX)]
    # Out of retries: moved where the project can see it.
    retry = await storage.claim_create(PROJECT, OUTBOX, 60, 60, 10, clock())
    assert retry is not None
    await storage.messages_move(PROJECT, OUTBOX, [retry.messages[0].id], "dead", None, clock())
    assert await storage.outboxes(clock()) == []
    assert await bodies(storage, PROJECT, "dead", clock()) == [{"job": 1, "attempt": 2}]


async def test_an_outbox_whose_claim_expired_is_listed_again(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock(), [(OUTBOX, new(1))])
    assert await storage.claim_create(PROJECT, OUTBOX, 30, 60, 10, clock()) is not None

    clock.advance(30)

    assert await storage.outboxes(clock()) == [(PROJECT, OUTBOX)]


# Hidden queues and topic spaces


async def test_queues_with_a_hash_are_hidden_from_list_and_count(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock(), [(OUTBOX, new(1))])
    await storage.queue_create(PROJECT, "internal#thing", {}, clock())
    await storage.queue_create(PROJECT, "zz", {}, clock())

    assert [record.name for record in await storage.queue_list(PROJECT, None, 10)] == [QUEUE, "zz"]
    assert [record.name for record in await storage.queue_list(PROJECT, None, 1)] == [QUEUE]
    assert [record.name for record in await storage.queue_list(PROJECT, QUEUE, 1)] == ["zz"]
    assert await storage.queue_count(PROJECT) == 2
    assert await storage.queue_get_metadata(PROJECT, OUTBOX) == {}


async def test_an_outbox_queue_is_deleted_like_any_queue(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock(), [(OUTBOX, new(1))])

    await storage.queue_delete(PROJECT, OUTBOX)

    assert await storage.queue_get_metadata(PROJECT, OUTBOX) is None
    assert await storage.outboxes(clock()) == []
    assert await bodies(storage, PROJECT, QUEUE, clock()) == ["a"]


async def test_a_topic_space_is_a_project_of_its_own(storage: Storage, clock: FakeClock) -> None:
    topics = topic_space(PROJECT)
    await storage.messages_post(PROJECT, QUEUE, new("queued"), clock())
    await storage.messages_post(topics, QUEUE, new("topical"), clock())
    await storage.queue_create(topics, "other-topic", {"a": 1}, clock())

    assert [record.name for record in await storage.queue_list(PROJECT, None, 10)] == [QUEUE]
    assert await storage.queue_count(PROJECT) == 1
    assert [record.name for record in await storage.queue_list(topics, None, 10)] == [
        QUEUE,
        "other-topic",
    ]
    assert await storage.queue_count(topics) == 2
    assert await storage.queue_get_metadata(PROJECT, "other-topic") is None
    assert await bodies(storage, PROJECT, QUEUE, clock()) == ["queued"]
    assert await bodies(storage, topics, QUEUE, clock()) == ["topical"]
    await storage.queue_delete(topics, QUEUE)
    assert await bodies(storage, PROJECT, QUEUE, clock()) == ["queued"]
