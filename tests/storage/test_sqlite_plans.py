"""The SQLite driver's lookups by message id, and its claims, do not walk the queue: their
work is the same in a queue of a hundred messages and in one of ten thousand, and a claim's
the same behind a hundred claimed (or delayed) messages and behind ten thousand.

SQLite has no statistics here, and for ten ids or more it used to prefer the queue's index
(project, queue, seq) to the ids' own: a bulk delete of ten messages read the whole queue.
The work is counted in SQLite virtual machine steps (a progress handler on the driver's own
connection), which, unlike time, does not depend on what else the machine is doing.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.conftest import opened
from tidings.models import NewMessage
from tidings.storage.sqlite import SQLiteStorage

PROJECT = "p"
NOW = 1_700_000_000.0
SHALLOW, DEEP = 100, 10_000
STEPS_PER_CALL = 100
"""The progress handler runs every this many virtual machine steps."""

Lookup = Callable[[SQLiteStorage, str, list[str]], Awaitable[object]]


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    storage = SQLiteStorage(str(tmp_path / "plans.db"))
    await storage.open()
    yield storage
    await storage.close()


async def fill(storage: SQLiteStorage, queue: str, depth: int, delay: int = 0) -> list[str]:
    ids = []
    for start in range(0, depth, 1000):
        batch = [
            NewMessage(str(uuid.uuid4()), {"n": n}, 3600, delay, "c")
            for n in range(start, min(depth, start + 1000))
        ]
        ids += await storage.messages_post(PROJECT, queue, batch, NOW)
    return ids


async def steps(storage: SQLiteStorage, lookup: Callable[[], Awaitable[object]]) -> int:
    counted = 0

    def count() -> int:
        nonlocal counted
        counted += 1
        return 0

    def watch(db: sqlite3.Connection) -> None:
        db.set_progress_handler(count, STEPS_PER_CALL)

    def unwatch(db: sqlite3.Connection) -> None:
        db.set_progress_handler(None, STEPS_PER_CALL)

    await storage._run(watch)
    try:
        await lookup()
    finally:
        await storage._run(unwatch)
    return counted


async def get(storage: SQLiteStorage, queue: str, ids: list[str]) -> object:
    return await storage.messages_get(PROJECT, queue, ids, NOW)


async def delete(storage: SQLiteStorage, queue: str, ids: list[str]) -> object:
    await storage.messages_delete(PROJECT, queue, ids, None, NOW)
    return None


async def delete_each(storage: SQLiteStorage, queue: str, ids: list[str]) -> object:
    for message_id in ids:
        await storage.message_delete(PROJECT, queue, message_id, None, NOW)
    return None


async def move(storage: SQLiteStorage, queue: str, ids: list[str]) -> object:
    await storage.messages_move(PROJECT, queue, ids, "dead", None, NOW)
    return None


@pytest.mark.parametrize("lookup", [get, delete, delete_each, move])
@pytest.mark.parametrize("count", [10, 20])
async def test_a_lookup_by_ids_does_not_grow_with_the_queue(
    storage: SQLiteStorage, lookup: Lookup, count: int
) -> None:
    shallow = (await fill(storage, "shallow", SHALLOW))[-count:]
    deep = (await fill(storage, "deep", DEEP))[-count:]

    in_shallow = await steps(storage, lambda: lookup(storage, "shallow", shallow))
    in_deep = await steps(storage, lambda: lookup(storage, "deep", deep))

    assert in_deep <= 2 * in_shallow + 5


async def test_a_claim_does_not_walk_past_the_claimed_messages(storage: SQLiteStorage) -> None:
    # Given two queues whose heads are claimed, one a hundred times longer
    for queue, held in (("shallow", SHALLOW), ("deep", DEEP)):
        await fill(storage, queue, held + 10)
        assert await storage.claim_create(PROJECT, queue, 300, 60, held, NOW) is not None

    # When each is claimed again, Then the work is the same
    def claim(queue: str) -> Awaitable[object]:
        return storage.claim_create(PROJECT, queue, 300, 60, 10, NOW)

    in_shallow = await steps(storage, lambda: claim("shallow"))
    in_deep = await steps(storage, lambda: claim("deep"))
    assert in_deep <= 2 * in_shallow + 5


async def test_a_claim_does_not_walk_past_the_delayed_messages(storage: SQLiteStorage) -> None:
    # Given two queues whose heads are delayed, one a hundred times longer
    for queue, delayed in (("shallow", SHALLOW), ("deep", DEEP)):
        await fill(storage, queue, delayed, delay=900)
        await fill(storage, queue, 10)

    # When each is claimed, Then the work is the same
    def claim(queue: str) -> Awaitable[object]:
        return storage.claim_create(PROJECT, queue, 300, 60, 10, NOW)

    in_shallow = await steps(storage, lambda: claim("shallow"))
    in_deep = await steps(storage, lambda: claim("deep"))
    assert in_deep <= 2 * in_shallow + 5


async def test_messages_whose_claims_ended_together_are_all_claimed_again(
    storage: SQLiteStorage,
) -> None:
    # Given more messages than one claim takes, held by a claim that ended
    ids = await fill(storage, "q", 23)
    assert await storage.claim_create(PROJECT, "q", 60, 60, 23, NOW) is not None

    # When they are claimed again after that, Then each comes back once
    later = NOW + 61
    claimed: list[str] = []
    while claim := await storage.claim_create(PROJECT, "q", 60, 60, 4, later):
        claimed += [message.id for message in claim.messages]
    assert sorted(claimed) == sorted(ids)


async def test_a_database_made_before_gets_the_claim_indexes_of_now(tmp_path: Path) -> None:
    # Given a database whose free messages, delayed or not, sit in one index, as they did
    path = tmp_path / "before.db"
    async with opened(SQLiteStorage(str(path))) as storage:
        ids = await fill(storage, "q", 3, delay=30) + await fill(storage, "q", 3)
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executescript(
            "DROP INDEX messages_undelayed; DROP INDEX messages_delayed;"
            " CREATE INDEX messages_free ON messages (project, queue, seq) WHERE claim_expires = 0"
        )

    # When it is opened again
    async with opened(SQLiteStorage(str(path))) as storage:
        claim = await storage.claim_create(PROJECT, "q", 300, 60, 10, NOW + 30)
    with contextlib.closing(sqlite3.connect(path)) as db:
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}

    # Then it has the new indexes, not the old one, and they hold the messages posted before
    assert {"messages_undelayed", "messages_delayed"} <= indexes
    assert "messages_free" not in indexes
    assert claim is not None
    assert [message.id for message in claim.messages] == ids
