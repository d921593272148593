"""Contract: a tenant's data is out of reach of every other project and every other queue.

The victim is project A's queue with a claimed and a free message. The intruder addresses either
another project's queue of the same name or another queue of project A, and uses A's message and
claim ids. Whatever it calls, it sees nothing of A's and A's data comes out unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.messages import PRODUCER, new
from tidings import errors
from tidings.clock import FakeClock
from tidings.models import JSON, Claim, Message, MessageFilter, QueueStats
from tidings.storage.base import Storage

PROJECT = "project-a"
QUEUE = "shared-name"

EVERYTHING = MessageFilter(PRODUCER, echo=True, include_claimed=True, include_delayed=True)


@dataclass(frozen=True)
class Tenant:
    """Where the intruder works, and what project A holds."""

    project: str
    queue: str
    message_ids: list[str]
    claim_id: str


@dataclass(frozen=True)
class Snapshot:
    metadata: dict[str, JSON] | None
    messages: list[Message]
    claim: Claim | None


async def snapshot(storage: Storage, claim_id: str, now: float) -> Snapshot:
    messages, _ = await storage.messages_list(PROJECT, QUEUE, EVERYTHING, now)
    return Snapshot(
        metadata=await storage.queue_get_metadata(PROJECT, QUEUE),
        messages=messages,
        claim=await storage.claim_get(PROJECT, QUEUE, claim_id, now),
    )


@pytest.fixture(params=["other-project", "other-queue"])
async def intruder(request: pytest.FixtureRequest, storage: Storage, clock: FakeClock) -> Tenant:
    """Project A's queue with a claimed and a free message; the intruder's address and A's ids."""
    await storage.queue_create(PROJECT, QUEUE, {"owner": "a"}, clock())
    [claimed] = await storage.messages_post(PROJECT, QUEUE, new("a-claimed"), clock())
    claim = await storage.claim_create(PROJECT, QUEUE, 60, 60, 1, clock())
    assert claim is not None
    [free] = await storage.messages_post(PROJECT, QUEUE, new("a-free"), clock())
    if request.param == "other-project":
        return Tenant("project-b", QUEUE, [claimed, free], claim.id)
    return Tenant(PROJECT, "other-queue", [claimed, free], claim.id)


@pytest.fixture
async def before(storage: Storage, clock: FakeClock, intruder: Tenant) -> Snapshot:
    """Project A's data before the intruder acts."""
    taken = await snapshot(storage, intruder.claim_id, clock())
    assert taken.claim is not None
    assert len(taken.messages) == 2
    return taken


async def assert_untouched(
    storage: Storage, clock: FakeClock, intruder: Tenant, before: Snapshot
) -> None:
    assert await snapshot(storage, intruder.claim_id, clock()) == before


# Reading


async def test_the_intruder_sees_no_metadata(storage: Storage, intruder: Tenant) -> None:
    assert await storage.queue_get_metadata(intruder.project, intruder.queue) is None


async def test_the_intruder_sees_no_stats(
    storage: Storage, clock: FakeClock, intruder: Tenant
) -> None:
    assert await storage.queue_stats(intruder.project, intruder.queue, clock()) == QueueStats()


async def test_the_intruder_lists_no_messages(
    storage: Storage, clock: FakeClock, intruder: Tenant
) -> None:
    messages, _ = await storage.messages_list(intruder.project, intruder.queue, EVERYTHING, clock())

    assert messages == []


async def test_the_intruder_gets_no_message_by_id(
    storage: Storage, clock: FakeClock, intruder: Tenant
) -> None:
    got = await storage.messages_get(
        intruder.project, intruder.queue, intruder.message_ids, clock()
    )

    assert got == []


async def test_the_intruder_gets_no_claim_by_id(
    storage: Storage, clock: FakeClock, intruder: Tenant
) -> None:
    assert (
        await storage.claim_get(intruder.project, intruder.queue, intruder.claim_id, clock())
        is None
    )


async def test_another_project_lists_and_counts_no_queues(
    storage: Storage, clock: FakeClock
) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock())

    assert await storage.queue_list("project-b", None, 10) == []
    assert await storage.queue_count("project-b") == 0


async def test_the_intruder_sees_only_its_own_messages(
    storage: Storage, clock: FakeClock, intruder: Tenant
) -> None:
    # Given the intruder's queue holds a message of its own
    [mine] = await storage.messages_post(intruder.project, intruder.queue, new("mine"), clock())
    # When it lists its queue and gets its id along with A's
    listed, _ = await storage.messages_list(intruder.project, intruder.queue, EVERYTHING, clock())
    ids = [*intruder.message_ids, mine]
    got = await storage.messages_get(intruder.project, intruder.queue, ids, clock())
    # Then it sees only its own message
    assert [m.body for m in listed] == ["mine"]
    assert [m.id for m in got] == [mine]


# Writing


async def test_the_intruder_creates_its_own_queue(
    storage: Storage, clock: FakeClock, intruder: Tenant, before: Snapshot
) -> None:
    created = await storage.queue_create(intruder.project, intruder.queue, {"owner": "b"}, clock())

    assert created is True
    assert await storage.queue_get_metadata(intruder.project, intruder.queue) == {"owner": "b"}
    await assert_untouched(storage, clock, intruder, before)


async def test_the_intruder_cannot_set_the_metadata(
    storage: Storage, clock: FakeClock, intruder: Tenant, before: Snapshot
) -> None:
    with pytest.raises(errors.QueueNotFound):
        await storage.queue_set_metadata(intruder.project, intruder.queue, {"owner": "b"})

    await assert_untouched(storage, clock, intruder, before)


async def test_the_intruder_cannot_delete_a_message(
    storage: Storage, clock: FakeClock, intruder: Tenant, before: Snapshot
) -> None:
    [claimed, free] = intruder.message_ids

    await storage.message_delete(intruder.project, intruder.queue, free, None, clock())
    await storage.message_delete(
        intruder.project, intruder.queue, claimed, intruder.claim_id, clock()
    )

    await assert_untouched(storage, clock, intruder, before)


async def test_the_intruder_cannot_delete_messages_in_bulk(
    storage: Storage, clock: FakeClock, intruder: Tenant, before: Snapshot
) -> None:
    ids = intruder.message_ids

    await storage.messages_delete(intruder.project, intruder.queue, ids, None, clock())
    await storage.messages_delete(
        intruder.project, intruder.queue, ids, [intruder.claim_id], clock()
    )

    await assert_untouched(storage, clock, intruder, before)


async def test_the_intruders_own_claim_does_not_reach_the_victim(
    storage: Storage, clock: FakeClock, intruder: Tenant, before: Snapshot
) -> None:
    # Given the intruder holds a live claim on a message of its own
    await storage.messages_post(intruder.project, intruder.queue, new("mine"), clock())
    own = await storage.claim_create(intruder.project, intruder.queue, 60, 60, 10, clock())
    assert own is not None
    # When it deletes A's ids with its own claim
    [claimed, free] = intruder.message_ids
    await storage.message_delete(intruder.project, intruder.queue, claimed, own.id, clock())
    await storage.message_delete(intruder.project, intruder.queue, free, own.id, clock())
    await storage.messages_delete(
        intruder.project, intruder.queue, intruder.message_ids, [own.id], clock()
    )
    # Then its claim held only its own message, and A's data is unchanged
    assert [m.body for m in own.messages] == ["mine"]
    await assert_untouched(storage, clock, intruder, before)


async def test_the_intruder_pops_nothing(
    storage: Storage, clock: FakeClock, intruder: Tenant, before: Snapshot
) -> None:
    assert await storage.messages_pop(intruder.project, intruder.queue, 10, clock()) == []

    await assert_untouched(storage, clock, intruder, before)


async def test_the_intruder_claims_nothing(
    storage: Storage, clock: FakeClock, intruder: Tenant, before: Snapshot
) -> None:
    claim = await storage.claim_create(intruder.project, intruder.queue, 60, 60, 10, clock())

    assert claim is None
    await assert_untouched(storage, clock, intruder, before)


async def test_the_intruder_cannot_move_messages(
    storage: Storage, clock: FakeClock, intruder: Tenant, before: Snapshot
) -> None:
    await storage.messages_move(
        intruder.project, intruder.queue, intruder.message_ids, "loot", 600, clock()
    )

    moved, _ = await storage.messages_list(intruder.project, "loot", EVERYTHING, clock())
    assert moved == []
    await assert_untouched(storage, clock, intruder, before)


async def test_the_intruder_cannot_renew_the_claim(
    storage: Storage, clock: FakeClock, intruder: Tenant, before: Snapshot
) -> None:
    renewed = await storage.claim_renew(
        intruder.project, intruder.queue, intruder.claim_id, 600, 600, clock()
    )

    assert renewed is False
    await assert_untouched(storage, clock, intruder, before)


async def test_the_intruder_cannot_release_the_claim(
    storage: Storage, clock: FakeClock, intruder: Tenant, before: Snapshot
) -> None:
    await storage.claim_release(intruder.project, intruder.queue, intruder.claim_id)

    await assert_untouched(storage, clock, intruder, before)


async def test_the_intruder_cannot_purge(
    storage: Storage, clock: FakeClock, intruder: Tenant, before: Snapshot
) -> None:
    await storage.queue_purge(intruder.project, intruder.queue)

    await assert_untouched(storage, clock, intruder, before)


async def test_the_intruder_cannot_delete_the_queue(
    storage: Storage, clock: FakeClock, intruder: Tenant, before: Snapshot
) -> None:
    await storage.queue_delete(intruder.project, intruder.queue)

    await assert_untouched(storage, clock, intruder, before)
    assert await storage.queue_count(PROJECT) == 1
