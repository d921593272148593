"""The embedded SQLite driver: the default store, one file (or memory) per deployment.

One connection per process does every statement, so writes never contend inside a process.
Each contract operation runs as one function on that connection, at the end of the event
loop's turn in which it was called; a write runs in a transaction, shared with the other
writes of that turn (``sqlite_batch``). The database is in WAL mode, so readers in other
processes (``--workers``) are not blocked, and a killed process loses no committed write.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import sqlite3
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson

from tidings import errors
from tidings.ids import unique_id
from tidings.models import (
    JSON,
    Claim,
    Message,
    MessageFilter,
    NewMessage,
    PostContext,
    PreparedPost,
    PreparePost,
    QueueRecord,
    QueueStats,
    Subscription,
)
from tidings.storage.base import AOD, CLAIMS, DURABILITY, FIFO, Storage, sequence_of
from tidings.storage.known_contexts import KnownContexts
from tidings.storage.sqlite_batch import (
    BatchedConnection,
    Checkpointer,
    WriterLock,
    set_up_database,
    writer_lock_path,
)
from tidings.storage.url_options import database_path
from tidings.storage.watch import Key, Watchers

T = TypeVar("T")

SCHEMA = (Path(__file__).with_name("sqlite.sql")).read_text()

MESSAGE_COLUMNS = (
    "seq, id, body, created, expires, visible_at, client_id, claim_id, claim_expires, claim_count"
)
UNDELAYED = "visible_at <= created"
"""Messages posted without a delay (``visible_at`` is ``created`` plus the delay, and never
changes). A claim repeats this term, and DELAYED, literally: SQLite uses a partial index only
for a query whose WHERE holds each term of the index's own (messages_undelayed,
messages_delayed in sqlite.sql)."""
DELAYED = "visible_at > created"
"""Messages posted with a delay, whether it has passed or not."""
QUEUE_PARTS = (f"claim_expires = 0 AND {UNDELAYED}", f"(claim_expires > 0 OR {DELAYED})")
"""The terms of the two partial indexes that hold a queue's messages by post order between
them, each message in one: messages_undelayed and messages_held_or_delayed. A read of the
whole queue reads both, each with its term written as it is here."""
OF_QUEUE = "project = :project AND queue = :queue"
LIVE = f"{OF_QUEUE} AND expires > :now"


def in_post_order(columns: str, where: str, order: str = "seq") -> str:
    """A SELECT of ``columns`` (``seq`` among them) of the messages that ``where`` picks in one
    queue (it holds OF_QUEUE), the first ``:limit`` by ``order`` (``seq`` or ``seq DESC``):
    the first of each of QUEUE_PARTS, merged."""
    parts = (
        f"SELECT * FROM (SELECT {columns} FROM messages WHERE {where} AND {part}"
        f" ORDER BY {order} LIMIT :limit)"
        for part in QUEUE_PARTS
    )
    return " UNION ALL ".join(parts) + f" ORDER BY {order} LIMIT :limit"


QUEUE_UP_TO = in_post_order("seq", f"{OF_QUEUE} AND seq <= :newest")
QUEUE_MESSAGES_UP_TO = f"DELETE FROM messages WHERE seq IN ({QUEUE_UP_TO})"
NEWEST_OF_QUEUE = in_post_order("seq", OF_QUEUE, order="seq DESC")
OLDEST_LIVE = in_post_order(MESSAGE_COLUMNS, LIVE)
NEWEST_LIVE = in_post_order(MESSAGE_COLUMNS, LIVE, order="seq DESC")
QUEUE_COUNTS = (
    "SELECT count(*) AS total, coalesce(sum(claimed), 0) AS claimed,"
    " coalesce(sum(delayed), 0) AS delayed FROM ("
    + " UNION ALL ".join(
        "SELECT claim_expires > :now AS claimed, claim_expires <= :now AND visible_at > :now"
        f" AS delayed FROM messages WHERE {LIVE} AND {part}"
        for part in QUEUE_PARTS
    )
    + ")"
)
"""How many live messages a queue holds, and how many of them are claimed or delayed."""
CLAIMABLE = (
    f"SELECT seq FROM (SELECT seq FROM messages WHERE {LIVE} AND claim_expires = 0"
    f" AND {UNDELAYED} AND visible_at <= :now ORDER BY seq LIMIT :limit)"
    f" UNION ALL SELECT seq FROM (SELECT seq FROM messages WHERE {LIVE} AND claim_expires = 0"
    f" AND {DELAYED} AND visible_at <= :now ORDER BY visible_at, seq LIMIT :limit)"
    f" UNION ALL SELECT seq FROM (SELECT seq FROM messages WHERE {LIVE} AND claim_expires > 0"
    " AND claim_expires <= :now AND visible_at <= :now ORDER BY claim_expires LIMIT :limit)"
    " ORDER BY seq LIMIT :limit"
)
"""The first ``:limit`` messages a claim or pop may take: the first free ones never delayed
(the literal 0 lets SQLite use the partial index messages_undelayed), the first free ones
whose delay ended (messages_delayed, by the delay's end) and the first whose claim ended
(messages_claimed, by the claim's end), by post order. So a claim reads neither the messages
other consumers hold nor those whose delay goes on. When more delays or claims than that
ended, the first to end come first, so a claim may then get newer messages before the rest
of them."""
LIVE_CLAIM = (
    "SELECT created, expires FROM claims WHERE id = ? AND project = ? AND queue = ? AND expires > ?"
)
OF_QUEUE_BY_ID = "+project = ? AND +queue = ?"
"""The queue's rows, for a lookup by message ids: the unary ``+`` keeps SQLite (which has no
statistics) from reading an index of the queue instead of the ids' own, as it did for ten
ids or more while a full index of the queue's messages existed (test_sqlite_plans.py)."""
LIVE_BY_ID = OF_QUEUE_BY_ID + " AND expires > ?"
VISIBLE_QUEUE = "instr(name, '#') = 0"
"""Queues users see: internal ones (outboxes) hold a '#' in their name."""
INSERT_MESSAGE = (
    "INSERT INTO messages (id, project, queue, body, client_id, created, expires, visible_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
"""An id already stored is skipped, so a post retried after a lost answer stores nothing twice."""
OUTBOXES = (
    "SELECT DISTINCT project, queue FROM messages WHERE queue GLOB '*#outbox'"
    " AND visible_at <= ? AND claim_expires <= ? AND expires > ?"
)
LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM messages"
POSTED_SINCE = (
    "SELECT project, queue, max(seq) AS newest FROM messages WHERE seq > ? GROUP BY project, queue"
)
POLL = 0.05
"""Seconds between two looks for other processes' posts while someone waits."""
DELETE_CHUNK = 250
"""Messages one transaction of a queue's delete, purge or expiry removes. Every worker's
writers wait while a transaction commits: deleting 100,000 messages at once held them some
300 ms. Between two chunks the other writes go on."""
EXPIRED_MESSAGES = (
    "DELETE FROM messages WHERE seq IN"
    " (SELECT seq FROM messages WHERE expires <= :now LIMIT :limit)"
)
SUBSCRIPTION_COLUMNS = "id, source, subscriber, created, expires, ttl, options, confirmed, secret"
SUBSCRIPTION_TTL = """
BEGIN;
ALTER TABLE subscriptions ADD COLUMN ttl INTEGER NOT NULL DEFAULT 0;
UPDATE subscriptions SET ttl = CAST(round(expires - created) AS INTEGER);
COMMIT;
"""
"""Gives a file made before subscriptions kept their TTL the column, each the TTL it was
taken for then."""
LIVE_SUBSCRIPTIONS = "project = ? AND source = ? AND expires > ?"


def from_url(url: str) -> SQLiteStorage:
    """``sqlite:///relative/or/absolute/path.db`` or ``sqlite:///:memory:``."""
    return SQLiteStorage(database_path(url))


def _message(row: sqlite3.Row) -> Message:
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


def _messages(rows: Iterable[sqlite3.Row]) -> list[Message]:
    return [_message(row) for row in sorted(rows, key=lambda row: int(row["seq"]))]


def _kept_until(db: sqlite3.Connection, claimed: list[sqlite3.Row], until: float) -> list[Message]:
    """The claimed rows as messages that live at least ``until`` (the claim's end plus its
    grace). Only those that would expire sooner are written again: setting ``expires`` in the
    claim's own UPDATE would move every claimed message's entry in messages_by_expiry, a
    quarter of a claim's cost."""
    short = [row["seq"] for row in claimed if row["expires"] < until]
    if short:
        db.execute(
            f"UPDATE messages SET expires = ? WHERE seq IN ({_placeholders(short)})",
            (until, *short),
        )
    return [
        dataclasses.replace(message, expires=until) if message.expires < until else message
        for message in _messages(claimed)
    ]


def _subscription(row: sqlite3.Row) -> Subscription:
    return Subscription(
        id=row["id"],
        source=row["source"],
        subscriber=row["subscriber"],
        created=row["created"],
        expires=row["expires"],
        ttl=row["ttl"],
        options=orjson.loads(row["options"]),
        confirmed=bool(row["confirmed"]),
        secret=row["secret"],
    )


def _queue_metadata(db: sqlite3.Connection, project: str, name: str) -> dict[str, JSON] | None:
    row = db.execute(
        "SELECT metadata FROM queues WHERE project = ? AND name = ?", (project, name)
    ).fetchone()
    return None if row is None else dict(orjson.loads(row["metadata"]))


def _subscribers(
    db: sqlite3.Connection, project: str, source: str, now: float
) -> list[Subscription]:
    rows = db.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE {LIVE_SUBSCRIPTIONS} ORDER BY id",
        (project, source, now),
    )
    return [_subscription(row) for row in rows]


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """Bring a file made by an earlier version to the columns ``SCHEMA`` makes."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(subscriptions)")}
    if "ttl" not in columns:
        db.executescript(SUBSCRIPTION_TTL)


def _post_context(db: sqlite3.Connection, project: str, queue: str, now: float) -> PostContext:
    return PostContext(_queue_metadata(db, project, queue), _subscribers(db, project, queue, now))


def _context_clock(db: sqlite3.Connection) -> int:
    """Moved by every change of any queue's post context (``context_clock`` in sqlite.sql)."""
    return int(db.execute("SELECT n FROM context_clock").fetchone()[0])


def _context_version(db: sqlite3.Connection, project: str, queue: str) -> str:
    """The version of the queue's post context (``context_versions`` in sqlite.sql)."""
    row = db.execute(
        "SELECT version FROM context_versions WHERE project = ? AND queue = ?", (project, queue)
    ).fetchone()
    return "" if row is None else str(row[0])


@dataclasses.dataclass(frozen=True, slots=True)
class _PostRows:
    """A post as the rows it inserts, and the queues they go to."""

    ids: list[str]
    targets: list[str]
    rows: list[tuple[object, ...]]

    @classmethod
    def of(cls, project: str, queue: str, now: float, post: PreparedPost) -> _PostRows:
        batches = [
            (queue, post.messages),
            *((target, batch) for target, batch in post.outbox if batch),
        ]
        rows: list[tuple[object, ...]] = [
            (
                message.id,
                project,
                target,
                orjson.dumps(message.body),
                message.client_id,
                now,
                now + message.ttl,
                now + message.delay,
            )
            for target, batch in batches
            for message in batch
        ]
        targets = list(dict.fromkeys(target for target, _ in batches))
        return cls([message.id for message in post.messages], targets, rows)


def _insert_post(db: sqlite3.Connection, post: _PostRows, project: str, now: float) -> _PostRows:
    for target in post.targets:
        _ensure_queue(db, project, target, {}, now)
    db.executemany(INSERT_MESSAGE, post.rows)
    return post


def _placeholders(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


WAL_SIZE_LIMIT = 64 * 1024 * 1024
"""Bytes of WAL file kept for reuse when the WAL starts over."""


class SQLiteStorage(Storage):
    def __init__(self, path: str) -> None:
        self.path = path
        in_memory = path == ":memory:"
        self.capabilities = frozenset({FIFO, CLAIMS, AOD} | (set() if in_memory else {DURABILITY}))
        checkpointer = None
        writer_lock = None
        if not in_memory:  # the writer and the checkpointer each hold a lock of their own
            lock_path = writer_lock_path(path)
            checkpointer = Checkpointer(
                self._plain_connection, "tidings-wal", WriterLock(lock_path)
            )
            writer_lock = WriterLock(lock_path)
        self._connection = BatchedConnection(self._connect, checkpointer, writer_lock)
        self._watchers = Watchers(_NewRows(self))
        self._contexts = KnownContexts()

    # Plumbing: every operation is one function run on the connection, in a batch.

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._connection.read(work)

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._connection.write(work)

    def _plain_connection(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 10000")
        # When the WAL starts over, its file is cut back to this size.
        db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        return db

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = self._plain_connection()
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous = NORMAL")
        if self.path != ":memory:":  # the checkpointer's thread copies the WAL back
            db.execute("PRAGMA wal_autocheckpoint = 0")
        # Keep the indexes of deep queues in memory: random message ids spread over the pages.
        db.execute("PRAGMA cache_size = -65536")
        # No memory map: after another process's commit SQLite unmaps the file and maps it again
        # (at every batch, with several workers), which costs more than reading the pages.
        db.execute("PRAGMA mmap_size = 0")
        set_up_database(db, self.path, SCHEMA, _add_missing_columns)
        return db

    async def open(self) -> None:
        await self._connection.open()

    async def close(self) -> None:
        await self._watchers.close()
        await self._connection.close()

    async def is_alive(self) -> bool:
        try:
            return await self._run(lambda db: db.execute("SELECT 1").fetchone() is not None)
        except errors.StorageUnavailable:
            return False

    # Queues

    async def queue_create(
        self, project: str, name: str, metadata: dict[str, JSON], now: float
    ) -> bool:
        def create(db: sqlite3.Connection) -> bool:
            return _ensure_queue(db, project, name, metadata, now)

        return await self._write(create)

    async def queue_get_metadata(self, project: str, name: str) -> dict[str, JSON] | None:
        return await self._run(functools.partial(_queue_metadata, project=project, name=name))

    async def queue_set_metadata(self, project: str, name: str, metadata: dict[str, JSON]) -> None:
        def update(db: sqlite3.Connection) -> None:
            cursor = db.execute(
                "UPDATE queues SET metadata = ? WHERE project = ? AND name = ?",
                (orjson.dumps(metadata), project, name),
            )
            if cursor.rowcount == 0:
                raise errors.QueueNotFound()

        await self._write(update)

    async def queue_list(self, project: str, marker: str | None, limit: int) -> list[QueueRecord]:
        def page(db: sqlite3.Connection) -> list[QueueRecord]:
            rows = db.execute(
                "SELECT name, metadata FROM queues WHERE project = ? AND name > ?"
                f" AND {VISIBLE_QUEUE} ORDER BY name LIMIT ?",
                (project, marker or "", limit),
            )
            return [QueueRecord(row["name"], orjson.loads(row["metadata"])) for row in rows]

        return await self._run(page)

    async def queue_count(self, project: str) -> int:
        def count(db: sqlite3.Connection) -> int:
            row = db.execute(
                f"SELECT count(*) FROM queues WHERE project = ? AND {VISIBLE_QUEUE}", (project,)
            )
            return int(row.fetchone()[0])

        return await self._run(count)

    async def queue_delete(self, project: str, name: str) -> None:
        await self._delete_older_messages(project, name)

        def delete(db: sqlite3.Connection) -> None:
            _delete_queue_contents(db, project, name)
            db.execute("DELETE FROM queues WHERE project = ? AND name = ?", (project, name))

        await self._write(delete)

    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        def stats(db: sqlite3.Connection) -> QueueStats:
            args = {"project": project, "queue": name, "now": now, "limit": 1}
            counts = db.execute(QUEUE_COUNTS, args).fetchone()
            if counts["total"] == 0:
                return QueueStats()
            oldest = db.execute(OLDEST_LIVE, args).fetchone()
            newest = db.execute(NEWEST_LIVE, args).fetchone()
            return QueueStats(
                claimed=counts["claimed"],
                delayed=counts["delayed"],
                total=counts["total"],
                oldest=_message(oldest),
                newest=_message(newest),
            )

        return await self._run(stats)

    async def queue_purge(self, project: str, name: str) -> None:
        await self._delete_older_messages(project, name)

        def purge(db: sqlite3.Connection) -> None:
            _delete_queue_contents(db, project, name)

        await self._write(purge)

    # Messages

    async def messages_post(
        self,
        project: str,
        queue: str,
        messages: Sequence[NewMessage],
        now: float,
        outbox: Sequence[tuple[str, Sequence[NewMessage]]] = (),
    ) -> list[str]:
        post = _PostRows.of(project, queue, now, PreparedPost(messages, outbox))
        await self._write(functools.partial(_insert_post, post=post, project=project, now=now))
        return self._posted(project, post)

    async def messages_post_in_context(
        self, project: str, queue: str, now: float, prepare: PreparePost
    ) -> list[str]:
        def read(db: sqlite3.Connection) -> _PostRows:
            found = self._connection.first_reads_found
            clock = found.get(_context_clock)
            if clock is None:
                clock = found[_context_clock] = _context_clock(db)
            known = self._contexts.current(
                project,
                queue,
                clock,
                functools.partial(_context_version, db, project, queue),
                functools.partial(_post_context, db, project, queue, now),
            )
            return _PostRows.of(project, queue, now, prepare(known.at(now)))

        write = functools.partial(_insert_post, project=project, now=now)
        return self._posted(project, await self._connection.write_after_read(read, write))

    def _posted(self, project: str, post: _PostRows) -> list[str]:
        for target in post.targets:
            self._watchers.posted((project, target))
        return post.ids

    async def messages_list(
        self, project: str, queue: str, query: MessageFilter, now: float
    ) -> tuple[list[Message], str | None]:
        where = f"{LIVE} AND seq > :marker"
        if not query.echo:
            where += " AND client_id != :client_id"
        if not query.include_claimed:
            where += " AND claim_expires <= :now"
        if not query.include_delayed:
            where += " AND visible_at <= :now"
        sql = in_post_order(MESSAGE_COLUMNS, where)
        args = {
            "project": project,
            "queue": queue,
            "now": now,
            "marker": sequence_of(query.marker),
            "client_id": query.client_id,
            "limit": query.limit,
        }

        def page(db: sqlite3.Connection) -> tuple[list[Message], str | None]:
            rows = db.execute(sql, args).fetchall()
            marker = str(rows[-1]["seq"]) if rows else None
            return _messages(rows), marker

        return await self._run(page)

    async def messages_get(
        self, project: str, queue: str, ids: Sequence[str], now: float
    ) -> list[Message]:
        def get(db: sqlite3.Connection) -> list[Message]:
            rows = db.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {LIVE_BY_ID}"
                f" AND id IN ({_placeholders(ids)})",
                (project, queue, now, *ids),
            )
            return _messages(rows)

        return await self._run(get)

    async def message_delete(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> None:
        def delete(db: sqlite3.Connection) -> None:
            if _delete_if_free_or_held(db, project, queue, message_id, claim_id, now):
                return
            row = db.execute(
                f"SELECT seq, claim_id, claim_expires FROM messages WHERE {LIVE} AND id = :id",
                {"project": project, "queue": queue, "now": now, "id": message_id},
            ).fetchone()
            if row is None:
                return
            _check_claim(db, project, queue, row, claim_id, now)
            db.execute("DELETE FROM messages WHERE seq = ?", (row["seq"],))

        await self._write(delete)

    async def messages_delete(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        claim_ids: Sequence[str] | None,
        now: float,
    ) -> None:
        sql = f"DELETE FROM messages WHERE {OF_QUEUE_BY_ID} AND id IN ({_placeholders(ids)})"
        args: list[object] = [project, queue, *ids]
        if claim_ids is not None:
            sql += f" AND claim_expires > ? AND claim_id IN ({_placeholders(claim_ids)})"
            args += [now, *claim_ids]

        def delete(db: sqlite3.Connection) -> None:
            db.execute(sql, args)

        await self._write(delete)

    async def messages_pop(self, project: str, queue: str, limit: int, now: float) -> list[Message]:
        def pop(db: sqlite3.Connection) -> list[Message]:
            rows = db.execute(
                f"DELETE FROM messages WHERE seq IN ({CLAIMABLE}) RETURNING {MESSAGE_COLUMNS}",
                {"project": project, "queue": queue, "now": now, "limit": limit},
            ).fetchall()
            return _messages(rows)

        return await self._write(pop)

    async def messages_move(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        target: str,
        ttl: int | None,
        now: float,
    ) -> None:
        def move(db: sqlite3.Connection) -> None:
            _ensure_queue(db, project, target, {}, now)
            rows = db.execute(
                f"DELETE FROM messages WHERE {LIVE_BY_ID}"
                f" AND id IN ({_placeholders(ids)}) RETURNING {MESSAGE_COLUMNS}",
                (project, queue, now, *ids),
            ).fetchall()
            db.executemany(
                "INSERT INTO messages (id, project, queue, body, client_id, created, expires,"
                " visible_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        row["id"],
                        project,
                        target,
                        row["body"],
                        row["client_id"],
                        row["created"],
                        row["expires"] if ttl is None else now + ttl,
                        row["visible_at"],
                    )
                    for row in sorted(rows, key=lambda row: int(row["seq"]))
                ],
            )

        await self._write(move)

    # Claims

    async def claim_create(
        self, project: str, queue: str, ttl: int, grace: int, limit: int, now: float
    ) -> Claim | None:
        claim_id = unique_id()
        expires = now + ttl

        def claim(db: sqlite3.Connection) -> Claim | None:
            rows = db.execute(
                "UPDATE messages SET claim_id = :claim_id, claim_expires = :expires,"
                f" claim_count = claim_count + 1 WHERE seq IN ({CLAIMABLE})"
                f" RETURNING {MESSAGE_COLUMNS}",
                {
                    "claim_id": claim_id,
                    "expires": expires,
                    "project": project,
                    "queue": queue,
                    "now": now,
                    "limit": limit,
                },
            ).fetchall()
            if not rows:
                return None
            db.execute(
                "INSERT INTO claims (id, project, queue, created, expires) VALUES (?, ?, ?, ?, ?)",
                (claim_id, project, queue, now, expires),
            )
            return Claim(claim_id, queue, now, expires, _kept_until(db, rows, expires + grace))

        return await self._write(claim)

    async def claim_get(self, project: str, queue: str, claim_id: str, now: float) -> Claim | None:
        def get(db: sqlite3.Connection) -> Claim | None:
            return _live_claim(db, project, queue, claim_id, now)

        return await self._run(get)

    async def claim_renew(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        expires = now + ttl

        def renew(db: sqlite3.Connection) -> bool:
            if not _claim_is_live(db, project, queue, claim_id, now):
                return False
            db.execute(
                "UPDATE claims SET created = ?, expires = ? WHERE id = ?", (now, expires, claim_id)
            )
            db.execute(
                "UPDATE messages SET claim_expires = :expires, expires = max(expires, :kept)"
                f" WHERE {LIVE} AND claim_id = :claim_id",
                {
                    "expires": expires,
                    "kept": expires + grace,
                    "project": project,
                    "queue": queue,
                    "now": now,
                    "claim_id": claim_id,
                },
            )
            return True

        return await self._write(renew)

    async def claim_release(self, project: str, queue: str, claim_id: str) -> None:
        def release(db: sqlite3.Connection) -> None:
            deleted = db.execute(
                "DELETE FROM claims WHERE id = ? AND project = ? AND queue = ?",
                (claim_id, project, queue),
            )
            if deleted.rowcount:
                db.execute(
                    "UPDATE messages SET claim_id = NULL, claim_expires = 0"
                    " WHERE project = ? AND queue = ? AND claim_id = ?",
                    (project, queue, claim_id),
                )

        await self._write(release)

    async def outboxes(self, now: float) -> list[tuple[str, str]]:
        def find(db: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = db.execute(OUTBOXES, (now, now, now))
            return [(row["project"], row["queue"]) for row in rows]

        return await self._run(find)

    # Subscriptions

    async def subscription_create(
        self,
        project: str,
        source: str,
        subscriber: str,
        ttl: int,
        options: dict[str, JSON],
        secret: str,
        now: float,
    ) -> tuple[Subscription, bool]:
        new = Subscription(
            str(uuid.uuid4()), source, subscriber, now, now + ttl, ttl, options, False, secret
        )

        def create(db: sqlite3.Connection) -> tuple[Subscription, bool]:
            existing = _subscriber_row(db, project, source, subscriber, now)
            if existing is not None:
                return _subscription(existing), False
            db.execute(
                f"INSERT INTO subscriptions (project, {SUBSCRIPTION_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    project,
                    new.id,
                    source,
                    subscriber,
                    now,
                    new.expires,
                    ttl,
                    orjson.dumps(options),
                    0,
                    secret,
                ),
            )
            return new, True

        return await self._write(create)

    async def subscription_get(
        self, project: str, source: str, subscription_id: str, now: float
    ) -> Subscription | None:
        def get(db: sqlite3.Connection) -> Subscription | None:
            return _live_subscription(db, project, source, subscription_id, now)

        return await self._run(get)

    async def subscription_list(
        self, project: str, source: str, marker: str | None, limit: int, now: float
    ) -> list[Subscription]:
        def page(db: sqlite3.Connection) -> list[Subscription]:
            rows = db.execute(
                f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE {LIVE_SUBSCRIPTIONS}"
                " AND id > ? ORDER BY id LIMIT ?",
                (project, source, now, marker or "", limit),
            )
            return [_subscription(row) for row in rows]

        return await self._run(page)

    async def subscription_update(
        self,
        project: str,
        source: str,
        subscription_id: str,
        now: float,
        *,
        subscriber: str | None = None,
        ttl: int | None = None,
        options: dict[str, JSON] | None = None,
    ) -> Subscription | None:
        def update(db: sqlite3.Connection) -> Subscription | None:
            current = _live_subscription(db, project, source, subscription_id, now)
            if current is None:
                return None
            if _taken(db, project, source, current, subscriber, now):
                raise errors.Conflict("Such subscription already exists.")
            changed = dataclasses.replace(
                current,
                subscriber=current.subscriber if subscriber is None else subscriber,
                expires=current.expires if ttl is None else now + ttl,
                ttl=current.ttl if ttl is None else ttl,
                options=current.options if options is None else options,
            )
            db.execute(
                "UPDATE subscriptions SET subscriber = ?, expires = ?, ttl = ?, options = ?"
                " WHERE id = ?",
                (
                    changed.subscriber,
                    changed.expires,
                    changed.ttl,
                    orjson.dumps(changed.options),
                    changed.id,
                ),
            )
            return changed

        return await self._write(update)

    async def subscription_confirm(
        self, project: str, source: str, subscription_id: str, confirmed: bool, now: float
    ) -> Subscription | None:
        def confirm(db: sqlite3.Connection) -> Subscription | None:
            row = db.execute(
                f"UPDATE subscriptions SET confirmed = ? WHERE {LIVE_SUBSCRIPTIONS} AND id = ?"
                f" RETURNING {SUBSCRIPTION_COLUMNS}",
                (int(confirmed), project, source, now, subscription_id),
            ).fetchone()
            return None if row is None else _subscription(row)

        return await self._write(confirm)

    async def subscription_delete(self, project: str, source: str, subscription_id: str) -> None:
        def delete(db: sqlite3.Connection) -> None:
            db.execute(
                "DELETE FROM subscriptions WHERE project = ? AND source = ? AND id = ?",
                (project, source, subscription_id),
            )

        await self._write(delete)

    async def subscriptions_purge(self, project: str, source: str) -> None:
        def purge(db: sqlite3.Connection) -> None:
            db.execute(
                "DELETE FROM subscriptions WHERE project = ? AND source = ?", (project, source)
            )

        await self._write(purge)

    async def subscribers(self, project: str, source: str, now: float) -> list[Subscription]:
        return await self._run(
            functools.partial(_subscribers, project=project, source=source, now=now)
        )

    async def post_context(self, project: str, queue: str, now: float) -> PostContext:
        return await self._run(
            functools.partial(_post_context, project=project, queue=queue, now=now)
        )

    # Housekeeping

    async def gc(self, now: float) -> int:
        def collect(db: sqlite3.Connection) -> int:
            return sum(
                db.execute(f"DELETE FROM {table} WHERE expires <= ?", (now,)).rowcount
                for table in ("claims", "subscriptions")
            )

        expired = await self._delete_in_chunks(EXPIRED_MESSAGES, {"now": now})
        return expired + await self._write(collect)

    async def _delete_older_messages(self, project: str, queue: str) -> None:
        """Delete the queue's messages in chunks, up to the newest there is now; the caller's
        own write then removes those posted since, with the rest of what it deletes."""
        newest = await self._newest_seq(project, queue)
        if newest is not None:
            args = {"project": project, "queue": queue, "newest": newest}
            await self._delete_in_chunks(QUEUE_MESSAGES_UP_TO, args)

    async def _newest_seq(self, project: str, queue: str) -> int | None:
        def newest(db: sqlite3.Connection) -> int | None:
            args = {"project": project, "queue": queue, "limit": 1}
            row = db.execute(NEWEST_OF_QUEUE, args).fetchone()
            return None if row is None else int(row["seq"])

        return await self._run(newest)

    async def _delete_in_chunks(self, sql: str, args: dict[str, object]) -> int:
        """Run ``sql``, a DELETE of at most ``DELETE_CHUNK`` rows (its ``:limit``), as one
        write after another until it finds fewer. Returns how many rows went."""
        chunk = {**args, "limit": DELETE_CHUNK}
        removed = 0
        while True:
            count: int = await self._write(lambda db: db.execute(sql, chunk).rowcount)
            removed += count
            if count < DELETE_CHUNK:
                return removed

    # Waiting for posts: other processes' posts show up as new rows (seqs only grow), found by
    # a poll while someone waits; this process's own posts wake their waiters at once.

    async def watch(self, project: str, queue: str, seconds: float) -> bool:
        return await self._watchers.watch((project, queue), seconds)

    async def newest_marker(self, project: str, queue: str) -> str | None:
        newest = await self._newest_seq(project, queue)
        return None if newest is None else str(newest)

    async def _last_seq(self) -> int:
        return await self._run(lambda db: int(db.execute(LAST_SEQ).fetchone()[0]))

    async def _posted_since(self, seq: int) -> list[tuple[str, str, int]]:
        """The queues that got messages after ``seq``, each with its newest seq."""

        def posted(db: sqlite3.Connection) -> list[tuple[str, str, int]]:
            rows = db.execute(POSTED_SINCE, (seq,)).fetchall()
            return [(row["project"], row["queue"], int(row["newest"])) for row in rows]

        return await self._run(posted)


class _NewRows:
    """The feed of posts for ``Watchers``: every POLL seconds while queues are listened to,
    the rows added since the last look (by any process sharing the file) name the queues that
    got messages."""

    def __init__(self, storage: SQLiteStorage) -> None:
        self._storage = storage
        self._keys: set[Key] = set()
        self._active = asyncio.Event()
        self._seq = 0
        self._posted: Callable[[Key], None] = lambda key: None
        self._task: asyncio.Task[None] | None = None

    async def connect(self, posted: Callable[[Key], None]) -> None:
        self._posted = posted
        self._task = asyncio.create_task(self._poll(), name="tidings-sqlite-poll")

    async def listen(self, keys: Collection[Key]) -> None:
        if not self._keys:  # the poll was idle: start from what is stored now
            self._seq = await self._storage._last_seq()
            self._active.set()
        self._keys.update(keys)

    async def unlisten(self, keys: Collection[Key]) -> None:
        self._keys.difference_update(keys)
        if not self._keys:
            self._active.clear()

    async def lost(self) -> None:
        assert self._task is not None
        await self._task

    async def close(self) -> None:
        self._keys.clear()
        self._active.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, errors.StorageUnavailable):
                await self._task

    async def _poll(self) -> None:
        while True:
            await self._active.wait()
            await asyncio.sleep(POLL)
            for project, queue, newest in await self._storage._posted_since(self._seq):
                self._seq = max(self._seq, newest)
                if (project, queue) in self._keys:
                    self._posted((project, queue))


def _ensure_queue(
    db: sqlite3.Connection, project: str, name: str, metadata: dict[str, Any], now: float
) -> bool:
    cursor = db.execute(
        "INSERT INTO queues (project, name, metadata, created) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (project, name, orjson.dumps(metadata), now),
    )
    return cursor.rowcount > 0


def _live_subscription(
    db: sqlite3.Connection, project: str, source: str, subscription_id: str, now: float
) -> Subscription | None:
    row = db.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE {LIVE_SUBSCRIPTIONS} AND id = ?",
        (project, source, now, subscription_id),
    ).fetchone()
    return None if row is None else _subscription(row)


def _subscriber_row(
    db: sqlite3.Connection, project: str, source: str, subscriber: str, now: float
) -> sqlite3.Row | None:
    """The live subscription of ``subscriber`` to ``source``, after deleting an expired one
    (the unique index must not meet it when the subscriber is written again)."""
    where = "project = ? AND source = ? AND subscriber = ?"
    args = (project, source, subscriber)
    db.execute(f"DELETE FROM subscriptions WHERE {where} AND expires <= ?", (*args, now))
    row: sqlite3.Row | None = db.execute(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE {where}", args
    ).fetchone()
    return row


def _taken(
    db: sqlite3.Connection,
    project: str,
    source: str,
    current: Subscription,
    subscriber: str | None,
    now: float,
) -> bool:
    """Whether changing ``current`` to ``subscriber`` collides with another subscription."""
    if subscriber is None or subscriber == current.subscriber:
        return False
    return _subscriber_row(db, project, source, subscriber, now) is not None


def _delete_queue_contents(db: sqlite3.Connection, project: str, name: str) -> None:
    for part in QUEUE_PARTS:
        db.execute(
            f"DELETE FROM messages WHERE {OF_QUEUE} AND {part}", {"project": project, "queue": name}
        )
    db.execute("DELETE FROM claims WHERE project = ? AND queue = ?", (project, name))


def _claim_is_live(
    db: sqlite3.Connection, project: str, queue: str, claim_id: str, now: float
) -> bool:
    return db.execute(LIVE_CLAIM, (claim_id, project, queue, now)).fetchone() is not None


def _live_claim(
    db: sqlite3.Connection, project: str, queue: str, claim_id: str, now: float
) -> Claim | None:
    claim = db.execute(LIVE_CLAIM, (claim_id, project, queue, now)).fetchone()
    if claim is None:
        return None
    rows = db.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {LIVE} AND claim_id = :claim_id",
        {"project": project, "queue": queue, "now": now, "claim_id": claim_id},
    )
    return Claim(claim_id, queue, claim["created"], claim["expires"], _messages(rows))


def _delete_if_free_or_held(
    db: sqlite3.Connection,
    project: str,
    queue: str,
    message_id: str,
    claim_id: str | None,
    now: float,
) -> bool:
    """Delete the message in one statement when the delete is allowed: it is unclaimed and
    no claim is given, or the given claim is live and holds it. False for everything else
    (the message is gone, or the delete is refused), which ``_check_claim`` tells apart."""
    args: tuple[object, ...] = (project, queue, now, message_id, now)
    if claim_id is None:
        sql = f"DELETE FROM messages WHERE {LIVE_BY_ID} AND id = ? AND claim_expires <= ?"
    else:
        sql = (
            f"DELETE FROM messages WHERE {LIVE_BY_ID} AND id = ? AND claim_expires > ?"
            f" AND claim_id = ? AND EXISTS ({LIVE_CLAIM})"
        )
        args += (claim_id, claim_id, project, queue, now)
    return db.execute(sql, args).rowcount > 0


def _check_claim(
    db: sqlite3.Connection,
    project: str,
    queue: str,
    row: sqlite3.Row,
    claim_id: str | None,
    now: float,
) -> None:
    claimed = row["claim_id"] is not None and row["claim_expires"] > now
    if claim_id is None:
        if claimed:
            raise errors.MessageIsClaimed()
        return
    if not _claim_is_live(db, project, queue, claim_id, now):
        raise errors.ClaimExpired()
    if not claimed:
        raise errors.MessageNotClaimed()
    if row["claim_id"] != claim_id:
        raise errors.MessageIsClaimed()
