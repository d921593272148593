"""Contract: claims are created, read, renewed, released and expire; gc collects the dead."""

from __future__ import annotations

from tests.messages import new
from tests.ordering import PostOrderOf
from tidings.clock import FakeClock
from tidings.models import JSON, Message, MessageFilter
from tidings.storage.base import Storage

PROJECT = "project-a"
QUEUE = "fizbit"
CONSUMER = "5c6d8a2e-2b9e-11e3-b191-71861300734c"


def bodies(messages: list[Message]) -> list[JSON]:
    return [message.body for message in messages]


async def free_bodies(storage: Storage, now: float) -> list[JSON]:
    messages, _ = await storage.messages_list(PROJECT, QUEUE, MessageFilter(CONSUMER), now)
    return bodies(messages)


async def get(storage: Storage, message_id: str, now: float) -> Message:
    [message] = await storage.messages_get(PROJECT, QUEUE, [message_id], now)
    return message


# Create


async def test_a_claim_holds_up_to_limit_messages(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new(*range(5)), clock())

    claim = await storage.claim_create(PROJECT, QUEUE, 60, 30, 3, clock())

    assert claim is not None
    assert (claim.queue, claim.created, claim.expires) == (QUEUE, clock(), clock() + 60)
    assert (claim.ttl, claim.age(clock())) == (60, 0)
    assert len(claim.messages) == 3
    assert all(m.claim_id == claim.id and m.is_claimed(clock()) for m in claim.messages)


async def test_a_claim_takes_the_oldest_messages_first(
    storage: Storage, clock: FakeClock, post_order: PostOrderOf
) -> None:
    for body in ["a", "b", "c", "d"]:
        await storage.messages_post(PROJECT, QUEUE, new(body), clock())

    first = await storage.claim_create(PROJECT, QUEUE, 60, 30, 2, clock())
    second = await storage.claim_create(PROJECT, QUEUE, 60, 30, 2, clock())

    assert first is not None
    assert second is not None
    assert (len(first.messages), len(second.messages)) == (2, 2)
    assert bodies(first.messages + second.messages) == post_order("a", "b", "c", "d")


async def test_a_message_is_never_in_two_live_claims(storage: Storage, clock: FakeClock) -> None:
    # Given three messages
    ids = await storage.messages_post(PROJECT, QUEUE, new("a", "b", "c"), clock())
    # When claims of two are made until nothing is left
    first = await storage.claim_create(PROJECT, QUEUE, 60, 30, 2, clock())
    second = await storage.claim_create(PROJECT, QUEUE, 60, 30, 2, clock())
    third = await storage.claim_create(PROJECT, QUEUE, 60, 30, 2, clock())
    # Then the first two split the messages between them and the third gets nothing
    assert first is not None
    assert second is not None
    assert third is None
    assert (len(first.messages), len(second.messages)) == (2, 1)
    assert sorted(m.id for m in first.messages + second.messages) == sorted(ids)


async def test_claiming_counts_claims(storage: Storage, clock: FakeClock) -> None:
    # Given a message claimed and released twice
    [message_id] = await storage.messages_post(PROJECT, QUEUE, new("again"), clock())
    for _ in range(2):
        claim = await storage.claim_create(PROJECT, QUEUE, 60, 30, 1, clock())
        assert claim is not None
        await storage.claim_release(PROJECT, QUEUE, claim.id)
    # When it is claimed a third time
    third = await storage.claim_create(PROJECT, QUEUE, 60, 30, 1, clock())
    # Then its claim count is three
    assert third is not None
    assert [m.claim_count for m in third.messages] == [3]
    assert (await get(storage, message_id, clock())).claim_count == 3


async def test_a_claim_extends_the_message_life_to_its_end_plus_grace(
    storage: Storage, clock: FakeClock
) -> None:
    # Given a message with 60 seconds to live
    [message_id] = await storage.messages_post(PROJECT, QUEUE, new("short", ttl=60), clock())
    # When it is claimed for 100 seconds with a grace of 30
    claim = await storage.claim_create(PROJECT, QUEUE, 100, 30, 1, clock())
    # Then it lives until 130 seconds from now
    assert claim is not None
    assert [m.expires for m in claim.messages] == [clock() + 130]
    assert (await get(storage, message_id, clock())).expires == clock() + 130
    clock.advance(129)
    assert await storage.messages_get(PROJECT, QUEUE, [message_id], clock()) != []
    clock.advance(1)
    assert await storage.messages_get(PROJECT, QUEUE, [message_id], clock()) == []


async def test_a_claim_never_shortens_a_message_life(storage: Storage, clock: FakeClock) -> None:
    [message_id] = await storage.messages_post(PROJECT, QUEUE, new("long", ttl=1000), clock())

    assert await storage.claim_create(PROJECT, QUEUE, 10, 10, 1, clock()) is not None

    assert (await get(storage, message_id, clock())).expires == clock() + 1000


async def test_a_claim_extends_only_the_messages_that_would_end_before_it(
    storage: Storage, clock: FakeClock
) -> None:
    # Given messages with 60, 1000 and 90 seconds to live
    ids = [
        (await storage.messages_post(PROJECT, QUEUE, new(body, ttl=ttl), clock()))[0]
        for body, ttl in (("short", 60), ("long", 1000), ("shorter", 90))
    ]
    # When all three are claimed for 100 seconds with a grace of 30
    claim = await storage.claim_create(PROJECT, QUEUE, 100, 30, 3, clock())
    # Then the two short ones live until 130 seconds from now, the long one as before
    assert claim is not None
    expected = [clock() + 130, clock() + 1000, clock() + 130]
    assert [m.id for m in claim.messages] == ids
    assert [m.expires for m in claim.messages] == expected
    assert [(await get(storage, one, clock())).expires for one in ids] == expected


async def test_nothing_to_claim_gives_none(storage: Storage, clock: FakeClock) -> None:
    # Given a missing queue, an empty one, and one with only delayed and expired messages
    await storage.queue_create(PROJECT, "empty", {}, clock())
    await storage.messages_post(PROJECT, QUEUE, new("delayed", delay=30), clock())
    await storage.messages_post(PROJECT, QUEUE, new("expired", ttl=10), clock())
    clock.advance(10)
    # When claims are made
    # Then there is nothing to claim
    assert await storage.claim_create(PROJECT, "nowhere", 60, 30, 10, clock()) is None
    assert await storage.claim_create(PROJECT, "empty", 60, 30, 10, clock()) is None
    assert await storage.claim_create(PROJECT, QUEUE, 60, 30, 10, clock()) is None


async def test_a_delayed_message_is_claimable_once_its_delay_passed(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("delayed", delay=30), clock())

    clock.advance(30)
    claim = await storage.claim_create(PROJECT, QUEUE, 60, 30, 10, clock())

    assert claim is not None
    assert bodies(claim.messages) == ["delayed"]


async def test_delayed_messages_are_claimed_once_their_delay_passed_in_post_order(
    storage: Storage, clock: FakeClock, post_order: PostOrderOf
) -> None:
    # Given one post of 24 messages, every third delayed by 30 seconds
    posted = [new(n, delay=30 if n % 3 == 0 else 0)[0] for n in range(24)]
    await storage.messages_post(PROJECT, QUEUE, posted, clock())

    async def claimed(claims: int) -> list[JSON]:
        taken: list[JSON] = []
        for _ in range(claims):
            claim = await storage.claim_create(PROJECT, QUEUE, 300, 60, 4, clock())
            taken += [] if claim is None else bodies(claim.messages)
        return taken

    # When three claims of 4 take messages while the delay goes on
    before = await claimed(2)
    clock.advance(29)
    before += await claimed(1)
    # Then they take the first twelve undelayed ones
    assert before == post_order(*[n for n in range(24) if n % 3][:12])

    # When the rest are claimed once it passed, Then each comes back once, in post order
    clock.advance(1)
    assert await claimed(5) == post_order(*(n for n in range(24) if n not in before))


async def test_an_expired_claim_frees_its_messages(storage: Storage, clock: FakeClock) -> None:
    # Given a message under a 60 second claim
    await storage.messages_post(PROJECT, QUEUE, new("retry me"), clock())
    old = await storage.claim_create(PROJECT, QUEUE, 60, 30, 10, clock())
    assert old is not None
    # When 59 seconds pass, and then one more
    clock.advance(59)
    too_early = await storage.claim_create(PROJECT, QUEUE, 60, 30, 10, clock())
    clock.advance(1)
    new_claim = await storage.claim_create(PROJECT, QUEUE, 60, 30, 10, clock())
    # Then the message can be claimed again only after the old claim ended
    assert too_early is None
    assert new_claim is not None
    assert bodies(new_claim.messages) == ["retry me"]
    assert new_claim.id != old.id
    assert await storage.claim_get(PROJECT, QUEUE, old.id, clock()) is None


# Get


async def test_get_returns_the_live_claim_and_its_messages(
    storage: Storage, clock: FakeClock
) -> None:
    # Given a claim on two messages, ten seconds ago
    await storage.messages_post(PROJECT, QUEUE, new("a", "b"), clock())
    made = await storage.claim_create(PROJECT, QUEUE, 60, 30, 10, clock())
    assert made is not None
    clock.advance(10)
    # When it is read
    claim = await storage.claim_get(PROJECT, QUEUE, made.id, clock())
    # Then it is the same claim, with its messages
    assert claim is not None
    assert (claim.id, claim.queue, claim.created, claim.expires) == (
        made.id,
        QUEUE,
        made.created,
        made.expires,
    )
    assert claim.age(clock()) == 10
    assert sorted(m.id for m in claim.messages) == sorted(m.id for m in made.messages)


async def test_get_of_an_unknown_claim_is_none(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock())

    assert await storage.claim_get(PROJECT, QUEUE, "unknown", clock()) is None
    assert await storage.claim_get(PROJECT, "nowhere", "unknown", clock()) is None


async def test_get_of_an_expired_claim_is_none(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock())
    claim = await storage.claim_create(PROJECT, QUEUE, 60, 30, 10, clock())
    assert claim is not None

    clock.advance(60)

    assert await storage.claim_get(PROJECT, QUEUE, claim.id, clock()) is None


async def test_a_deleted_message_leaves_its_claim(storage: Storage, clock: FakeClock) -> None:
    [done, _] = await storage.messages_post(PROJECT, QUEUE, new("done", "pending"), clock())
    claim = await storage.claim_create(PROJECT, QUEUE, 60, 30, 10, clock())
    assert claim is not None

    await storage.message_delete(PROJECT, QUEUE, done, claim.id, clock())

    still = await storage.claim_get(PROJECT, QUEUE, claim.id, clock())
    assert still is not None
    assert bodies(still.messages) == ["pending"]


# Renew


async def test_renew_extends_the_claim_and_its_messages(storage: Storage, clock: FakeClock) -> None:
    # Given a message with 60 seconds to live, claimed for 30 seconds, 20 seconds ago
    [message_id] = await storage.messages_post(PROJECT, QUEUE, new("slow", ttl=60), clock())
    claim = await storage.claim_create(PROJECT, QUEUE, 30, 0, 1, clock())
    assert claim is not None
    clock.advance(20)
    # When the claim is renewed for 100 seconds with a grace of 50
    renewed = await storage.claim_renew(PROJECT, QUEUE, claim.id, 100, 50, clock())
    # Then the claim ends 100 seconds from now and the message lives 50 more
    assert renewed is True
    after = await storage.claim_get(PROJECT, QUEUE, claim.id, clock())
    assert after is not None
    assert (after.expires, after.ttl) == (clock() + 100, 100)
    message = await get(storage, message_id, clock())
    assert (message.claim_id, message.claim_expires) == (claim.id, clock() + 100)
    assert message.expires == clock() + 150


async def test_a_renewed_claim_outlives_its_first_expiry(
    storage: Storage, clock: FakeClock
) -> None:
    # Given a 30 second claim renewed for 60 seconds after 20
    await storage.messages_post(PROJECT, QUEUE, new("slow"), clock())
    claim = await storage.claim_create(PROJECT, QUEUE, 30, 30, 1, clock())
    assert claim is not None
    clock.advance(20)
    assert await storage.claim_renew(PROJECT, QUEUE, claim.id, 60, 30, clock()) is True
    # When the first expiry has passed
    clock.advance(30)
    # Then the claim still holds the message
    assert await storage.claim_get(PROJECT, QUEUE, claim.id, clock()) is not None
    assert await storage.claim_create(PROJECT, QUEUE, 60, 30, 10, clock()) is None
    assert await free_bodies(storage, clock()) == []


async def test_renew_of_an_unknown_claim_is_false(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock())

    assert await storage.claim_renew(PROJECT, QUEUE, "unknown", 60, 30, clock()) is False
    assert await storage.claim_renew(PROJECT, "nowhere", "unknown", 60, 30, clock()) is False


async def test_renew_of_an_expired_claim_is_false_and_changes_nothing(
    storage: Storage, clock: FakeClock
) -> None:
    # Given a claim that has expired
    [message_id] = await storage.messages_post(PROJECT, QUEUE, new("a"), clock())
    claim = await storage.claim_create(PROJECT, QUEUE, 60, 30, 1, clock())
    assert claim is not None
    clock.advance(60)
    # When it is renewed
    renewed = await storage.claim_renew(PROJECT, QUEUE, claim.id, 60, 30, clock())
    # Then that fails and its message stays free
    assert renewed is False
    assert await storage.claim_get(PROJECT, QUEUE, claim.id, clock()) is None
    assert not (await get(storage, message_id, clock())).is_claimed(clock())


# Release


async def test_release_frees_the_messages_at_once(storage: Storage, clock: FakeClock) -> None:
    # Given a claim on two messages
    await storage.messages_post(PROJECT, QUEUE, new("a", "b"), clock())
    claim = await storage.claim_create(PROJECT, QUEUE, 60, 30, 10, clock())
    assert claim is not None
    # When it is released
    await storage.claim_release(PROJECT, QUEUE, claim.id)
    # Then it is gone and both messages are free to list and claim again, without waiting
    assert await storage.claim_get(PROJECT, QUEUE, claim.id, clock()) is None
    assert sorted(await free_bodies(storage, clock())) == ["a", "b"]
    again = await storage.claim_create(PROJECT, QUEUE, 60, 30, 10, clock())
    assert again is not None
    assert sorted(bodies(again.messages)) == ["a", "b"]


async def test_release_leaves_other_claims_alone(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock())
    released = await storage.claim_create(PROJECT, QUEUE, 60, 30, 1, clock())
    await storage.messages_post(PROJECT, QUEUE, new("b"), clock())
    kept = await storage.claim_create(PROJECT, QUEUE, 60, 30, 1, clock())
    assert released is not None
    assert kept is not None

    await storage.claim_release(PROJECT, QUEUE, released.id)

    still = await storage.claim_get(PROJECT, QUEUE, kept.id, clock())
    assert still is not None
    assert bodies(still.messages) == ["b"]
    assert await free_bodies(storage, clock()) == ["a"]


async def test_release_of_an_unknown_or_expired_claim_is_no_error(
    storage: Storage, clock: FakeClock
) -> None:
    # Given a claim that expired, after which its message was claimed again
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock())
    expired = await storage.claim_create(PROJECT, QUEUE, 60, 30, 1, clock())
    assert expired is not None
    clock.advance(60)
    live = await storage.claim_create(PROJECT, QUEUE, 60, 30, 1, clock())
    assert live is not None
    # When the expired claim and unknown ones are released
    await storage.claim_release(PROJECT, QUEUE, expired.id)
    await storage.claim_release(PROJECT, QUEUE, "unknown")
    await storage.claim_release(PROJECT, "nowhere", "unknown")
    # Then the live claim still holds the message
    still = await storage.claim_get(PROJECT, QUEUE, live.id, clock())
    assert still is not None
    assert bodies(still.messages) == ["a"]


# GC


async def test_gc_drops_expired_messages_and_claims_and_keeps_live_ones(
    storage: Storage, clock: FakeClock
) -> None:
    # Given a message living 60 s under a 30 s claim, a message living 600 s under a 600 s
    # claim, and a free message living 600 s
    [short] = await storage.messages_post(PROJECT, QUEUE, new("short", ttl=60), clock())
    dead = await storage.claim_create(PROJECT, QUEUE, 30, 0, 1, clock())
    [held] = await storage.messages_post(PROJECT, QUEUE, new("held", ttl=600), clock())
    live = await storage.claim_create(PROJECT, QUEUE, 600, 0, 1, clock())
    [free] = await storage.messages_post(PROJECT, QUEUE, new("free", ttl=600), clock())
    assert dead is not None
    assert live is not None
    # When gc runs after 60 seconds, and again
    clock.advance(60)
    removed = await storage.gc(clock())
    removed_again = await storage.gc(clock())
    # Then the expired message and claim were removed, once, and the rest is intact
    assert (removed, removed_again) == (2, 0)
    live_ids = {
        m.id for m in await storage.messages_get(PROJECT, QUEUE, [short, held, free], clock())
    }
    assert live_ids == {held, free}
    still = await storage.claim_get(PROJECT, QUEUE, live.id, clock())
    assert still is not None
    assert [m.id for m in still.messages] == [held]


async def test_gc_of_nothing_expired_removes_nothing(storage: Storage, clock: FakeClock) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a", "b"), clock())
    await storage.claim_create(PROJECT, QUEUE, 60, 30, 1, clock())

    assert await storage.gc(clock()) == 0
    assert (await storage.queue_stats(PROJECT, QUEUE, clock())).total == 2


async def test_gc_spans_projects_and_queues(storage: Storage, clock: FakeClock) -> None:
    for project, queue in [(PROJECT, QUEUE), (PROJECT, "other"), ("project-b", QUEUE)]:
        await storage.messages_post(project, queue, new("short", ttl=10), clock())

    clock.advance(10)

    assert await storage.gc(clock()) == 3
