"""The SQLite connection's batches: the writes of one turn of the event loop commit together,
each one undone alone when it fails."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tidings import errors
from tidings.storage import sqlite_batch
from tidings.storage.sqlite import SQLiteStorage
from tidings.storage.sqlite_batch import (
    BatchedConnection,
    Checkpointer,
    WriterLock,
    writer_lock_path,
)
from tidings.storage.sqlite_catalog import SQLiteCatalog


@pytest.fixture
def statements() -> list[str]:
    """Every statement the fixture's connection runs."""
    return []


def _opener(path: Path, statements: list[str] | None = None) -> Callable[[], sqlite3.Connection]:
    """What opens a connection to the WAL database ``path``, with its table ``t``; each
    statement the connection runs is added to ``statements``."""

    def connect() -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER UNIQUE)")
        if statements is not None:
            db.set_trace_callback(statements.append)
        return db

    return connect


@pytest.fixture
async def connection(tmp_path: Path, statements: list[str]) -> AsyncIterator[BatchedConnection]:
    connection = BatchedConnection(_opener(tmp_path / "t.db", statements))
    await connection.open()
    yield connection
    await connection.close()


def _insert(value: int) -> Callable[[sqlite3.Connection], int]:
    def insert(db: sqlite3.Connection) -> int:
        db.execute("INSERT INTO t (v) VALUES (?)", (value,))
        return value

    return insert


def _insert_then_fail(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO t (v) VALUES (-1)")
    raise errors.QueueNotFound()


def _values(db: sqlite3.Connection) -> list[int]:
    return [row[0] for row in db.execute("SELECT v FROM t ORDER BY v")]


async def test_concurrent_writes_are_all_stored_in_one_transaction(
    connection: BatchedConnection, statements: list[str]
) -> None:
    results = await asyncio.gather(*(connection.write(_insert(value)) for value in range(50)))

    assert results == list(range(50))
    assert await connection.read(_values) == list(range(50))
    assert statements.count("BEGIN IMMEDIATE") == 1
    assert statements.count("COMMIT") == 1
    assert not [statement for statement in statements if "SAVEPOINT" in statement]


async def test_writes_made_in_two_following_turns_of_the_loop_share_one_transaction(
    connection: BatchedConnection, statements: list[str]
) -> None:
    # Given a write, and another made one turn of the loop later
    first = asyncio.ensure_future(connection.write(_insert(0)))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(connection.write(_insert(1)))

    # When they are done, Then they were committed together
    assert list(await asyncio.gather(first, second)) == [0, 1]
    assert statements.count("BEGIN IMMEDIATE") == 1


async def test_a_failing_write_is_undone_alone(connection: BatchedConnection) -> None:
    # Given writes queued together, one of which writes a row and then fails
    calls = [
        connection.write(_insert(1)),
        connection.write(_insert_then_fail),
        connection.write(_insert(2)),
    ]

    # When they run
    results = await asyncio.gather(*calls, return_exceptions=True)

    # Then only the failing one raises, and only its row is missing
    assert results[0] == 1
    assert isinstance(results[1], errors.QueueNotFound)
    assert results[2] == 2
    assert await connection.read(_values) == [1, 2]


async def test_a_failing_write_alone_in_its_transaction_is_undone(
    connection: BatchedConnection,
) -> None:
    with pytest.raises(errors.QueueNotFound):
        await connection.write(_insert_then_fail)

    assert await connection.read(_values) == []
    assert await connection.write(_insert(1)) == 1
    assert await connection.read(_values) == [1]


async def test_a_constraint_violation_is_reported_to_its_caller(
    connection: BatchedConnection,
) -> None:
    await connection.write(_insert(7))

    results = await asyncio.gather(
        connection.write(_insert(7)), connection.write(_insert(8)), return_exceptions=True
    )

    assert isinstance(results[0], sqlite3.IntegrityError)
    assert results[1] == 8
    assert await connection.read(_values) == [7, 8]


async def test_a_write_after_read_is_given_what_was_read(connection: BatchedConnection) -> None:
    await connection.write(_insert(3))

    def add_after_largest(db: sqlite3.Connection, largest: int) -> int:
        return _insert(largest + 1)(db)

    def largest(db: sqlite3.Connection) -> int:
        return max(_values(db))

    assert await connection.write_after_read(largest, add_after_largest) == 4
    assert await connection.read(_values) == [3, 4]


async def test_a_failing_read_writes_nothing_and_spares_the_others(
    connection: BatchedConnection,
) -> None:
    # Given a write after a read that fails, queued with other writes
    def fail(db: sqlite3.Connection) -> int:
        raise errors.QueueNotFound()

    def write_what_was_read(db: sqlite3.Connection, value: int) -> int:
        return _insert(value)(db)

    calls = [
        connection.write(_insert(1)),
        connection.write_after_read(fail, write_what_was_read),
        connection.write_after_read(lambda db: 5, write_what_was_read),
    ]

    # When they run
    results = await asyncio.gather(*calls, return_exceptions=True)

    # Then the failed read's error reaches its caller, and only its write is missing
    assert results[0] == 1
    assert isinstance(results[1], errors.QueueNotFound)
    assert results[2] == 5
    assert await connection.read(_values) == [1, 5]


async def test_calls_after_close_are_refused(connection: BatchedConnection) -> None:
    await connection.close()

    with pytest.raises(errors.StorageUnavailable):
        await connection.read(_values)


async def test_the_checkpointer_copies_the_wal_into_the_database(tmp_path: Path) -> None:
    # Given a database whose writes stay in the WAL
    path = tmp_path / "c.db"
    db = _writer_without_checkpoints(path)
    db.executemany("INSERT INTO t (v) VALUES (?)", [(b"x" * 1000,)] * 200)
    before = path.stat().st_size

    # When a checkpoint is due
    checkpointer = Checkpointer(lambda: sqlite3.connect(path, check_same_thread=False), "wal")
    checkpointer.due()
    checkpointer.stop()

    # Then the rows are in the database file, while the writer's connection stays open
    assert path.stat().st_size > before + 150_000
    db.close()


def test_a_long_wal_starts_over_even_while_readers_hold_older_snapshots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a WAL past the restart size, and a reader holding a snapshot of its middle
    monkeypatch.setattr(sqlite_batch, "RESTART_AFTER_FRAMES", 20)
    path = tmp_path / "w.db"
    writer = _writer_without_checkpoints(path)
    _insert_each(writer, 20)
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM t").fetchone()
    _insert_each(writer, 20)

    # When a checkpoint is due, and the reader finishes a moment later
    threading.Timer(0.3, lambda: reader.execute("COMMIT")).start()
    checkpointer = Checkpointer(lambda: _busy_waiting(path), "wal")
    checkpointer.due()
    checkpointer.stop()

    # Then the next write starts the WAL over
    assert _wal_started_over(writer)
    reader.close()
    writer.close()


def test_a_wal_restart_waits_for_the_writer_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a WAL past the restart size, and a writer holding the writers' lock
    monkeypatch.setattr(sqlite_batch, "RESTART_AFTER_FRAMES", 20)
    path = tmp_path / "l.db"
    writer = _writer_without_checkpoints(path)
    _insert_each(writer, 40)
    held = WriterLock(writer_lock_path(str(path)))
    held.__enter__()
    released = threading.Event()

    def release() -> None:
        released.set()
        held.__exit__()

    # When a checkpoint is due, and the writer lets go of the lock a moment later
    threading.Timer(0.3, release).start()
    checkpointer = Checkpointer(
        lambda: _busy_waiting(path), "wal", WriterLock(writer_lock_path(str(path)))
    )
    checkpointer.due()
    checkpointer.stop()

    # Then the restart happened after the writer let go, and the WAL starts over
    assert released.is_set()
    assert _wal_started_over(writer)
    held.close()
    writer.close()


def _writer_without_checkpoints(path: Path) -> sqlite3.Connection:
    """A connection whose writes stay in the WAL until a checkpoint is run for them."""
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE t (v BLOB)")
    return writer


def _wal_started_over(writer: sqlite3.Connection) -> bool:
    """Whether the next write starts the WAL over: it then holds that write's frames only."""
    _insert_each(writer, 1)
    _, frames, _ = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return bool(frames <= 3)


def _insert_each(db: sqlite3.Connection, count: int) -> None:
    for _ in range(count):
        db.execute("INSERT INTO t (v) VALUES (?)", (b"x" * 1000,))


def _busy_waiting(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 5000")
    return db


def _taken_by_another_process(path: Path) -> WriterLock:
    """The writer lock of the database ``path``, taken as another process takes it."""
    other = WriterLock(writer_lock_path(str(path)))
    other.__enter__()
    return other


def _locking(path: Path, statements: list[str] | None = None) -> BatchedConnection:
    """A connection to ``path`` that takes the writers' lock, as a server's does."""
    lock = WriterLock(writer_lock_path(str(path)))
    return BatchedConnection(_opener(path, statements), writer_lock=lock)


async def test_a_write_waits_for_the_writer_lock_of_another_process(tmp_path: Path) -> None:
    # Given another writer holding the database's writer lock for 0.3 s
    path = tmp_path / "l.db"
    other = _taken_by_another_process(path)
    threading.Timer(0.3, other.__exit__).start()
    connection = _locking(path)
    await connection.open()
    try:
        # When this process writes
        started = time.monotonic()
        await asyncio.wait_for(connection.write(_insert(1)), 5)

        # Then the write waited for the lock, and committed once it was let go
        assert time.monotonic() - started >= 0.25
        assert await connection.read(_values) == [1]
    finally:
        other.close()
        await connection.close()


async def test_writes_made_while_another_process_writes_commit_together_once_it_is_done(
    tmp_path: Path,
) -> None:
    # Given another process holding the database's writer lock
    path = tmp_path / "l.db"
    other = _taken_by_another_process(path)
    statements: list[str] = []
    connection = _locking(path, statements)
    await connection.open()
    try:
        # When this process writes in two turns of its loop, and reads in between
        first = asyncio.ensure_future(connection.write(_insert(1)))
        read = await asyncio.wait_for(connection.read(_values), 1)
        second = asyncio.ensure_future(connection.write(_insert(2)))
        await asyncio.sleep(0.05)
        waited = not first.done() and not second.done()
        other.__exit__()

        # Then the read was answered at once, the writes waited for the lock and were then
        # committed together, in one transaction
        assert read == []
        assert waited
        assert list(await asyncio.wait_for(asyncio.gather(first, second), 5)) == [1, 2]
        assert await connection.read(_values) == [1, 2]
        assert statements.count("BEGIN IMMEDIATE") == 1
    finally:
        other.close()
        await connection.close()


async def test_closing_commits_the_writes_waiting_for_the_writer_lock_first(
    tmp_path: Path,
) -> None:
    # Given a write waiting for the writer lock, which another process lets go of in 0.2 s
    path = tmp_path / "l.db"
    other = _taken_by_another_process(path)
    connection = _locking(path)
    await connection.open()
    write = asyncio.ensure_future(connection.write(_insert(1)))
    await asyncio.sleep(0.05)
    threading.Timer(0.2, other.__exit__).start()

    # When the connection is closed
    await asyncio.wait_for(connection.close(), 5)

    # Then the write was committed before it closed
    other.close()
    assert await write == 1
    assert _values(_opener(path)()) == [1]


async def test_a_write_whose_writer_lock_cannot_be_taken_is_refused_with_503(
    tmp_path: Path,
) -> None:
    # Given a writer lock file that cannot be opened (its directory is gone)
    lock = WriterLock(str(tmp_path / "gone" / "l.db-writer"))
    connection = BatchedConnection(_opener(tmp_path / "l.db"), writer_lock=lock)
    await connection.open()
    try:
        # When a write is made, Then it is refused at once, nothing is written, and reads go on
        with pytest.raises(errors.StorageUnavailable, match="writers' lock"):
            await asyncio.wait_for(connection.write(_insert(1)), 5)
        assert await connection.read(_values) == []
    finally:
        await connection.close()


def _open_store_and_catalog(path: str) -> str | None:
    """In a worker process: the error opening ``path``, or None."""

    async def open_and_close() -> None:
        store, catalog = SQLiteStorage(path), SQLiteCatalog(path)
        await asyncio.gather(store.open(), catalog.open())
        await asyncio.gather(store.close(), catalog.close())

    try:
        asyncio.run(open_and_close())
    except errors.StorageUnavailable as exc:
        return str(exc)
    return None


def test_processes_opening_a_new_database_together_all_open_it(tmp_path: Path) -> None:
    # Given eight worker processes, as `tidings serve --workers 8` starts them
    with multiprocessing.get_context("spawn").Pool(8) as workers:
        # When they open a new database file together, a hundred times over
        errors_seen = []
        for attempt in range(100):
            path = str(tmp_path / f"{attempt}.db")
            errors_seen += [e for e in workers.map(_open_store_and_catalog, [path] * 8) if e]

    # Then none of them found it locked (before, about one opening in a hundred did)
    assert errors_seen == []
