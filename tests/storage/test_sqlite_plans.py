"""The SQLite driver's lookups by message id, its claims, and its reads of a queue's first
page or newest message do not walk the queue: their work is the same in a queue of a hundred
messages and in one of ten thousand, and a claim's the same behind a hundred claimed (or
delayed) messages and behind ten thousand. Deleting a queue does not read the others.

SQLite has no statistics here, and for ten ids or more it used to prefer the queue's index
(project, queue, seq) to the ids' own: a bulk delete of ten messages read the whole queue.
The work is counted in SQLite virtual machine steps (a progress handler on the driver's own
connection), which, unlike time, does not depend on what else the machine is doing.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.conftest import opened
from tidings.models import Message, MessageFilter, NewMessage
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


async def fill_mixed(storage: SQLiteStorage, queue: str, depth: int) -> list[str]:
    """``depth`` messages (rounded down to a multiple of 9) in post order: delayed, claimed
    and free ones in turn, three times."""
    each = depth // 9
    ids: list[str] = []
    for _ in range(3):
        ids += await fill(storage, queue, each, delay=900)
        claimed = await fill(storage, queue, each)
        assert await storage.claim_create(PROJECT, queue, 300, 60, each, NOW) is not None
        ids += claimed + await fill(storage, queue, each)
    return ids


async def first_page(storage: SQLiteStorage, queue: str) -> tuple[list[Message], str | None]:
    everything = MessageFilter("c", echo=True, include_claimed=True, include_delayed=True)
    return await storage.messages_list(PROJECT, queue, everything, NOW)


async def newest(storage: SQLiteStorage, queue: str) -> object:
    return await storage.newest_marker(PROJECT, queue)


@pytest.mark.parametrize("read", [first_page, newest])
async def test_a_read_of_a_queue_in_post_order_reads_neither_the_queue_nor_the_others(
    storage: SQLiteStorage, tmp_path: Path, read: Callable[[SQLiteStorage, str], Awaitable[object]]
) -> None:
    # Given a queue alone in its database, and the same queue and a deep one between others
    async with opened(SQLiteStorage(str(tmp_path / "alone.db"))) as alone:
        await fill_mixed(alone, "shallow", SHALLOW)
        by_itself = await steps(alone, lambda: read(alone, "shallow"))
    for queue, depth in (("before", DEEP), ("shallow", SHALLOW), ("deep", DEEP), ("after", DEEP)):
        await fill_mixed(storage, queue, depth)

    # When each is read, Then the work is what it is alone
    for queue in ("shallow", "deep"):
        assert await steps(storage, functools.partial(read, storage, queue)) <= 2 * by_itself + 5


async def test_a_page_holds_free_claimed_and_delayed_messages_in_post_order(
    storage: SQLiteStorage,
) -> None:
    ids = await fill_mixed(storage, "q", 27)

    listed: list[str] = []
    last: str | None = None
    while True:
        query = MessageFilter("c", True, True, True, last, limit=4)
        page, marker = await storage.messages_list(PROJECT, "q", query, NOW)
        if marker is None:
            break
        listed += [message.id for message in page]
        last = marker

    assert listed == ids
    assert await storage.newest_marker(PROJECT, "q") == last


async def test_deleting_a_queue_does_not_read_the_others(storage: SQLiteStorage) -> None:
    await fill_mixed(storage, "deep", DEEP)
    for queue in ("gone", "gone-too"):
        await fill_mixed(storage, queue, 9)

    with_deep = await steps(storage, lambda: storage.queue_delete(PROJECT, "gone"))
    await storage.queue_delete(PROJECT, "deep")
    alone = await steps(storage, lambda: storage.queue_delete(PROJECT, "gone-too"))

    assert with_deep <= 2 * alone + 5


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


async def test_a_database_made_before_gets_the_queue_indexes_of_now(tmp_path: Path) -> None:
    # Given a database whose messages all sit in one index by queue, as they did
    path = tmp_path / "before.db"
    async with opened(SQLiteStorage(str(path))) as storage:
        ids = await fill_mixed(storage, "q", 9)
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executescript(
            "DROP INDEX messages_held_or_delayed;"
            " CREATE INDEX messages_by_queue ON messages (project, queue, seq)"
        )

    # When it is opened again
    async with opened(SQLiteStorage(str(path))) as storage:
        page, _ = await first_page(storage, "q")
    with contextlib.closing(sqlite3.connect(path)) as db:
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}

    # Then it has the new index, not the old one, and the messages posted before are all read
    assert "messages_held_or_delayed" in indexes
    assert "messages_by_queue" not in indexes
    assert [message.id for message in page] == ids
