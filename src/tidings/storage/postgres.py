"""The PostgreSQL driver: an asyncpg pool, one SQL statement per contract operation.

Every operation is a single statement (data-modifying CTEs where it touches several tables), so
it runs as one transaction in one round trip and needs no explicit BEGIN. Claims and pops pick
their rows with ``FOR UPDATE SKIP LOCKED``, so concurrent consumers never wait on each other nor
get the same message. Messages are ordered by ``seq``, an identity column; the listing marker is
that number. Posts take a transaction-scoped advisory lock on their queue before drawing seqs,
so within a queue seqs commit in order and a reader paging by marker never passes a message
that commits later. Time is always the ``now`` argument, never the database clock.

The schema is versioned: ``postgres_migrations/NNNN_name.sql`` files, applied in name order by
``migrate()`` (and so by ``open()`` and ``tidings migrate``) under an advisory lock, and recorded
in ``schema_migrations``.

Every asyncpg, socket and timeout error that means "the database is not reachable" becomes
``StorageUnavailable`` at this module's edge. Acquiring a connection and running a statement
are bounded by short timeouts, so an outage answers within about two seconds; the pool
reconnects by itself when the server is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson

from tidings import errors
from tidings.models import (
    JSON,
    Claim,
    Message,
    MessageFilter,
    NewMessage,
    QueueRecord,
    QueueStats,
)
from tidings.storage.base import AOD, CLAIMS, DURABILITY, FIFO, Storage, sequence_of

logger = logging.getLogger(__name__)

Record = Any
"""An ``asyncpg.Record``: read by column name."""

SCHEMES = ("postgresql", "postgres")
ACQUIRE_TIMEOUT = 1.5
"""Seconds to get a connection from the pool, connecting included."""
COMMAND_TIMEOUT = 2.0
"""Seconds a hot-path statement may run."""
MAINTENANCE_TIMEOUT = 120.0
"""Seconds for statements whose work grows with a queue (delete, purge, move, gc)."""
MIGRATION_TIMEOUT = 600.0
CLOSE_TIMEOUT = 5.0
ATTEMPTS = 3
"""Tries of a statement PostgreSQL aborts as a deadlock or serialization failure (RETRIED)."""
MIGRATION_LOCK = 0x7469_6469_6E67
"""Advisory lock key held while migrating ("tiding" in ASCII)."""

MIGRATIONS_DIR = Path(__file__).with_name("postgres_migrations")

SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan", "jit": "off"}
"""Session settings of the pool's connections. Each statement is planned for its own values:
a generic plan cannot tell a deep queue from an empty one (it would walk the seq or expiry
index across every queue), and planning these statements costs far less than a round trip.
JIT compilation only adds latency to statements this short."""

UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; TimeoutError (acquire, connect, command) too
    asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError, ConnectionFailureError, ...
    asyncpg.InterfaceError,  # the pool or connection is closing or closed
    asyncpg.exceptions.OperatorInterventionError,  # CannotConnectNow, AdminShutdown, ...
    asyncpg.exceptions.InsufficientResourcesError,  # TooManyConnections, DiskFull, ...
    asyncpg.exceptions.TransactionRollbackError,  # still deadlocking after ATTEMPTS tries
)
RETRIED = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)
UNSTORABLE = (
    asyncpg.exceptions.CharacterNotInRepertoireError,  # NUL in a text value
    asyncpg.exceptions.UntranslatableCharacterError,
)

# The hot SQL, as constants (tests/storage/test_postgres_plans.py EXPLAINs each of them).

MESSAGE_COLUMNS = (
    "seq, id, body, created, expires, visible_at, client_id, claim_id, claim_expires, claim_count"
)
LIVE = "project = $1 AND queue = $2 AND expires > $3"
CLAIMABLE = f"{LIVE} AND claim_expires <= $3 AND visible_at <= $3"

QUEUE_CREATE = """
INSERT INTO queues (project, name, metadata, created) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING
RETURNING true
"""
QUEUE_GET_METADATA = "SELECT metadata FROM queues WHERE project = $1 AND name = $2"
QUEUE_SET_METADATA = (
    "UPDATE queues SET metadata = $3 WHERE project = $1 AND name = $2 RETURNING true"
)
QUEUE_LIST = """
SELECT name, metadata FROM queues WHERE project = $1 AND name > $2 ORDER BY name LIMIT $3
"""
QUEUE_COUNT = "SELECT count(*) FROM queues WHERE project = $1"
QUEUE_DELETE = """
WITH gone_messages AS (DELETE FROM messages WHERE project = $1 AND queue = $2),
     gone_claims AS (DELETE FROM claims WHERE project = $1 AND queue = $2)
DELETE FROM queues WHERE project = $1 AND name = $2
"""
QUEUE_PURGE = """
WITH gone_messages AS (DELETE FROM messages WHERE project = $1 AND queue = $2)
DELETE FROM claims WHERE project = $1 AND queue = $2
"""
QUEUE_STATS = f"""
SELECT counts.total, counts.claimed, counts.delayed, ends.*
FROM (
    SELECT count(*) AS total,
           count(*) FILTER (WHERE claim_expires > $3) AS claimed,
           count(*) FILTER (WHERE claim_expires <= $3 AND visible_at > $3) AS delayed
    FROM messages WHERE {LIVE}
) AS counts
LEFT JOIN LATERAL (
    (SELECT {MESSAGE_COLUMNS} FROM messages WHERE {LIVE} ORDER BY seq LIMIT 1)
    UNION ALL
    (SELECT {MESSAGE_COLUMNS} FROM messages WHERE {LIVE} ORDER BY seq DESC LIMIT 1)
) AS ends ON true
"""

QUEUE_LOCK = "SELECT pg_advisory_xact_lock(hashtext($1), hashtext({queue})) IS NULL AS held"
"""Serializes the posts of one queue until commit, so its seqs commit in order."""

MESSAGES_POST = f"""
WITH queue_lock AS ({QUEUE_LOCK.format(queue="$2")}),
     new_queue AS (
         INSERT INTO queues (project, name, metadata, created) VALUES ($1, $2, '{{}}', $3)
         ON CONFLICT DO NOTHING
     )
INSERT INTO messages (id, project, queue, body, client_id, created, expires, visible_at)
SELECT batch.id, $1, $2, batch.body, batch.client_id, $3, batch.expires, batch.visible_at
FROM queue_lock,
     unnest($4::text[], $5::bytea[], $6::text[], $7::float8[], $8::float8[])
         WITH ORDINALITY AS batch (id, body, client_id, expires, visible_at, n)
ORDER BY batch.n
"""
"""Every row is joined with the lock, so the lock is held before the first seq is drawn."""

MESSAGES_LIST = f"""
SELECT {MESSAGE_COLUMNS} FROM messages
WHERE {LIVE} AND seq > $4
  AND ($5::boolean OR client_id <> $6)
  AND ($7::boolean OR claim_expires <= $3)
  AND ($8::boolean OR visible_at <= $3)
ORDER BY seq
LIMIT $9
"""
MESSAGES_GET = f"""
SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ANY($4::text[]) AND {LIVE} ORDER BY seq
"""
MESSAGE_DELETE = f"""
WITH target AS (
    SELECT seq, claim_id, claim_id IS NOT NULL AND claim_expires > $3 AS claimed
    FROM messages WHERE id = $4 AND {LIVE}
    FOR UPDATE
), verdict AS (
    SELECT seq, CASE
        WHEN $5::text IS NULL THEN CASE WHEN claimed THEN 'claimed' ELSE 'ok' END
        WHEN NOT EXISTS (
            SELECT FROM claims
            WHERE id = $5 AND project = $1 AND queue = $2 AND expires > $3
        ) THEN 'claim-expired'
        WHEN NOT claimed THEN 'not-claimed'
        WHEN claim_id <> $5 THEN 'claimed'
        ELSE 'ok'
    END AS verdict
    FROM target
), deleted AS (
    DELETE FROM messages WHERE seq IN (SELECT seq FROM verdict WHERE verdict = 'ok')
)
SELECT verdict FROM verdict
"""
"""Deletes the message only when its claim allows it; the verdict names what was wrong."""

MESSAGES_DELETE = """
DELETE FROM messages
WHERE id = ANY($3::text[]) AND project = $1 AND queue = $2
  AND ($4::text[] IS NULL OR (claim_id = ANY($4) AND claim_expires > $5))
"""
MESSAGES_POP = f"""
DELETE FROM messages
WHERE seq IN (
    SELECT seq FROM messages WHERE {CLAIMABLE} ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED
)
RETURNING {MESSAGE_COLUMNS}
"""
MESSAGES_MOVE = f"""
WITH queue_lock AS ({QUEUE_LOCK.format(queue="$4")}),
     new_queue AS (
         INSERT INTO queues (project, name, metadata, created) VALUES ($1, $4, '{{}}', $3)
         ON CONFLICT DO NOTHING
     ),
     moved AS (
         DELETE FROM messages WHERE id = ANY($5::text[]) AND {LIVE}
         RETURNING seq, id, body, client_id, created, expires, visible_at
     )
INSERT INTO messages (id, project, queue, body, client_id, created, expires, visible_at)
SELECT moved.id, $1, $4, moved.body, moved.client_id, moved.created,
       coalesce($6::float8, moved.expires), moved.visible_at
FROM queue_lock, moved
ORDER BY moved.seq
"""

CLAIM_CREATE = f"""
WITH claimed AS (
    UPDATE messages
    SET claim_id = $5::text, claim_expires = $6::float8, claim_count = claim_count + 1,
        expires = greatest(expires, $7::float8)
    WHERE seq IN (
        SELECT seq FROM messages WHERE {CLAIMABLE} ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED
    )
    RETURNING {MESSAGE_COLUMNS}
), claim AS (
    INSERT INTO claims (id, project, queue, created, expires)
    SELECT $5, $1, $2, $3, $6 WHERE EXISTS (SELECT FROM claimed)
)
SELECT {MESSAGE_COLUMNS} FROM claimed
"""
CLAIM_GET = """
SELECT claims.created AS claim_created, claims.expires AS claim_expires_at,
       m.seq, m.id, m.body, m.created, m.expires, m.visible_at, m.client_id, m.claim_id,
       m.claim_expires, m.claim_count
FROM claims
LEFT JOIN messages AS m
    ON m.claim_id = claims.id AND m.project = $1 AND m.queue = $2 AND m.expires > $3
WHERE claims.id = $4 AND claims.project = $1 AND claims.queue = $2 AND claims.expires > $3
ORDER BY m.seq
"""
CLAIM_RENEW = """
WITH renewed AS (
    UPDATE claims SET created = $3, expires = $5
    WHERE id = $4 AND project = $1 AND queue = $2 AND expires > $3
    RETURNING id
), extended AS (
    UPDATE messages SET claim_expires = $5, expires = greatest(expires, $6)
    WHERE claim_id = $4 AND project = $1 AND queue = $2 AND expires > $3
      AND EXISTS (SELECT FROM renewed)
)
SELECT count(*) AS renewed FROM renewed
"""
CLAIM_RELEASE = """
WITH released AS (
    DELETE FROM claims WHERE id = $3 AND project = $1 AND queue = $2 RETURNING id
)
UPDATE messages SET claim_id = NULL, claim_expires = 0
WHERE claim_id = $3 AND project = $1 AND queue = $2 AND EXISTS (SELECT FROM released)
"""
GC = """
WITH dead_messages AS (DELETE FROM messages WHERE expires <= $1 RETURNING 1),
     dead_claims AS (DELETE FROM claims WHERE expires <= $1 RETURNING 1)
SELECT (SELECT count(*) FROM dead_messages) + (SELECT count(*) FROM dead_claims) AS removed
"""

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE schema_migrations (
    name text PRIMARY KEY,
    applied_at double precision NOT NULL
)
"""

DELETE_VERDICTS: dict[str, type[errors.TidingsError]] = {
    "claimed": errors.MessageIsClaimed,
    "claim-expired": errors.ClaimExpired,
    "not-claimed": errors.MessageNotClaimed,
}


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


def _load_migrations() -> list[Migration]:
    paths = sorted(MIGRATIONS_DIR.glob("*.sql"))
    return [Migration(path.stem, path.read_text()) for path in paths]


MIGRATIONS = _load_migrations()
"""Read once at import: the event loop never waits on these files."""


def from_url(url: str) -> PostgresStorage:
    """``postgresql://user[:password]@host:port/dbname`` (``postgres://`` works too)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname or parts.path in ("", "/"):
        raise ValueError("PostgreSQL URLs look like postgresql://user[:password]@host:port/dbname")
    return PostgresStorage(url)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Turn the library's "cannot reach the database" errors into StorageUnavailable."""
    try:
        yield
    except UNSTORABLE as exc:
        raise errors.InvalidParameter(f"A value cannot be stored: {exc}") from exc
    except UNAVAILABLE as exc:
        logger.warning("PostgreSQL unavailable: %r", exc)
        raise errors.StorageUnavailable(
            f"PostgreSQL is not reachable ({type(exc).__name__}). Please try again."
        ) from exc


def _dumps(value: JSON) -> str:
    return orjson.dumps(value).decode()


def _message(row: Record) -> Message:
    return Message(
        id=row["id"],
        body=orjson.loads(row["body"]),
        created=row["created"],
        expires=row["expires"],
        visible_at=row["visible_at"],
        client_id=row["client_id"],
        claim_id=row["claim_id"],
        claim_expires=row["claim_expires"],
        claim_count=row["claim_count"],
    )


def _messages(rows: Sequence[Record]) -> list[Message]:
    return [_message(row) for row in sorted(rows, key=lambda row: int(row["seq"]))]


def _stats(rows: Sequence[Record]) -> QueueStats:
    first = rows[0]
    if first["total"] == 0:
        return QueueStats()
    ends = _messages(rows)
    return QueueStats(
        claimed=first["claimed"],
        delayed=first["delayed"],
        total=first["total"],
        oldest=ends[0],
        newest=ends[-1],
    )


def _claim(claim_id: str, queue: str, rows: Sequence[Record]) -> Claim | None:
    if not rows:
        return None
    held = [row for row in rows if row["seq"] is not None]
    first = rows[0]
    return Claim(
        claim_id, queue, first["claim_created"], first["claim_expires_at"], _messages(held)
    )


async def _apply_migrations(connection: Any) -> list[str]:
    """Apply the pending migrations, each in its own transaction; the caller holds the lock.

    With nothing pending it only reads, so a role without the right to create tables can open
    a database migrated by its owner."""
    if await connection.fetchval("SELECT to_regclass('schema_migrations')") is None:
        await connection.execute(CREATE_MIGRATIONS_TABLE)
    done = {row["name"] for row in await connection.fetch("SELECT name FROM schema_migrations")}
    applied: list[str] = []
    for migration in MIGRATIONS:
        if migration.name in done:
            continue
        async with connection.transaction():
            await connection.execute(migration.sql, timeout=MIGRATION_TIMEOUT)
            await connection.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)",
                migration.name,
                time.time(),
            )
        logger.info("applied PostgreSQL migration %s", migration.name)
        applied.append(migration.name)
    return applied


class PostgresStorage(Storage):
    capabilities = frozenset({FIFO, CLAIMS, DURABILITY, AOD})

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        acquire_timeout: float = ACQUIRE_TIMEOUT,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.acquire_timeout = acquire_timeout
        self.command_timeout = command_timeout
        self._pool: Any = None

    # Plumbing

    async def open(self) -> None:
        await self.migrate()
        with _translated():
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=self.min_size,
                max_size=self.max_size,
                timeout=self.acquire_timeout,
                command_timeout=self.command_timeout,
                server_settings=SERVER_SETTINGS,
            )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
        except (*UNAVAILABLE, asyncpg.PostgresError):
            pool.terminate()

    async def migrate(self) -> list[str]:
        """Apply pending migrations on a connection of its own, under an advisory lock, so
        that several processes starting at once apply each migration exactly once."""
        with _translated():
            connection = await asyncpg.connect(self.url, timeout=self.acquire_timeout)
            try:
                await connection.execute(
                    "SELECT pg_advisory_lock($1)", MIGRATION_LOCK, timeout=MIGRATION_TIMEOUT
                )
                return await _apply_migrations(connection)
            finally:
                await connection.close(timeout=CLOSE_TIMEOUT)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        if self._pool is None:
            raise errors.StorageUnavailable("The PostgreSQL store is not open.")
        async with self._pool.acquire(timeout=self.acquire_timeout) as connection:
            yield connection

    async def _fetch(
        self, sql: str, *args: object, max_seconds: float | None = None
    ) -> list[Record]:
        """Run one statement (one transaction), for at most ``max_seconds`` (default: the
        command timeout). PostgreSQL aborting it as a deadlock or serialization failure left
        nothing changed, so it is tried again."""
        with _translated():
            for _ in range(ATTEMPTS - 1):
                with contextlib.suppress(*RETRIED):
                    return await self._fetch_once(sql, args, max_seconds)
            return await self._fetch_once(sql, args, max_seconds)

    async def _fetch_once(
        self, sql: str, args: tuple[object, ...], max_seconds: float | None
    ) -> list[Record]:
        async with self._connection() as connection:
            rows: list[Record] = await connection.fetch(sql, *args, timeout=max_seconds)
            return rows

    async def is_alive(self) -> bool:
        try:
            return bool(await self._fetch("SELECT 1"))
        except errors.StorageUnavailable:
            return False

    # Queues

    async def queue_create(
        self, project: str, name: str, metadata: dict[str, JSON], now: float
    ) -> bool:
        return bool(await self._fetch(QUEUE_CREATE, project, name, _dumps(metadata), now))

    async def queue_get_metadata(self, project: str, name: str) -> dict[str, JSON] | None:
        rows = await self._fetch(QUEUE_GET_METADATA, project, name)
        return dict(orjson.loads(rows[0]["metadata"])) if rows else None

    async def queue_set_metadata(self, project: str, name: str, metadata: dict[str, JSON]) -> None:
        if not await self._fetch(QUEUE_SET_METADATA, project, name, _dumps(metadata)):
            raise errors.QueueNotFound()

    async def queue_list(self, project: str, marker: str | None, limit: int) -> list[QueueRecord]:
        rows = await self._fetch(QUEUE_LIST, project, marker or "", limit)
        return [QueueRecord(row["name"], orjson.loads(row["metadata"])) for row in rows]

    async def queue_count(self, project: str) -> int:
        rows = await self._fetch(QUEUE_COUNT, project)
        return int(rows[0][0])

    async def queue_delete(self, project: str, name: str) -> None:
        await self._fetch(QUEUE_DELETE, project, name, max_seconds=MAINTENANCE_TIMEOUT)

    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        return _stats(await self._fetch(QUEUE_STATS, project, name, now))

    async def queue_purge(self, project: str, name: str) -> None:
        await self._fetch(QUEUE_PURGE, project, name, max_seconds=MAINTENANCE_TIMEOUT)

    # Messages

    async def messages_post(
        self, project: str, queue: str, messages: Sequence[NewMessage], now: float
    ) -> list[str]:
        ids = [str(uuid.uuid4()) for _ in messages]
        await self._fetch(
            MESSAGES_POST,
            project,
            queue,
            now,
            ids,
            [orjson.dumps(message.body) for message in messages],
            [message.client_id for message in messages],
            [now + message.ttl for message in messages],
            [now + message.delay for message in messages],
        )
        return ids

    async def messages_list(
        self, project: str, queue: str, query: MessageFilter, now: float
    ) -> tuple[list[Message], str | None]:
        rows = await self._fetch(
            MESSAGES_LIST,
            project,
            queue,
            now,
            sequence_of(query.marker),
            query.echo,
            query.client_id,
            query.include_claimed,
            query.include_delayed,
            query.limit,
        )
        marker = str(rows[-1]["seq"]) if rows else None
        return _messages(rows), marker

    async def messages_get(
        self, project: str, queue: str, ids: Sequence[str], now: float
    ) -> list[Message]:
        return _messages(await self._fetch(MESSAGES_GET, project, queue, now, list(ids)))

    async def message_delete(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> None:
        rows = await self._fetch(MESSAGE_DELETE, project, queue, now, message_id, claim_id)
        error = DELETE_VERDICTS.get(rows[0]["verdict"]) if rows else None
        if error is not None:
            raise error()

    async def messages_delete(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        claim_ids: Sequence[str] | None,
        now: float,
    ) -> None:
        claims = None if claim_ids is None else list(claim_ids)
        await self._fetch(MESSAGES_DELETE, project, queue, list(ids), claims, now)

    async def messages_pop(self, project: str, queue: str, limit: int, now: float) -> list[Message]:
        return _messages(await self._fetch(MESSAGES_POP, project, queue, now, limit))

    async def messages_move(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        target: str,
        ttl: int | None,
        now: float,
    ) -> None:
        expires = None if ttl is None else now + ttl
        await self._fetch(
            MESSAGES_MOVE,
            project,
            queue,
            now,
            target,
            list(ids),
            expires,
            max_seconds=MAINTENANCE_TIMEOUT,
        )

    # Claims

    async def claim_create(
        self, project: str, queue: str, ttl: int, grace: int, limit: int, now: float
    ) -> Claim | None:
        claim_id = str(uuid.uuid4())
        expires = now + ttl
        rows = await self._fetch(
            CLAIM_CREATE, project, queue, now, limit, claim_id, expires, expires + grace
        )
        return Claim(claim_id, queue, now, expires, _messages(rows)) if rows else None

    async def claim_get(self, project: str, queue: str, claim_id: str, now: float) -> Claim | None:
        return _claim(claim_id, queue, await self._fetch(CLAIM_GET, project, queue, now, claim_id))

    async def claim_renew(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        expires = now + ttl
        rows = await self._fetch(
            CLAIM_RENEW, project, queue, now, claim_id, expires, expires + grace
        )
        return bool(rows[0]["renewed"])

    async def claim_release(self, project: str, queue: str, claim_id: str) -> None:
        await self._fetch(CLAIM_RELEASE, project, queue, claim_id)

    # Housekeeping

    async def gc(self, now: float) -> int:
        rows = await self._fetch(GC, now, max_seconds=MAINTENANCE_TIMEOUT)
        return int(rows[0]["removed"])
