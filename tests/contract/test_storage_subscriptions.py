"""Contract: subscriptions are created once per subscriber and source, read, listed, updated,
confirmed, deleted, purged, expire with the clock, and are isolated by project and source."""

from __future__ import annotations

import uuid

import pytest

from tidings import errors
from tidings.clock import FakeClock
from tidings.models import JSON, PostContext, Subscription
from tidings.storage.base import Storage, topic_space

PROJECT = "project-a"
OTHER_PROJECT = "project-b"
QUEUE = "fizbit"
OTHER_QUEUE = "other"
HOOK = "http://example.com/hook"
MAIL = "mailto:ops@example.com"
SECRET = "s3cret"


async def subscribe(
    storage: Storage,
    now: float,
    subscriber: str = HOOK,
    *,
    project: str = PROJECT,
    source: str = QUEUE,
    ttl: int = 3600,
    options: dict[str, JSON] | None = None,
) -> Subscription:
    subscription, created = await storage.subscription_create(
        project, source, subscriber, ttl, options or {}, SECRET, now
    )
    assert created
    return subscription


def ids(subscriptions: list[Subscription]) -> list[str]:
    return [subscription.id for subscription in subscriptions]


# Create and read


async def test_create_returns_the_new_subscription(storage: Storage, clock: FakeClock) -> None:
    now = clock()
    options = {"post_headers": {"X-A": "1"}, "n": [1, 2.5, None]}

    subscription, created = await storage.subscription_create(
        PROJECT, QUEUE, HOOK, 600, options, SECRET, now
    )

    assert created
    assert str(uuid.UUID(subscription.id)) == subscription.id
    assert subscription == Subscription(
        id=subscription.id,
        source=QUEUE,
        subscriber=HOOK,
        created=now,
        expires=now + 600,
        ttl=600,
        options=options,
        confirmed=False,
        secret=SECRET,
    )
    clock.advance(30)
    assert subscription.age(clock()) == 30


async def test_a_created_subscription_reads_back_as_created(
    storage: Storage, clock: FakeClock
) -> None:
    created = await subscribe(storage, clock(), options={"from": "me@example.com"})

    clock.advance(5)

    assert await storage.subscription_get(PROJECT, QUEUE, created.id, clock()) == created


async def test_get_of_an_unknown_subscription_is_none(storage: Storage, clock: FakeClock) -> None:
    assert await storage.subscription_get(PROJECT, QUEUE, str(uuid.uuid4()), clock()) is None


async def test_the_same_subscriber_again_returns_the_live_subscription_unchanged(
    storage: Storage, clock: FakeClock
) -> None:
    first = await subscribe(storage, clock(), options={"a": 1})
    clock.advance(10)

    again, created = await storage.subscription_create(
        PROJECT, QUEUE, HOOK, 60, {"b": 2}, "other-secret", clock()
    )

    assert not created
    assert again == first
    assert ids(await storage.subscribers(PROJECT, QUEUE, clock())) == [first.id]


async def test_a_confirmed_subscription_is_returned_confirmed_when_subscribed_again(
    storage: Storage, clock: FakeClock
) -> None:
    first = await subscribe(storage, clock())
    await storage.subscription_confirm(PROJECT, QUEUE, first.id, True, clock())

    again, created = await storage.subscription_create(
        PROJECT, QUEUE, HOOK, 60, {}, SECRET, clock()
    )

    assert (created, again.id, again.confirmed) == (False, first.id, True)


async def test_one_subscriber_may_subscribe_to_several_sources(
    storage: Storage, clock: FakeClock
) -> None:
    first = await subscribe(storage, clock())
    second = await subscribe(storage, clock(), source=OTHER_QUEUE)

    assert first.id != second.id
    assert second.source == OTHER_QUEUE


async def test_a_subscription_needs_no_existing_queue_and_creates_none(
    storage: Storage, clock: FakeClock
) -> None:
    await subscribe(storage, clock())

    assert await storage.queue_get_metadata(PROJECT, QUEUE) is None
    assert await storage.queue_count(PROJECT) == 0


# List and subscribers


async def test_list_is_sorted_by_id_and_pages_by_marker(storage: Storage, clock: FakeClock) -> None:
    made = [await subscribe(storage, clock(), f"http://example.com/{n}") for n in range(5)]
    expected = sorted(ids(made))

    first = await storage.subscription_list(PROJECT, QUEUE, None, 2, clock())
    second = await storage.subscription_list(PROJECT, QUEUE, first[-1].id, 2, clock())
    third = await storage.subscription_list(PROJECT, QUEUE, second[-1].id, 2, clock())
    rest = await storage.subscription_list(PROJECT, QUEUE, third[-1].id, 2, clock())

    assert ids(first) + ids(second) + ids(third) == expected
    assert rest == []
    assert await storage.subscription_list(PROJECT, QUEUE, None, 10, clock()) == sorted(
        made, key=lambda subscription: subscription.id
    )


async def test_list_of_a_source_without_subscriptions_is_empty(
    storage: Storage, clock: FakeClock
) -> None:
    assert await storage.subscription_list(PROJECT, QUEUE, None, 10, clock()) == []
    assert await storage.subscribers(PROJECT, QUEUE, clock()) == []


async def test_subscribers_are_every_live_subscription_confirmed_or_not(
    storage: Storage, clock: FakeClock
) -> None:
    hook = await subscribe(storage, clock())
    mail = await subscribe(storage, clock(), MAIL)
    short = await subscribe(storage, clock(), "queue:elsewhere", ttl=60)
    await storage.subscription_confirm(PROJECT, QUEUE, mail.id, True, clock())

    assert ids(await storage.subscribers(PROJECT, QUEUE, clock())) == sorted(
        [hook.id, mail.id, short.id]
    )
    clock.advance(60)
    live = await storage.subscribers(PROJECT, QUEUE, clock())
    assert ids(live) == sorted([hook.id, mail.id])
    assert {subscription.id: subscription.confirmed for subscription in live} == {
        hook.id: False,
        mail.id: True,
    }


async def test_a_posts_context_is_the_queues_metadata_and_live_subscribers(
    storage: Storage, clock: FakeClock
) -> None:
    assert await storage.post_context(PROJECT, QUEUE, clock()) == PostContext(None, [])
    hook = await subscribe(storage, clock())
    assert await storage.post_context(PROJECT, QUEUE, clock()) == PostContext(None, [hook])

    await storage.queue_create(PROJECT, QUEUE, {"a": 1}, clock())
    mail = await subscribe(storage, clock(), MAIL)
    await subscribe(storage, clock(), "queue:elsewhere", ttl=60)
    await subscribe(storage, clock(), source=OTHER_QUEUE)
    await subscribe(storage, clock(), project=OTHER_PROJECT)
    clock.advance(60)

    context = await storage.post_context(PROJECT, QUEUE, clock())
    assert context.metadata == {"a": 1}
    assert ids(context.subscribers) == sorted([hook.id, mail.id])
    assert context.subscribers == await storage.subscribers(PROJECT, QUEUE, clock())


# Update


async def test_update_changes_the_given_fields_only(storage: Storage, clock: FakeClock) -> None:
    made = await subscribe(storage, clock(), options={"a": 1})

    changed = await storage.subscription_update(PROJECT, QUEUE, made.id, clock(), subscriber=MAIL)

    assert changed is not None
    assert (changed.subscriber, changed.options, changed.expires) == (MAIL, {"a": 1}, made.expires)
    assert await storage.subscription_get(PROJECT, QUEUE, made.id, clock()) == changed


async def test_update_replaces_the_options_without_merging(
    storage: Storage, clock: FakeClock
) -> None:
    made = await subscribe(storage, clock(), options={"a": 1, "b": 2})

    changed = await storage.subscription_update(PROJECT, QUEUE, made.id, clock(), options={"c": 3})

    assert changed is not None
    assert changed.options == {"c": 3}
    stored = await storage.subscription_get(PROJECT, QUEUE, made.id, clock())
    assert stored is not None
    assert stored.options == {"c": 3}


async def test_update_of_the_ttl_counts_from_now_and_keeps_the_creation_time(
    storage: Storage, clock: FakeClock
) -> None:
    made = await subscribe(storage, clock(), ttl=100)
    clock.advance(90)

    changed = await storage.subscription_update(PROJECT, QUEUE, made.id, clock(), ttl=200)

    assert changed is not None
    assert (changed.created, changed.expires, changed.ttl) == (made.created, clock() + 200, 200)
    clock.advance(50)
    kept = await storage.subscription_get(PROJECT, QUEUE, made.id, clock())
    assert kept == changed
    assert kept.age(clock()) == 140


async def test_an_update_without_a_ttl_keeps_the_ttl(storage: Storage, clock: FakeClock) -> None:
    made = await subscribe(storage, clock(), ttl=100)
    await storage.subscription_update(PROJECT, QUEUE, made.id, clock(), ttl=300)
    clock.advance(10)

    changed = await storage.subscription_update(PROJECT, QUEUE, made.id, clock(), options={"a": 1})

    assert changed is not None
    assert (changed.ttl, changed.expires) == (300, made.created + 300)
    assert await storage.subscription_get(PROJECT, QUEUE, made.id, clock()) == changed


async def test_update_of_an_absent_subscription_is_none(storage: Storage, clock: FakeClock) -> None:
    made = await subscribe(storage, clock(), ttl=60)

    unknown = await storage.subscription_update(PROJECT, QUEUE, str(uuid.uuid4()), clock(), ttl=60)
    clock.advance(60)
    expired = await storage.subscription_update(PROJECT, QUEUE, made.id, clock(), ttl=60)

    assert (unknown, expired) == (None, None)


async def test_update_to_the_subscriber_of_another_subscription_conflicts(
    storage: Storage, clock: FakeClock
) -> None:
    hook = await subscribe(storage, clock())
    mail = await subscribe(storage, clock(), MAIL)

    with pytest.raises(errors.Conflict):
        await storage.subscription_update(PROJECT, QUEUE, mail.id, clock(), subscriber=HOOK)

    assert await storage.subscription_get(PROJECT, QUEUE, mail.id, clock()) == mail
    assert await storage.subscription_get(PROJECT, QUEUE, hook.id, clock()) == hook


async def test_update_to_its_own_subscriber_does_not_conflict(
    storage: Storage, clock: FakeClock
) -> None:
    made = await subscribe(storage, clock())

    changed = await storage.subscription_update(
        PROJECT, QUEUE, made.id, clock(), subscriber=HOOK, options={"x": 1}
    )

    assert changed is not None
    assert changed.options == {"x": 1}


async def test_update_to_the_subscriber_of_an_expired_subscription_succeeds(
    storage: Storage, clock: FakeClock
) -> None:
    await subscribe(storage, clock(), ttl=60)
    mail = await subscribe(storage, clock(), MAIL)
    clock.advance(60)

    changed = await storage.subscription_update(PROJECT, QUEUE, mail.id, clock(), subscriber=HOOK)

    assert changed is not None
    assert changed.subscriber == HOOK
    assert ids(await storage.subscribers(PROJECT, QUEUE, clock())) == [mail.id]


async def test_a_freed_subscriber_can_subscribe_again(storage: Storage, clock: FakeClock) -> None:
    made = await subscribe(storage, clock())
    await storage.subscription_update(PROJECT, QUEUE, made.id, clock(), subscriber=MAIL)

    again = await subscribe(storage, clock())

    assert again.id != made.id
    assert ids(await storage.subscribers(PROJECT, QUEUE, clock())) == sorted([made.id, again.id])


async def test_a_subscriber_in_another_source_does_not_conflict(
    storage: Storage, clock: FakeClock
) -> None:
    await subscribe(storage, clock(), source=OTHER_QUEUE)
    mail = await subscribe(storage, clock(), MAIL)

    changed = await storage.subscription_update(PROJECT, QUEUE, mail.id, clock(), subscriber=HOOK)

    assert changed is not None
    assert changed.subscriber == HOOK


# Confirm


async def test_confirm_sets_and_clears_the_flag(storage: Storage, clock: FakeClock) -> None:
    made = await subscribe(storage, clock())

    confirmed = await storage.subscription_confirm(PROJECT, QUEUE, made.id, True, clock())
    stored = await storage.subscription_get(PROJECT, QUEUE, made.id, clock())
    cleared = await storage.subscription_confirm(PROJECT, QUEUE, made.id, False, clock())

    assert confirmed is not None
    assert confirmed.confirmed
    assert stored == confirmed
    assert cleared is not None
    assert not cleared.confirmed
    assert await storage.subscription_get(PROJECT, QUEUE, made.id, clock()) == cleared


async def test_confirm_of_an_absent_or_expired_subscription_is_none(
    storage: Storage, clock: FakeClock
) -> None:
    made = await subscribe(storage, clock(), ttl=60)
    unknown = await storage.subscription_confirm(PROJECT, QUEUE, str(uuid.uuid4()), True, clock())
    clock.advance(60)

    expired = await storage.subscription_confirm(PROJECT, QUEUE, made.id, True, clock())

    assert (unknown, expired) == (None, None)


# Delete and purge


async def test_delete_removes_one_subscription(storage: Storage, clock: FakeClock) -> None:
    hook = await subscribe(storage, clock())
    mail = await subscribe(storage, clock(), MAIL)

    await storage.subscription_delete(PROJECT, QUEUE, hook.id)

    assert await storage.subscription_get(PROJECT, QUEUE, hook.id, clock()) is None
    assert ids(await storage.subscribers(PROJECT, QUEUE, clock())) == [mail.id]
    again = await subscribe(storage, clock())
    assert again.id != hook.id


async def test_delete_of_an_absent_subscription_is_no_error(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.subscription_delete(PROJECT, QUEUE, str(uuid.uuid4()))


async def test_purge_deletes_every_subscription_of_the_source_only(
    storage: Storage, clock: FakeClock
) -> None:
    await subscribe(storage, clock())
    await subscribe(storage, clock(), MAIL)
    kept = await subscribe(storage, clock(), source=OTHER_QUEUE)
    elsewhere = await subscribe(storage, clock(), project=OTHER_PROJECT)

    await storage.subscriptions_purge(PROJECT, QUEUE)

    assert await storage.subscribers(PROJECT, QUEUE, clock()) == []
    assert await storage.subscribers(PROJECT, OTHER_QUEUE, clock()) == [kept]
    assert await storage.subscribers(OTHER_PROJECT, QUEUE, clock()) == [elsewhere]
    await subscribe(storage, clock())


async def test_deleting_the_queue_keeps_its_subscriptions(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.queue_create(PROJECT, QUEUE, {}, clock())
    made = await subscribe(storage, clock())

    await storage.queue_delete(PROJECT, QUEUE)
    await storage.queue_purge(PROJECT, QUEUE)

    assert await storage.subscribers(PROJECT, QUEUE, clock()) == [made]


# Expiry and gc


async def test_an_expired_subscription_is_invisible(storage: Storage, clock: FakeClock) -> None:
    made = await subscribe(storage, clock(), ttl=60)
    clock.advance(59)
    assert await storage.subscription_get(PROJECT, QUEUE, made.id, clock()) == made

    clock.advance(1)

    assert await storage.subscription_get(PROJECT, QUEUE, made.id, clock()) is None
    assert await storage.subscription_list(PROJECT, QUEUE, None, 10, clock()) == []
    assert await storage.subscribers(PROJECT, QUEUE, clock()) == []


async def test_an_expired_subscriber_subscribes_anew(storage: Storage, clock: FakeClock) -> None:
    made = await subscribe(storage, clock(), ttl=60)
    clock.advance(60)

    again = await subscribe(storage, clock(), options={"new": True})

    assert again.id != made.id
    assert again.options == {"new": True}
    assert await storage.subscribers(PROJECT, QUEUE, clock()) == [again]


async def test_gc_removes_expired_subscriptions(storage: Storage, clock: FakeClock) -> None:
    await subscribe(storage, clock(), ttl=60)
    await subscribe(storage, clock(), MAIL, ttl=60, source=OTHER_QUEUE, project=OTHER_PROJECT)
    live = await subscribe(storage, clock(), ttl=600, source=OTHER_QUEUE)
    clock.advance(60)

    assert await storage.gc(clock()) == 2
    assert await storage.gc(clock()) == 0
    assert await storage.subscribers(PROJECT, OTHER_QUEUE, clock()) == [live]
    clock.advance(600)
    assert await storage.gc(clock()) == 1


# Isolation


async def test_subscriptions_are_isolated_by_project_and_source(
    storage: Storage, clock: FakeClock
) -> None:
    made = await subscribe(storage, clock())
    elsewhere = [(OTHER_PROJECT, QUEUE), (PROJECT, OTHER_QUEUE), (topic_space(PROJECT), QUEUE)]

    for project, source in elsewhere:
        assert await storage.subscription_get(project, source, made.id, clock()) is None
        assert await storage.subscription_list(project, source, None, 10, clock()) == []
        assert await storage.subscribers(project, source, clock()) == []
        assert await storage.subscription_confirm(project, source, made.id, True, clock()) is None
        assert await storage.subscription_update(project, source, made.id, clock(), ttl=1) is None
        await storage.subscription_delete(project, source, made.id)
        await storage.subscriptions_purge(project, source)

    assert await storage.subscription_get(PROJECT, QUEUE, made.id, clock()) == made


async def test_the_same_subscriber_is_distinct_in_each_project(
    storage: Storage, clock: FakeClock
) -> None:
    mine = await subscribe(storage, clock())
    theirs = await subscribe(storage, clock(), project=OTHER_PROJECT)
    topic = await subscribe(storage, clock(), project=topic_space(PROJECT))

    assert len({mine.id, theirs.id, topic.id}) == 3
    assert await storage.subscribers(topic_space(PROJECT), QUEUE, clock()) == [topic]


async def test_unusual_project_and_source_names_are_kept_apart(
    storage: Storage, clock: FakeClock
) -> None:
    names = [("p/q", "r"), ("p", "q/r"), ("p:{x}", "caf\u00e9"), ("p\n#topics", "a_b-c")]
    made = {
        name: await subscribe(storage, clock(), project=name[0], source=name[1]) for name in names
    }

    for (project, source), subscription in made.items():
        assert await storage.subscribers(project, source, clock()) == [subscription]
