"""SQLite deletes a queue's messages (a queue delete or purge, and expiry) in transactions of
``DELETE_CHUNK`` messages, so that other writes, of every worker, go on between them instead
of waiting for one long transaction. What is deleted is the same as in one transaction."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import opened
from tests.messages import new
from tidings.storage.sqlite import DELETE_CHUNK, SQLiteStorage

PROJECT = "project-a"
BIG = "big"
OTHER = "other"
NOW = 1_700_000_000.0
CHUNKS = 4


def _count(path: str, queue: str) -> int:
    with sqlite3.connect(path) as db:
        return int(
            db.execute("SELECT count(*) FROM messages WHERE queue = ?", (queue,)).fetchone()[0]
        )


async def _until_fewer(path: str, queue: str, count: int) -> None:
    """Let the loop run until ``queue`` holds fewer than ``count`` messages."""
    for _ in range(10_000):
        if _count(path, queue) < count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{queue} still holds {count} messages")


async def _fill(storage: SQLiteStorage, queue: str, count: int, ttl: int = 300) -> None:
    await storage.messages_post(PROJECT, queue, new(*range(count), ttl=ttl), NOW)


Emptying = Callable[[SQLiteStorage], Coroutine[Any, Any, None]]


async def _delete(storage: SQLiteStorage) -> None:
    await storage.queue_delete(PROJECT, BIG)


async def _purge(storage: SQLiteStorage) -> None:
    await storage.queue_purge(PROJECT, BIG)


@pytest.mark.parametrize("emptying", [_delete, _purge], ids=["delete", "purge"])
async def test_other_writes_commit_while_a_big_queue_is_emptied(
    tmp_path: Path, emptying: Emptying
) -> None:
    path = str(tmp_path / "chunks.db")
    async with opened(SQLiteStorage(path)) as storage:
        # Given a queue of several chunks of messages
        await _fill(storage, BIG, CHUNKS * DELETE_CHUNK + 1)

        # When it is emptied while another queue gets a post
        emptied = asyncio.create_task(emptying(storage))
        await storage.messages_post(PROJECT, OTHER, new("meanwhile"), NOW)

        # Then the post is stored while most of the big queue is still there
        assert _count(path, OTHER) == 1
        assert _count(path, BIG) >= (CHUNKS - 2) * DELETE_CHUNK
        await emptied
        assert _count(path, BIG) == 0


@pytest.mark.parametrize("emptying", [_delete, _purge], ids=["delete", "purge"])
async def test_messages_posted_while_a_queue_is_emptied_go_with_it(
    tmp_path: Path, emptying: Emptying
) -> None:
    path = str(tmp_path / "during.db")
    async with opened(SQLiteStorage(path)) as storage:
        # Given a queue of several chunks of messages
        await _fill(storage, BIG, CHUNKS * DELETE_CHUNK)

        # When more are posted to it after its first chunk went
        emptied = asyncio.create_task(emptying(storage))
        await _until_fewer(path, BIG, CHUNKS * DELETE_CHUNK)
        await _fill(storage, BIG, 3)
        assert not emptied.done()
        await emptied

        # Then none of them is left: a queue made again with the name starts empty
        assert (await storage.queue_stats(PROJECT, BIG, NOW)).total == 0
        await storage.queue_create(PROJECT, BIG, {}, NOW)
        [fresh] = await storage.messages_post(PROJECT, BIG, new("fresh"), NOW)
        assert [m.id for m in await storage.messages_get(PROJECT, BIG, [fresh], NOW)] == [fresh]
        assert (await storage.queue_stats(PROJECT, BIG, NOW)).total == 1


async def test_expiry_removes_every_chunk_and_counts_them(tmp_path: Path) -> None:
    path = str(tmp_path / "expiry.db")
    async with opened(SQLiteStorage(path)) as storage:
        # Given more expired messages than a few chunks hold, and one live message
        await _fill(storage, BIG, CHUNKS * DELETE_CHUNK + 7, ttl=60)
        await _fill(storage, OTHER, 1, ttl=3600)

        # When expired rows are collected, Then all of them go and are counted
        assert await storage.gc(NOW + 61) == CHUNKS * DELETE_CHUNK + 7
        assert _count(path, BIG) == 0
        assert _count(path, OTHER) == 1
