"""The embedded SQLite driver: the default store, one file (or memory) per deployment.

One connection owned by one thread does every statement, so writes never contend inside a
process, and the event loop only waits on a future. Each contract operation runs as one
function in that thread, inside one transaction. The database is in WAL mode, so readers in
other processes (``--workers``) are not blocked, and a killed process loses no committed write.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

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

T = TypeVar("T")

SCHEMA = (Path(__file__).with_name("sqlite.sql")).read_text()

MESSAGE_COLUMNS = (
    "seq, id, body, created, expires, visible_at, client_id, claim_id, claim_expires, claim_count"
)
LIVE = "project = ? AND queue = ? AND expires > ?"
CLAIMABLE = LIVE + " AND claim_expires <= ? AND visible_at <= ?"


def from_url(url: str) -> SQLiteStorage:
    """``sqlite:///relative/or/absolute/path.db`` or ``sqlite:///:memory:``."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix:
        raise ValueError("SQLite URLs look like sqlite:///path/to/file.db or sqlite:///:memory:")
    return SQLiteStorage(url[len(prefix) :])


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


def _placeholders(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


class SQLiteStorage(Storage):
    def __init__(self, path: str) -> None:
        self.path = path
        in_memory = path == ":memory:"
        self.capabilities = frozenset({FIFO, CLAIMS, AOD} | (set() if in_memory else {DURABILITY}))
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidings-sqlite")
        self._db: sqlite3.Connection | None = None

    # Plumbing: every operation is one function run in the connection's own thread.

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor, self._call, work)
        except RuntimeError as exc:  # the executor was shut down by close()
            raise errors.StorageUnavailable("The SQLite store is closed.") from exc
        return await future

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            raise errors.StorageUnavailable("The SQLite store is closed.")
        try:
            return work(self._db)
        except sqlite3.OperationalError as exc:
            raise errors.StorageUnavailable(f"SQLite: {exc}. Please try again.") from exc

    def _transaction(
        self, work: Callable[[sqlite3.Connection], T]
    ) -> Callable[[sqlite3.Connection], T]:
        def in_transaction(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                db.rollback()
                raise
            db.commit()
            return result

        return in_transaction

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(self._transaction(work))

    def _connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA busy_timeout = 10000")
        db.executescript(SCHEMA)
        self._db = db

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._connect)

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, db.close)
        self._executor.shutdown(wait=False)

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
        def get(db: sqlite3.Connection) -> dict[str, JSON] | None:
            row = db.execute(
                "SELECT metadata FROM queues WHERE project = ? AND name = ?", (project, name)
            ).fetchone()
            return None if row is None else dict(orjson.loads(row["metadata"]))

        return await self._run(get)

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
                " ORDER BY name LIMIT ?",
                (project, marker or "", limit),
            )
            return [QueueRecord(row["name"], orjson.loads(row["metadata"])) for row in rows]

        return await self._run(page)

    async def queue_count(self, project: str) -> int:
        def count(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT count(*) FROM queues WHERE project = ?", (project,))
            return int(row.fetchone()[0])

        return await self._run(count)

    async def queue_delete(self, project: str, name: str) -> None:
        def delete(db: sqlite3.Connection) -> None:
            _delete_queue_contents(db, project, name)
            db.execute("DELETE FROM queues WHERE project = ? AND name = ?", (project, name))

        await self._write(delete)

    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        def stats(db: sqlite3.Connection) -> QueueStats:
            counts = db.execute(
                "SELECT count(*) AS total,"
                " coalesce(sum(claim_expires > ?), 0) AS claimed,"
                " coalesce(sum(claim_expires <= ? AND visible_at > ?), 0) AS delayed"
                f" FROM messages WHERE {LIVE}",
                (now, now, now, project, name, now),
            ).fetchone()
            if counts["total"] == 0:
                return QueueStats()
            ends = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {LIVE} ORDER BY seq"
            oldest = db.execute(f"{ends} LIMIT 1", (project, name, now)).fetchone()
            newest = db.execute(f"{ends} DESC LIMIT 1", (project, name, now)).fetchone()
            return QueueStats(
                claimed=counts["claimed"],
                delayed=counts["delayed"],
                total=counts["total"],
                oldest=_message(oldest),
                newest=_message(newest),
            )

        return await self._run(stats)

    async def queue_purge(self, project: str, name: str) -> None:
        def purge(db: sqlite3.Connection) -> None:
            _delete_queue_contents(db, project, name)

        await self._write(purge)

    # Messages

    async def messages_post(
        self, project: str, queue: str, messages: Sequence[NewMessage], now: float
    ) -> list[str]:
        ids = [str(uuid.uuid4()) for _ in messages]

        def post(db: sqlite3.Connection) -> list[str]:
            _ensure_queue(db, project, queue, {}, now)
            db.executemany(
                "INSERT INTO messages (id, project, queue, body, client_id, created, expires,"
                " visible_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        message_id,
                        project,
                        queue,
                        orjson.dumps(message.body),
                        message.client_id,
                        now,
                        now + message.ttl,
                        now + message.delay,
                    )
                    for message_id, message in zip(ids, messages, strict=True)
                ],
            )
            return ids

        return await self._write(post)

    async def messages_list(
        self, project: str, queue: str, query: MessageFilter, now: float
    ) -> tuple[list[Message], str | None]:
        sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {LIVE} AND seq > ?"
        args: list[object] = [project, queue, now, sequence_of(query.marker)]
        if not query.echo:
            sql += " AND client_id != ?"
            args.append(query.client_id)
        if not query.include_claimed:
            sql += " AND claim_expires <= ?"
            args.append(now)
        if not query.include_delayed:
            sql += " AND visible_at <= ?"
            args.append(now)
        sql += " ORDER BY seq LIMIT ?"
        args.append(query.limit)

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
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {LIVE}"
                f" AND id IN ({_placeholders(ids)})",
                (project, queue, now, *ids),
            )
            return _messages(rows)

        return await self._run(get)

    async def message_delete(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> None:
        def delete(db: sqlite3.Connection) -> None:
            row = db.execute(
                f"SELECT seq, claim_id, claim_expires FROM messages WHERE {LIVE} AND id = ?",
                (project, queue, now, message_id),
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
        sql = (
            f"DELETE FROM messages WHERE project = ? AND queue = ? AND id IN ({_placeholders(ids)})"
        )
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
                f"DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE {CLAIMABLE}"
                f" ORDER BY seq LIMIT ?) RETURNING {MESSAGE_COLUMNS}",
                (project, queue, now, now, now, limit),
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
                f"DELETE FROM messages WHERE {LIVE}"
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
        claim_id = str(uuid.uuid4())
        expires = now + ttl

        def claim(db: sqlite3.Connection) -> Claim | None:
            rows = db.execute(
                "UPDATE messages SET claim_id = ?, claim_expires = ?,"
                " claim_count = claim_count + 1, expires = max(expires, ?)"
                f" WHERE seq IN (SELECT seq FROM messages WHERE {CLAIMABLE}"
                f" ORDER BY seq LIMIT ?) RETURNING {MESSAGE_COLUMNS}",
                (claim_id, expires, expires + grace, project, queue, now, now, now, limit),
            ).fetchall()
            if not rows:
                return None
            db.execute(
                "INSERT INTO claims (id, project, queue, created, expires) VALUES (?, ?, ?, ?, ?)",
                (claim_id, project, queue, now, expires),
            )
            return Claim(claim_id, queue, now, expires, _messages(rows))

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
            if _live_claim(db, project, queue, claim_id, now) is None:
                return False
            db.execute(
                "UPDATE claims SET created = ?, expires = ? WHERE id = ?", (now, expires, claim_id)
            )
            db.execute(
                "UPDATE messages SET claim_expires = ?, expires = max(expires, ?)"
                f" WHERE {LIVE} AND claim_id = ?",
                (expires, expires + grace, project, queue, now, claim_id),
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

    # Housekeeping

    async def gc(self, now: float) -> int:
        def collect(db: sqlite3.Connection) -> int:
            messages = db.execute("DELETE FROM messages WHERE expires <= ?", (now,)).rowcount
            claims = db.execute("DELETE FROM claims WHERE expires <= ?", (now,)).rowcount
            return messages + claims

        return await self._write(collect)


def _ensure_queue(
    db: sqlite3.Connection, project: str, name: str, metadata: dict[str, Any], now: float
) -> bool:
    cursor = db.execute(
        "INSERT INTO queues (project, name, metadata, created) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (project, name, orjson.dumps(metadata), now),
    )
    return cursor.rowcount > 0


def _delete_queue_contents(db: sqlite3.Connection, project: str, name: str) -> None:
    db.execute("DELETE FROM messages WHERE project = ? AND queue = ?", (project, name))
    db.execute("DELETE FROM claims WHERE project = ? AND queue = ?", (project, name))


def _live_claim(
    db: sqlite3.Connection, project: str, queue: str, claim_id: str, now: float
) -> Claim | None:
    claim = db.execute(
        "SELECT created, expires FROM claims"
        " WHERE id = ? AND project = ? AND queue = ? AND expires > ?",
        (claim_id, project, queue, now),
    ).fetchone()
    if claim is None:
        return None
    rows = db.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {LIVE} AND claim_id = ?",
        (project, queue, now, claim_id),
    )
    return Claim(claim_id, queue, claim["created"], claim["expires"], _messages(rows))


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
    if _live_claim(db, project, queue, claim_id, now) is None:
        raise errors.ClaimExpired()
    if not claimed:
        raise errors.MessageNotClaimed()
    if row["claim_id"] != claim_id:
        raise errors.MessageIsClaimed()
