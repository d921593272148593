"""Subscriptions stored before subscriptions kept the TTL they were last given: each store
reads them with the TTL they were created for (``expires - created``, as it was read then),
and keeps the TTL of later updates. On SQLite and PostgreSQL the column is added and filled
when an earlier database is opened (PostgreSQL: migration 0010); on Redis and Swift such a
record has no TTL field and is read with that span."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import orjson
import pytest

from tests.conftest import opened
from tidings.storage import postgres, swift
from tidings.storage.base import Storage
from tidings.storage.redis import RedisStorage, _queue_keys
from tidings.storage.sqlite import SQLiteStorage
from tidings.storage.swift_client import SwiftClient, parse_url

PROJECT, QUEUE, HOOK = "project-a", "events", "http://127.0.0.1:1/hook"
CREATED = 1_000.0


async def subscribe(storage: Storage) -> str:
    made, _ = await storage.subscription_create(PROJECT, QUEUE, HOOK, 3600, {}, "secret", CREATED)
    return made.id


async def read_then_update(storage: Storage, subscription_id: str) -> tuple[int, int]:
    """The TTL an earlier subscription reads with, then after an update of its TTL."""
    now = CREATED + 100
    before = await storage.subscription_get(PROJECT, QUEUE, subscription_id, now)
    await storage.subscription_update(PROJECT, QUEUE, subscription_id, now, ttl=600)
    after = await storage.subscription_get(PROJECT, QUEUE, subscription_id, now + 1)
    assert before is not None
    assert after is not None
    return before.ttl, after.ttl


async def test_an_earlier_sqlite_file_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "tidings.db"
    async with opened(SQLiteStorage(str(path))) as storage:
        subscription_id = await subscribe(storage)
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("ALTER TABLE subscriptions DROP COLUMN ttl")
        db.commit()

    async with opened(SQLiteStorage(str(path))) as storage:
        ttls = await read_then_update(storage, subscription_id)

    assert ttls == (3600, 600)


async def test_migration_0010_fills_the_column(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = [migration for migration in postgres.MIGRATIONS if migration.name < "0010"]
    with monkeypatch.context() as patch:
        patch.setattr(postgres, "MIGRATIONS", older)
        await postgres.from_url(postgres_url).migrate()
    connection = await asyncpg.connect(postgres_url)
    try:
        await connection.execute(
            "INSERT INTO subscriptions (id, project, source, subscriber, created, expires,"
            " options, secret) VALUES ('s-1', $1, $2, $3, $4, $5, '{}', 'secret')",
            PROJECT,
            QUEUE,
            HOOK,
            CREATED,
            CREATED + 3600,
        )
    finally:
        await connection.close()

    async with opened(postgres.from_url(postgres_url)) as storage:
        ttls = await read_then_update(storage, "s-1")

    assert ttls == (3600, 600)


async def test_an_earlier_redis_record_has_no_ttl_field(redis_storage: RedisStorage) -> None:
    subscription_id = await subscribe(redis_storage)
    record = f"{_queue_keys(PROJECT, QUEUE).prefix}s:{subscription_id}"
    assert await redis_storage._client.hdel(record, "t") == 1

    assert await read_then_update(redis_storage, subscription_id) == (3600, 600)


@pytest.fixture
async def swift_storage(swift_url: str) -> AsyncIterator[swift.SwiftStorage]:
    async with opened(swift.from_url(swift_url)) as storage:
        yield storage


async def test_an_earlier_swift_object_has_no_ttl_key(
    swift_storage: swift.SwiftStorage, swift_url: str
) -> None:
    subscription_id = await subscribe(swift_storage)
    container = swift_storage._subscriptions(PROJECT, QUEUE)
    name = f"{swift.SUBSCRIPTIONS}{subscription_id}"
    raw = SwiftClient(parse_url(swift_url))
    await raw.open()
    try:
        stored = await raw.get(container, name)
        assert stored is not None
        doc = orjson.loads(stored.content)
        del doc["ttl"]
        headers = {"Content-Type": stored.headers["Content-Type"]}
        assert await raw.put(container, name, orjson.dumps(doc), headers) == 201
    finally:
        await raw.close()

    assert await read_then_update(swift_storage, subscription_id) == (3600, 600)
