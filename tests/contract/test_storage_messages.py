"""Contract: messages are posted, listed, fetched, deleted, popped and moved."""

from __future__ import annotations

import pytest

from tests.messages import PRODUCER, new
from tests.ordering import PostOrderOf
from tidings import errors
from tidings.clock import FakeClock
from tidings.models import JSON, Message, MessageFilter
from tidings.storage.base import Storage

PROJECT = "project-a"
QUEUE = "fizbit"
CONSUMER = "5c6d8a2e-2b9e-11e3-b191-71861300734c"


def everything(marker: str | None = None, limit: int = 10) -> MessageFilter:
    return MessageFilter(
        client_id=CONSUMER,
        echo=True,
        include_claimed=True,
        include_delayed=True,
        marker=marker,
        limit=limit,
    )


def bodies(messages: list[Message]) -> list[JSON]:
    return [message.body for message in messages]


async def listed(storage: Storage, now: float, query: MessageFilter | None = None) -> list[JSON]:
    messages, _ = await storage.messages_list(PROJECT, QUEUE, query or everything(), now)
    return bodies(messages)


async def claim_one(storage: Storage, now: float) -> str:
    claim = await storage.claim_create(PROJECT, QUEUE, 60, 60, 1, now)
    assert claim is not None
    return claim.id


# Post


async def test_post_returns_one_distinct_id_per_message(storage: Storage, clock: FakeClock) -> None:
    ids = await storage.messages_post(PROJECT, QUEUE, new("a", "b", "c"), clock())

    assert len(ids) == 3
    assert len(set(ids)) == 3
    assert all(isinstance(message_id, str) and message_id for message_id in ids)


async def test_post_creates_the_queue_with_empty_metadata(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("hello"), clock())

    assert await storage.queue_get_metadata(PROJECT, QUEUE) == {}
    assert await storage.queue_count(PROJECT) == 1


async def test_post_keeps_an_existing_queues_metadata(storage: Storage, clock: FakeClock) -> None:
    await storage.queue_create(PROJECT, QUEUE, {"a": 1}, clock())

    await storage.messages_post(PROJECT, QUEUE, new("hello"), clock())

    assert await storage.queue_get_metadata(PROJECT, QUEUE) == {"a": 1}


async def test_a_posted_message_reads_back_as_posted(storage: Storage, clock: FakeClock) -> None:
    body = {"event": "backup", "sizes": [1, 2.5], "ok": True, "none": None, "name": "caf\u00e9"}
    now = clock()

    [message_id] = await storage.messages_post(PROJECT, QUEUE, new(body, ttl=120, delay=5), now)
    clock.advance(5)
    [message] = await storage.messages_get(PROJECT, QUEUE, [message_id], clock())

    assert (message.id, message.body, message.client_id) == (message_id, body, PRODUCER)
    assert (message.created, message.expires, message.visible_at) == (now, now + 120, now + 5)
    assert (message.claim_id, message.claim_count) == (None, 0)
    assert not message.is_claimed(clock())
    assert (message.ttl, message.age(clock())) == (120, 5)


async def test_bodies_of_every_json_type_round_trip(storage: Storage, clock: FakeClock) -> None:
    posted: list[JSON] = ["text", 42, 2.5, True, None, [1, "two"], {"k": {"n": []}}]

    ids = await storage.messages_post(PROJECT, QUEUE, new(*posted), clock())

    got = {m.id: m.body for m in await storage.messages_get(PROJECT, QUEUE, ids, clock())}
    assert [got[message_id] for message_id in ids] == posted


async def test_messages_are_listed_in_post_order(
    storage: Storage, clock: FakeClock, post_order: PostOrderOf
) -> None:
    # Given three batches posted one after another, at the same instant
    for batch in [["a1", "a2"], ["b1"], ["c1", "c2", "c3"]]:
        await storage.messages_post(PROJECT, QUEUE, new(*batch), clock())
    # When the queue is listed
    # Then the messages come each once, in post order (within and across batches) on FIFO drivers
    assert await listed(storage, clock()) == post_order("a1", "a2", "b1", "c1", "c2", "c3")


# List


async def test_list_of_a_missing_queue_is_empty(storage: Storage, clock: FakeClock) -> None:
    assert await storage.messages_list(PROJECT, "nowhere", everything(), clock()) == ([], None)


async def test_list_respects_the_limit(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new(*range(5)), clock())

    messages, marker = await storage.messages_list(PROJECT, QUEUE, everything(limit=3), clock())

    assert len(messages) == 3
    assert marker is not None


async def test_list_pages_with_the_returned_marker(
    storage: Storage, clock: FakeClock, post_order: PostOrderOf
) -> None:
    # Given five messages
    await storage.messages_post(PROJECT, QUEUE, new(*range(5)), clock())
    # When they are listed two at a time, each page after the marker of the one before
    pages: list[list[JSON]] = []
    marker: str | None = None
    for _ in range(4):
        page, marker = await storage.messages_list(
            PROJECT, QUEUE, everything(marker=marker, limit=2), clock()
        )
        pages.append(bodies(page))
    # Then the pages split the messages, each seen once (in post order on FIFO drivers), and the
    # empty last page has no marker
    assert [len(page) for page in pages] == [2, 2, 1, 0]
    assert [body for page in pages for body in page] == post_order(0, 1, 2, 3, 4)
    assert marker is None


async def test_paging_continues_past_messages_posted_later(
    storage: Storage, clock: FakeClock
) -> None:
    # Given a marker after the only message
    await storage.messages_post(PROJECT, QUEUE, new("first"), clock())
    _, marker = await storage.messages_list(PROJECT, QUEUE, everything(), clock())
    # When another message is posted
    await storage.messages_post(PROJECT, QUEUE, new("second"), clock())
    # Then the next page holds just the new one
    assert await listed(storage, clock(), everything(marker=marker)) == ["second"]


async def test_list_hides_the_readers_own_messages_unless_echo(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("mine", client_id=CONSUMER), clock())
    await storage.messages_post(PROJECT, QUEUE, new("theirs", client_id=PRODUCER), clock())

    without_echo = MessageFilter(client_id=CONSUMER)
    with_echo = MessageFilter(client_id=CONSUMER, echo=True)

    assert await listed(storage, clock(), without_echo) == ["theirs"]
    assert sorted(await listed(storage, clock(), with_echo)) == ["mine", "theirs"]


async def test_list_shows_claimed_messages_only_when_asked(
    storage: Storage, clock: FakeClock
) -> None:
    # Given a claimed and a free message
    await storage.messages_post(PROJECT, QUEUE, new("claimed"), clock())
    await claim_one(storage, clock())
    await storage.messages_post(PROJECT, QUEUE, new("free"), clock())
    # When listed with and without include_claimed
    hidden = await listed(storage, clock(), MessageFilter(client_id=CONSUMER))
    shown = await listed(storage, clock(), MessageFilter(client_id=CONSUMER, include_claimed=True))
    # Then the claimed one is only in the second listing
    assert hidden == ["free"]
    assert sorted(shown) == ["claimed", "free"]


async def test_list_shows_delayed_messages_only_when_asked(
    storage: Storage, clock: FakeClock
) -> None:
    # Given a message delayed by 30 seconds and a visible one
    await storage.messages_post(PROJECT, QUEUE, new("delayed", delay=30), clock())
    await storage.messages_post(PROJECT, QUEUE, new("visible"), clock())
    # When listed with and without include_delayed, before and after the delay
    hidden = await listed(storage, clock(), MessageFilter(client_id=CONSUMER))
    shown = await listed(storage, clock(), MessageFilter(client_id=CONSUMER, include_delayed=True))
    clock.advance(30)
    after = await listed(storage, clock(), MessageFilter(client_id=CONSUMER))
    # Then the delayed one shows only when asked for, until its delay has passed
    assert hidden == ["visible"]
    assert sorted(shown) == ["delayed", "visible"]
    assert sorted(after) == ["delayed", "visible"]


async def test_list_hides_expired_messages(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("short", ttl=60), clock())
    await storage.messages_post(PROJECT, QUEUE, new("long", ttl=61), clock())

    clock.advance(60)

    assert await listed(storage, clock()) == ["long"]


# Get


async def test_get_returns_the_live_messages_in_post_order(
    storage: Storage, clock: FakeClock, post_order: PostOrderOf
) -> None:
    # Given three messages, the second of which expires first
    [first] = await storage.messages_post(PROJECT, QUEUE, new("first"), clock())
    [short] = await storage.messages_post(PROJECT, QUEUE, new("short", ttl=10), clock())
    [last] = await storage.messages_post(PROJECT, QUEUE, new("last"), clock())
    clock.advance(10)
    # When they are asked for in another order, with an unknown id among them
    got = await storage.messages_get(PROJECT, QUEUE, [last, "unknown", short, first], clock())
    # Then the live ones come back, in post order on FIFO drivers
    assert [message.id for message in got] == post_order(first, last)


async def test_get_of_no_ids_is_empty(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("hello"), clock())

    assert await storage.messages_get(PROJECT, QUEUE, [], clock()) == []


async def test_get_of_a_missing_queue_is_empty(storage: Storage, clock: FakeClock) -> None:
    assert await storage.messages_get(PROJECT, "nowhere", ["unknown"], clock()) == []


async def test_get_includes_claimed_and_delayed_messages(
    storage: Storage, clock: FakeClock
) -> None:
    ids = await storage.messages_post(PROJECT, QUEUE, new("claimed"), clock())
    claim_id = await claim_one(storage, clock())
    ids += await storage.messages_post(PROJECT, QUEUE, new("delayed", delay=30), clock())

    got = await storage.messages_get(PROJECT, QUEUE, ids, clock())

    assert sorted(bodies(got)) == ["claimed", "delayed"]
    assert [m.claim_id for m in got if m.body == "claimed"] == [claim_id]


# Delete one


async def test_delete_removes_a_free_message(storage: Storage, clock: FakeClock) -> None:
    [doomed, _] = await storage.messages_post(PROJECT, QUEUE, new("doomed", "kept"), clock())

    await storage.message_delete(PROJECT, QUEUE, doomed, None, clock())

    assert await listed(storage, clock()) == ["kept"]
    assert await storage.messages_get(PROJECT, QUEUE, [doomed], clock()) == []


async def test_delete_of_an_absent_message_is_no_error(storage: Storage, clock: FakeClock) -> None:
    [message_id] = await storage.messages_post(PROJECT, QUEUE, new("once"), clock())
    await storage.message_delete(PROJECT, QUEUE, message_id, None, clock())

    await storage.message_delete(PROJECT, QUEUE, message_id, None, clock())
    await storage.message_delete(PROJECT, QUEUE, "unknown", None, clock())
    await storage.message_delete(PROJECT, "nowhere", "unknown", "unknown-claim", clock())


async def test_delete_of_an_expired_message_is_no_error(storage: Storage, clock: FakeClock) -> None:
    [message_id] = await storage.messages_post(PROJECT, QUEUE, new("short", ttl=10), clock())
    clock.advance(10)

    await storage.message_delete(PROJECT, QUEUE, message_id, None, clock())
    await storage.message_delete(PROJECT, QUEUE, message_id, "unknown-claim", clock())


class TestDeleteChecksTheClaim:
    async def test_claimed_without_a_claim_id_is_refused(
        self, storage: Storage, clock: FakeClock
    ) -> None:
        [message_id] = await storage.messages_post(PROJECT, QUEUE, new("held"), clock())
        await claim_one(storage, clock())

        with pytest.raises(errors.MessageIsClaimed):
            await storage.message_delete(PROJECT, QUEUE, message_id, None, clock())
        assert await listed(storage, clock()) == ["held"]

    async def test_with_its_claim_id_it_is_deleted(
        self, storage: Storage, clock: FakeClock
    ) -> None:
        [message_id] = await storage.messages_post(PROJECT, QUEUE, new("held"), clock())
        claim_id = await claim_one(storage, clock())

        await storage.message_delete(PROJECT, QUEUE, message_id, claim_id, clock())

        assert await listed(storage, clock()) == []

    async def test_a_claim_id_for_a_free_message_is_refused(
        self, storage: Storage, clock: FakeClock
    ) -> None:
        # Given a live claim on one message and a free message
        await storage.messages_post(PROJECT, QUEUE, new("held"), clock())
        claim_id = await claim_one(storage, clock())
        [free] = await storage.messages_post(PROJECT, QUEUE, new("free"), clock())
        # When the free one is deleted with the live claim's id
        # Then it is refused as not claimed, and kept
        with pytest.raises(errors.MessageNotClaimed):
            await storage.message_delete(PROJECT, QUEUE, free, claim_id, clock())
        assert sorted(await listed(storage, clock())) == ["free", "held"]

    async def test_an_unknown_claim_id_is_refused(self, storage: Storage, clock: FakeClock) -> None:
        [held] = await storage.messages_post(PROJECT, QUEUE, new("held"), clock())
        await claim_one(storage, clock())
        [free] = await storage.messages_post(PROJECT, QUEUE, new("free"), clock())

        with pytest.raises(errors.ClaimExpired):
            await storage.message_delete(PROJECT, QUEUE, held, "unknown-claim", clock())
        with pytest.raises(errors.ClaimExpired):
            await storage.message_delete(PROJECT, QUEUE, free, "unknown-claim", clock())
        assert sorted(await listed(storage, clock())) == ["free", "held"]

    async def test_an_expired_claim_id_is_refused(self, storage: Storage, clock: FakeClock) -> None:
        # Given a message whose claim has expired
        [message_id] = await storage.messages_post(PROJECT, QUEUE, new("was held"), clock())
        claim_id = await claim_one(storage, clock())
        clock.advance(60)
        # When it is deleted with the expired claim's id
        # Then it is refused, and kept
        with pytest.raises(errors.ClaimExpired):
            await storage.message_delete(PROJECT, QUEUE, message_id, claim_id, clock())
        assert await listed(storage, clock()) == ["was held"]

    async def test_a_message_held_by_another_live_claim_is_refused(
        self, storage: Storage, clock: FakeClock
    ) -> None:
        # Given two messages, each under its own live claim
        [first] = await storage.messages_post(PROJECT, QUEUE, new("first"), clock())
        await claim_one(storage, clock())
        await storage.messages_post(PROJECT, QUEUE, new("second"), clock())
        second_claim = await claim_one(storage, clock())
        # When the first is deleted with the second claim's id
        # Then it is refused as claimed, and kept
        with pytest.raises(errors.MessageIsClaimed):
            await storage.message_delete(PROJECT, QUEUE, first, second_claim, clock())
        assert sorted(await listed(storage, clock())) == ["first", "second"]

    async def test_after_its_claim_expired_it_is_deleted_without_a_claim_id(
        self, storage: Storage, clock: FakeClock
    ) -> None:
        [message_id] = await storage.messages_post(PROJECT, QUEUE, new("was held"), clock())
        await claim_one(storage, clock())
        clock.advance(60)

        await storage.message_delete(PROJECT, QUEUE, message_id, None, clock())

        assert await listed(storage, clock()) == []

    async def test_after_its_claim_was_released_it_is_deleted_without_a_claim_id(
        self, storage: Storage, clock: FakeClock
    ) -> None:
        [message_id] = await storage.messages_post(PROJECT, QUEUE, new("was held"), clock())
        claim_id = await claim_one(storage, clock())
        await storage.claim_release(PROJECT, QUEUE, claim_id)

        await storage.message_delete(PROJECT, QUEUE, message_id, None, clock())

        assert await listed(storage, clock()) == []


# Delete many


async def test_bulk_delete_removes_the_given_messages(storage: Storage, clock: FakeClock) -> None:
    ids = await storage.messages_post(PROJECT, QUEUE, new("a", "b", "c", "d"), clock())

    await storage.messages_delete(PROJECT, QUEUE, [ids[0], ids[2], "unknown"], None, clock())

    assert sorted(await listed(storage, clock())) == ["b", "d"]


async def test_bulk_delete_without_claim_ids_ignores_claims(
    storage: Storage, clock: FakeClock
) -> None:
    ids = await storage.messages_post(PROJECT, QUEUE, new("claimed"), clock())
    await claim_one(storage, clock())
    ids += await storage.messages_post(PROJECT, QUEUE, new("free"), clock())

    await storage.messages_delete(PROJECT, QUEUE, ids, None, clock())

    assert await listed(storage, clock()) == []


async def test_bulk_delete_with_claim_ids_removes_only_messages_they_hold(
    storage: Storage, clock: FakeClock
) -> None:
    # Given messages under claims X and Y, a free one, and one under a claim Z that expired
    ids = await storage.messages_post(PROJECT, QUEUE, new("z"), clock())
    expired = await storage.claim_create(PROJECT, QUEUE, 10, 0, 1, clock())
    assert expired is not None
    ids += await storage.messages_post(PROJECT, QUEUE, new("x"), clock())
    x = await claim_one(storage, clock())
    ids += await storage.messages_post(PROJECT, QUEUE, new("y"), clock())
    y = await claim_one(storage, clock())
    ids += await storage.messages_post(PROJECT, QUEUE, new("free"), clock())
    clock.advance(10)
    # When all of them are deleted, naming claims X, Z and one that never existed
    await storage.messages_delete(PROJECT, QUEUE, ids, [x, expired.id, "unknown"], clock())
    # Then only the message held by the live claim X is gone
    assert sorted(await listed(storage, clock())) == ["free", "y", "z"]
    claim = await storage.claim_get(PROJECT, QUEUE, y, clock())
    assert claim is not None
    assert bodies(claim.messages) == ["y"]


async def test_bulk_delete_of_nothing_is_no_error(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("kept"), clock())

    await storage.messages_delete(PROJECT, QUEUE, [], None, clock())
    await storage.messages_delete(PROJECT, "nowhere", ["unknown"], ["unknown"], clock())

    assert await listed(storage, clock()) == ["kept"]


# Pop


async def test_pop_removes_and_returns_the_oldest_messages(
    storage: Storage, clock: FakeClock, post_order: PostOrderOf
) -> None:
    # Given four messages
    await storage.messages_post(PROJECT, QUEUE, new("a", "b", "c", "d"), clock())
    # When two are popped, twice, then once more
    first = await storage.messages_pop(PROJECT, QUEUE, 2, clock())
    second = await storage.messages_pop(PROJECT, QUEUE, 2, clock())
    third = await storage.messages_pop(PROJECT, QUEUE, 2, clock())
    # Then they come each once (oldest first on FIFO drivers), and the queue ends empty
    assert (len(first), len(second), third) == (2, 2, [])
    assert bodies(first + second) == post_order("a", "b", "c", "d")
    assert await listed(storage, clock()) == []


async def test_pop_skips_claimed_and_delayed_messages(storage: Storage, clock: FakeClock) -> None:
    # Given a claimed, a delayed and a free message
    await storage.messages_post(PROJECT, QUEUE, new("claimed"), clock())
    await claim_one(storage, clock())
    await storage.messages_post(PROJECT, QUEUE, new("delayed", delay=30), clock())
    await storage.messages_post(PROJECT, QUEUE, new("free"), clock())
    # When everything is popped
    popped = await storage.messages_pop(PROJECT, QUEUE, 10, clock())
    # Then only the free message came out
    assert bodies(popped) == ["free"]
    assert sorted(await listed(storage, clock())) == ["claimed", "delayed"]


async def test_pop_skips_expired_messages(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("expired", ttl=10), clock())
    clock.advance(10)

    assert await storage.messages_pop(PROJECT, QUEUE, 10, clock()) == []


async def test_pop_of_a_missing_queue_is_empty(storage: Storage, clock: FakeClock) -> None:
    assert await storage.messages_pop(PROJECT, "nowhere", 10, clock()) == []


# Move


async def test_move_takes_messages_to_a_new_queue(storage: Storage, clock: FakeClock) -> None:
    # Given three messages
    ids = await storage.messages_post(PROJECT, QUEUE, new("a", "b", "c"), clock())
    # When two are moved to a queue that does not exist yet
    await storage.messages_move(PROJECT, QUEUE, [ids[0], ids[2]], "dlq", None, clock())
    # Then the target was created and holds them, and the source keeps only the other
    assert await storage.queue_get_metadata(PROJECT, "dlq") == {}
    moved, _ = await storage.messages_list(PROJECT, "dlq", everything(), clock())
    assert sorted(bodies(moved)) == ["a", "c"]
    assert await listed(storage, clock()) == ["b"]


async def test_move_keeps_post_order(
    storage: Storage, clock: FakeClock, post_order: PostOrderOf
) -> None:
    ids = await storage.messages_post(PROJECT, QUEUE, new(*range(5)), clock())

    await storage.messages_move(PROJECT, QUEUE, list(reversed(ids)), "dlq", None, clock())

    moved, _ = await storage.messages_list(PROJECT, "dlq", everything(), clock())
    assert bodies(moved) == post_order(0, 1, 2, 3, 4)


async def test_move_keeps_body_client_and_expiry_without_a_ttl(
    storage: Storage, clock: FakeClock
) -> None:
    [message_id] = await storage.messages_post(PROJECT, QUEUE, new({"k": "v"}, ttl=60), clock())
    [before] = await storage.messages_get(PROJECT, QUEUE, [message_id], clock())
    clock.advance(10)

    await storage.messages_move(PROJECT, QUEUE, [message_id], "dlq", None, clock())

    [after], _ = await storage.messages_list(PROJECT, "dlq", everything(), clock())
    assert (after.body, after.client_id, after.expires) == ({"k": "v"}, PRODUCER, before.expires)


async def test_move_with_a_ttl_sets_a_new_expiry(storage: Storage, clock: FakeClock) -> None:
    # Given a message with 60 seconds to live, 50 of which have passed
    [message_id] = await storage.messages_post(PROJECT, QUEUE, new("old", ttl=60), clock())
    clock.advance(50)
    # When it is moved with a ttl of 100 seconds
    await storage.messages_move(PROJECT, QUEUE, [message_id], "dlq", 100, clock())
    # Then it expires 100 seconds from now, not 10
    [moved], _ = await storage.messages_list(PROJECT, "dlq", everything(), clock())
    assert moved.expires == clock() + 100
    clock.advance(99)
    assert len((await storage.messages_list(PROJECT, "dlq", everything(), clock()))[0]) == 1
    clock.advance(1)
    assert await storage.messages_list(PROJECT, "dlq", everything(), clock()) == ([], None)


async def test_move_resets_the_claim(storage: Storage, clock: FakeClock) -> None:
    # Given a message claimed twice, still under its second claim
    [message_id] = await storage.messages_post(PROJECT, QUEUE, new("poison"), clock())
    await storage.claim_release(PROJECT, QUEUE, await claim_one(storage, clock()))
    claim_id = await claim_one(storage, clock())
    # When it is moved
    await storage.messages_move(PROJECT, QUEUE, [message_id], "dlq", None, clock())
    # Then in the target it is free, with a claim count of zero
    [moved], _ = await storage.messages_list(PROJECT, "dlq", MessageFilter(CONSUMER), clock())
    assert (moved.claim_id, moved.claim_count, moved.is_claimed(clock())) == (None, 0, False)
    dlq_claim = await storage.claim_create(PROJECT, "dlq", 60, 60, 10, clock())
    assert dlq_claim is not None
    assert bodies(dlq_claim.messages) == ["poison"]
    # And the old claim no longer holds it
    old_claim = await storage.claim_get(PROJECT, QUEUE, claim_id, clock())
    assert old_claim is None or old_claim.messages == []


async def test_move_leaves_expired_and_unknown_messages_alone(
    storage: Storage, clock: FakeClock
) -> None:
    # Given a message that has expired
    [expired] = await storage.messages_post(PROJECT, QUEUE, new("expired", ttl=10), clock())
    clock.advance(10)
    # When it and an unknown id are moved with a fresh ttl
    await storage.messages_move(PROJECT, QUEUE, [expired, "unknown"], "dlq", 300, clock())
    # Then nothing came back to life in the target
    assert await storage.messages_list(PROJECT, "dlq", everything(), clock()) == ([], None)
    assert await storage.messages_get(PROJECT, "dlq", [expired], clock()) == []
