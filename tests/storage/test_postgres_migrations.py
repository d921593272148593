"""Versioned schema migrations of the PostgreSQL driver: applied once, by ``open()``, by
``migrate()`` and by ``tidings migrate``, even when several processes start at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import uuid
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import opened
from tests.processes import tidings
from tests.servers.postgres import PostgresServer, free_port
from tidings.models import NewMessage
from tidings.storage import postgres

ALL = [migration.name for migration in postgres.MIGRATIONS]


async def recorded(url: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT name FROM schema_migrations ORDER BY name")
    finally:
        await connection.close()
    return [row["name"] for row in rows]


def tidings_migrate(url: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIDINGS_")}
    return tidings("migrate", "--storage", url, env=env)


def test_the_migrations_ship_in_name_order() -> None:
    assert ALL[0] == "0001_initial"
    assert sorted(ALL) == ALL
    assert all(migration.sql.strip() for migration in postgres.MIGRATIONS)


async def test_open_applies_the_migrations_and_records_them(postgres_url: str) -> None:
    driver = postgres.from_url(postgres_url)

    await driver.open()
    try:
        assert await driver.queue_count("project-a") == 0
    finally:
        await driver.close()

    assert await recorded(postgres_url) == ALL


async def test_migrate_applies_once_and_then_nothing(postgres_url: str) -> None:
    driver = postgres.from_url(postgres_url)

    first = await driver.migrate()
    second = await driver.migrate()

    assert (first, second) == (ALL, [])
    assert await recorded(postgres_url) == ALL


async def test_processes_migrating_at_once_apply_each_migration_once(postgres_url: str) -> None:
    # Given eight drivers, as if eight server processes started together on an empty database
    drivers = [postgres.from_url(postgres_url) for _ in range(8)]
    # When they all migrate at once
    results = await asyncio.gather(*(driver.migrate() for driver in drivers))
    # Then exactly one applied the migrations, and the others found nothing to do
    assert sorted(results, key=len) == [[]] * 7 + [ALL]
    assert await recorded(postgres_url) == ALL


async def test_opening_a_migrated_database_changes_nothing(postgres_url: str) -> None:
    assert await postgres.from_url(postgres_url).migrate() == ALL
    driver = postgres.from_url(postgres_url)

    await driver.open()
    await driver.close()

    assert await recorded(postgres_url) == ALL


async def test_a_role_that_cannot_create_tables_opens_a_migrated_database(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    # Given a database migrated by its owner, and a role allowed only to read and write rows
    assert await postgres.from_url(postgres_url).migrate() == ALL
    with postgres_server.rows_only_role(postgres_url) as role_url:
        # When it opens the store and posts and claims
        async with opened(postgres.from_url(role_url)) as driver:
            ids = await driver.messages_post(
                "project-a", "q", [NewMessage(str(uuid.uuid4()), "hi", 60, 0, "c")], 1.0
            )
            claim = await driver.claim_create("project-a", "q", 60, 60, 10, 1.0)
    # Then all of that worked
    assert claim is not None
    assert [message.id for message in claim.messages] == ids


INSERT_MESSAGE = (
    "INSERT INTO messages (id, project, queue, body, client_id, created, expires, visible_at)"
    " VALUES ($1, 'project-a', 'q', '\\x7b7d', 'c', 1, 100, 1)"
)
INDEX_BUILD_WAITING = (
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE query LIKE '%CREATE INDEX%' AND wait_event_type = 'Lock'"
)


async def test_the_claim_index_migrations_let_posts_go_on_while_they_build(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a database at schema version 4
    older = [migration for migration in postgres.MIGRATIONS if migration.name < "0005"]
    newer = [migration.name for migration in postgres.MIGRATIONS if migration.name >= "0005"]
    with monkeypatch.context() as patch:
        patch.setattr(postgres, "MIGRATIONS", older)
        await postgres.from_url(postgres_url).migrate()
    in_flight, other = await asyncpg.connect(postgres_url), await asyncpg.connect(postgres_url)
    try:
        # And a post in flight: a transaction that wrote a message and is still open
        transaction = in_flight.transaction()
        await transaction.start()
        await in_flight.execute(INSERT_MESSAGE, "in-flight")
        # When the migrations to version 6 start, and their index build waits for that post
        migrating = asyncio.create_task(postgres.from_url(postgres_url).migrate())
        for _ in range(500):
            if await other.fetchval(INDEX_BUILD_WAITING):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("no index build waited for the post in flight")
        # Then another post goes through meanwhile (a plain CREATE INDEX, queued for its
        # lock behind the first post, would hold it until the build was done)
        await other.execute("SET statement_timeout = '5s'")
        await other.execute(INSERT_MESSAGE, "meanwhile")
        assert not migrating.done()
        # And once the first post commits, the migrations end with every index valid
        await transaction.commit()
        assert await migrating == newer
        indexes = {
            row["name"]: row["valid"]
            for row in await other.fetch(
                "SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE i.indrelid = 'messages'::regclass"
            )
        }
    finally:
        await in_flight.close()
        await other.close()
    assert all(indexes.values())
    assert {"messages_undelayed", "messages_delayed", "messages_claimed"} <= set(indexes)
    assert "messages_free" not in indexes
    assert await recorded(postgres_url) == ALL


async def test_the_context_versions_migration_gives_each_existing_context_its_own_version(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a database at schema version 6 with a queue, and subscriptions of a queue gone
    older = [migration for migration in postgres.MIGRATIONS if migration.name < "0007"]
    with monkeypatch.context() as patch:
        patch.setattr(postgres, "MIGRATIONS", older)
        async with opened(postgres.from_url(postgres_url)) as driver:
            await driver.queue_create("project-a", "kept", {}, 1.0)
    connection = await asyncpg.connect(postgres_url)
    try:
        for subscriber in ("http://127.0.0.1:1/a", "http://127.0.0.1:1/b"):  # as version 6 did
            await connection.execute(
                "INSERT INTO subscriptions (id, project, source, subscriber, created, expires,"
                " options, secret) VALUES ($1, 'project-a', 'gone', $2, 1, 3601, '{}', 's')",
                str(uuid.uuid4()),
                subscriber,
            )

        # When the later migrations are applied
        assert await postgres.from_url(postgres_url).migrate() == ALL[len(older) :]
        rows = await connection.fetch("SELECT queue, version FROM context_versions")
    finally:
        await connection.close()

    # Then each of the two contexts has a version of its own
    assert sorted(row["queue"] for row in rows) == ["gone", "kept"]
    assert len({row["version"] for row in rows}) == 2


def test_a_migration_outside_a_transaction_runs_its_statements_one_by_one() -> None:
    migration = postgres.Migration(
        "0099_x",
        "-- a header; with a semicolon\n-- tidings: outside a transaction\n\n"
        "CREATE INDEX CONCURRENTLY a ON t (x);\n-- between\nDROP INDEX b;\n",
    )

    assert migration.statements == [
        "CREATE INDEX CONCURRENTLY a ON t (x)",
        "DROP INDEX b",
    ]
    assert postgres.Migration("0098_y", "CREATE TABLE t (x int);").statements is None


def test_tidings_migrate_reports_what_it_applied_and_is_idempotent(postgres_url: str) -> None:
    first = tidings_migrate(postgres_url)
    second = tidings_migrate(postgres_url)

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert first.stdout.splitlines() == [f"applied {name}" for name in ALL]
    assert second.stdout.splitlines() == ["the schema is up to date"]


def test_tidings_migrate_against_no_server_fails_clearly() -> None:
    done = tidings_migrate(f"postgresql://postgres@127.0.0.1:{free_port()}/tidings")

    assert done.returncode == 1
    assert "PostgreSQL is not reachable" in done.stderr
    assert done.stdout == ""


def test_tidings_migrate_on_sqlite_makes_the_database(tmp_path: Path) -> None:
    database = tmp_path / "new" / "tidings.db"

    done = tidings_migrate(f"sqlite:///{database}")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["the schema is up to date"]
    with contextlib.closing(sqlite3.connect(database)) as made:
        tables = {row[0] for row in made.execute("SELECT name FROM sqlite_master")}
    assert {"queues", "messages"} <= tables
