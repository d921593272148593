"""A post to a queue whose context did not change since this process last read it does not
read that context again: on Redis it is one script, on PostgreSQL one statement, on SQLite it
reads the context clock alone, and the queue's version when another queue's context changed.
(That such a post still sees every change: ``tests/contract/test_storage_post_context.py``.)"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.conftest import opened
from tests.messages import one_message
from tidings.models import PostContext, PreparedPost
from tidings.storage import postgres
from tidings.storage.base import Storage
from tidings.storage.redis import RedisStorage, _queue_keys, parse_url
from tidings.storage.sqlite import SQLiteStorage

PROJECT = "project-a"
QUEUE = "fizbit"
NOW = 1_700_000_000.0


async def _post(storage: Storage) -> str:
    [posted] = await storage.messages_post_in_context(PROJECT, QUEUE, NOW, one_message)
    return posted


async def _script_calls(storage: RedisStorage) -> int:
    stats = await storage._client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_redis_posts_to_an_unchanged_queue_in_one_script(
    redis_storage: RedisStorage,
) -> None:
    # Given a queue this process has posted to once
    await redis_storage.queue_create(PROJECT, QUEUE, {}, NOW)
    await _post(redis_storage)

    # When it posts again, Then that post runs one script (the insert) and is stored
    before = await _script_calls(redis_storage)
    posted = await _post(redis_storage)
    assert await _script_calls(redis_storage) - before == 1
    assert len(await redis_storage.messages_get(PROJECT, QUEUE, [posted], NOW)) == 1


async def test_a_redis_cluster_posts_to_an_unchanged_queue_in_one_script(
    redis_cluster_url: str,
) -> None:
    storage = RedisStorage(parse_url(redis_cluster_url))
    await storage.open()
    try:
        # Given a queue this process has posted to once
        await storage.queue_create(PROJECT, QUEUE, {}, NOW)
        await _post(storage)
        scripts: list[str] = []
        run_script = storage._script

        async def script(name: str, keys: Sequence[str], *args: str | bytes) -> Any:
            scripts.append(name)
            return await run_script(name, keys, *args)

        storage._script = script  # type: ignore[method-assign]

        # When it posts again, Then that post runs the insert alone, and is stored
        posted = await _post(storage)
        assert scripts == ["insert"]
        assert len(await storage.messages_get(PROJECT, QUEUE, [posted], NOW)) == 1
    finally:
        await storage.close()


async def test_postgres_posts_to_an_unchanged_queue_in_one_statement(postgres_url: str) -> None:
    async with opened(postgres.from_url(postgres_url)) as storage:
        # Given a queue this process has posted to once
        await storage.queue_create(PROJECT, QUEUE, {}, NOW)
        await _post(storage)
        statements: list[str] = []
        fetch = storage._fetch

        async def recorded(sql: str, *args: object, max_seconds: float | None = None) -> Any:
            statements.append(sql)
            return await fetch(sql, *args, max_seconds=max_seconds)

        storage._fetch = recorded  # type: ignore[method-assign]

        # When it posts again, Then that post runs the insert alone, and is stored
        posted = await _post(storage)
        assert statements == [postgres.MESSAGES_POST]
        assert len(await storage.messages_get(PROJECT, QUEUE, [posted], NOW)) == 1


async def _reads_of(storage: SQLiteStorage, posts: int) -> list[str]:
    """The SELECTs that ``posts`` posts made together run."""
    statements: list[str] = []
    db = storage._connection._db
    assert db is not None
    db.set_trace_callback(statements.append)
    try:
        posted = await asyncio.gather(*(_post(storage) for _ in range(posts)))
    finally:
        db.set_trace_callback(None)
    assert len(await storage.messages_get(PROJECT, QUEUE, posted, NOW)) == posts
    return [statement for statement in statements if statement.startswith("SELECT")]


async def test_sqlite_reads_only_the_context_clock_while_no_context_changed(
    tmp_path: Path,
) -> None:
    async with opened(SQLiteStorage(str(tmp_path / "kept.db"))) as storage:
        # Given a queue this process has posted to once
        await storage.queue_create(PROJECT, QUEUE, {}, NOW)
        await _post(storage)

        # When it posts again, Then the post read the clock, and no version, metadata or
        # subscription
        [read] = await _reads_of(storage, 1)
        assert "FROM context_clock" in read


async def test_sqlite_posts_of_one_batch_read_the_context_clock_once(tmp_path: Path) -> None:
    async with opened(SQLiteStorage(str(tmp_path / "kept.db"))) as storage:
        # Given a queue this process has posted to once
        await storage.queue_create(PROJECT, QUEUE, {}, NOW)
        await _post(storage)

        # When three posts to it are made together, then one read of the clock serves all
        [read] = await _reads_of(storage, 3)
        assert "FROM context_clock" in read

        # And the next batch reads it again
        [read] = await _reads_of(storage, 1)
        assert "FROM context_clock" in read


async def test_sqlite_reads_the_version_once_another_queue_changed(tmp_path: Path) -> None:
    path = str(tmp_path / "kept.db")
    async with opened(SQLiteStorage(path)) as mine, opened(SQLiteStorage(path)) as other:
        # Given a queue this process has posted to once
        await mine.queue_create(PROJECT, QUEUE, {}, NOW)
        await _post(mine)

        # When another process changes another queue's context (the clock moves)
        await other.queue_create(PROJECT, "other", {}, NOW)

        # Then the next post reads the clock and this queue's version, not its context
        clock, version = await _reads_of(mine, 1)
        assert "FROM context_clock" in clock
        assert "FROM context_versions" in version

        # And the post after it, the clock alone
        [read] = await _reads_of(mine, 1)
        assert "FROM context_clock" in read


async def test_sqlite_queues_older_than_their_versions_get_one_when_the_store_opens(
    tmp_path: Path,
) -> None:
    # Given a queue with no context version, as in a database made by an earlier release
    path = str(tmp_path / "older.db")
    async with opened(SQLiteStorage(path)) as storage:
        await storage.queue_create(PROJECT, QUEUE, {"a": 1}, NOW)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM context_versions")

    async with opened(SQLiteStorage(path)) as mine, opened(SQLiteStorage(path)) as other:
        # When this process posts to it, and another then deletes it
        seen: list[PostContext] = []

        def prepare(context: PostContext) -> PreparedPost:
            seen.append(context)
            return one_message(context)

        await mine.messages_post_in_context(PROJECT, QUEUE, NOW, prepare)
        await other.queue_delete(PROJECT, QUEUE)

        # Then the next post sees the queue gone
        await mine.messages_post_in_context(PROJECT, QUEUE, NOW, prepare)
        assert seen[0].metadata == {"a": 1}
        assert seen[-1].metadata is None


async def test_redis_keeps_no_version_of_a_queue_gone_with_its_subscriptions(
    redis_storage: RedisStorage,
) -> None:
    version = _queue_keys(PROJECT, QUEUE).prefix + "v"
    await redis_storage.queue_create(PROJECT, QUEUE, {}, NOW)
    created, _ = await redis_storage.subscription_create(
        PROJECT, QUEUE, "http://127.0.0.1:1/s", 3600, {}, "secret", NOW
    )

    await redis_storage.queue_delete(PROJECT, QUEUE)
    assert await redis_storage._client.exists(version) == 1  # the subscription is left
    await redis_storage.subscription_delete(PROJECT, QUEUE, created.id)
    assert await redis_storage._client.exists(version) == 0


async def test_sqlite_keeps_no_version_of_a_queue_gone_with_its_subscriptions(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "gone.db")
    async with opened(SQLiteStorage(path)) as storage:
        await storage.queue_create(PROJECT, QUEUE, {}, NOW)
        created, _ = await storage.subscription_create(
            PROJECT, QUEUE, "http://127.0.0.1:1/s", 3600, {}, "secret", NOW
        )

        await storage.queue_delete(PROJECT, QUEUE)
        assert _versions(path) == 1  # the subscription is left
        await storage.subscription_delete(PROJECT, QUEUE, created.id)
        assert _versions(path) == 0


async def test_postgres_moves_a_version_with_every_change_of_the_context_and_drops_it_when_gone(
    postgres_url: str,
) -> None:
    async with opened(postgres.from_url(postgres_url)) as storage:

        async def version() -> str:
            return (await storage._read_context(PROJECT, QUEUE, NOW)).version

        seen = [await version()]
        await storage.queue_create(PROJECT, QUEUE, {}, NOW)
        seen.append(await version())
        await storage.queue_set_metadata(PROJECT, QUEUE, {"a": 1})
        seen.append(await version())
        created, _ = await storage.subscription_create(
            PROJECT, QUEUE, "http://127.0.0.1:1/s", 3600, {}, "secret", NOW
        )
        seen.append(await version())
        await storage.subscription_confirm(PROJECT, QUEUE, created.id, True, NOW)
        seen.append(await version())
        await storage.queue_delete(PROJECT, QUEUE)
        seen.append(await version())  # the subscription is left
        await storage.subscription_delete(PROJECT, QUEUE, created.id)
        seen.append(await version())

        assert seen[0] == seen[-1] == "0"
        assert len(set(seen[:-1])) == len(seen) - 1
        assert await storage._fetch("SELECT * FROM context_versions") == []


def _versions(path: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM context_versions").fetchone()[0])
