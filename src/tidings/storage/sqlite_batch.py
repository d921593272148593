"""The SQLite connection's batches: the storage calls made during two turns of the event loop
(``gathering``) run together, on the loop's own thread, and the writes among them share one
transaction (group commit).

A thread of the connection's own cost more CPU than the statements it ran: each call woke the
thread and then the loop, and each statement gave the GIL up and had to take it back from
the loop. Without it the app's CPU per post fell from 102-124 to 81-99 µs
(``tests/benchmarks/test_app_cpu.py``). The loop waits while SQLite works, as every request
needing storage did anyway.

While another process holds the writers' lock, the loop does not wait for it: a thread does,
and the writes of the turns that end meanwhile join the held ones, to commit together once
the lock is free. Each batch of another process makes this one's SQLite drop its page cache
and read the pages again, so fewer, larger batches cost less CPU per write.

A write that fails is undone alone and the others still commit: the batch then runs again,
each write inside a savepoint of its own. A write is answered only after the COMMIT, so an
acknowledged write is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from tidings import errors
from tidings.storage.gathering import after_next_turn

T = TypeVar("T")
R = TypeVar("R")
Work = Callable[..., Any]
"""Called with the connection (and, for the write of ``write_after_read``, what was read)."""


@dataclass(eq=False)
class _Job:
    call: Callable[..., Any]
    write: bool
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None
    read_first: Callable[[], Any] | None = None
    """Run before the batch's transaction; its result is passed on to ``call``."""


CHECKPOINT_EVERY = 100
"""Committed transactions between two checkpoints."""

RESTART_AFTER_FRAMES = 4096
"""WAL frames (one page each) past which a checkpoint also starts the WAL over."""


class Checkpointer:
    """Copies the WAL into the database file from a thread and connection of its own.

    SQLite's automatic checkpoint runs inside the COMMIT that fills the WAL, so the writer
    (and every job queued behind it) waited on the checkpoint's two fsyncs, a few ms each on
    a virtual disk. A PASSIVE checkpoint blocks neither readers nor the writer.

    Under steady load from several processes a PASSIVE checkpoint never reaches the end of
    the WAL (some reader always holds an older snapshot), so the WAL never starts over and
    its file grows without bound: half a gigabyte in a minute of posts. Once it holds more
    than ``RESTART_AFTER_FRAMES`` frames, a RESTART checkpoint waits (the connection's busy
    timeout) for the readers to move on, and the next write starts the WAL from its
    beginning. A RESTART keeps writers out while it runs, so it holds ``writer_lock``: they
    wait for it in the kernel, woken when it is done, instead of in SQLite's sleeping retries
    (up to 100 ms each).
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        name: str,
        writer_lock: WriterLock | None = None,
    ) -> None:
        self._connect = connect
        self._writer_lock = writer_lock
        self._due = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def due(self) -> None:
        if self._thread.ident is None:
            self._thread.start()
        self._due.set()

    def stop(self) -> None:
        self._stopping = True
        self._due.set()
        if self._thread.ident is not None:
            self._thread.join()

    def _serve(self) -> None:
        db = self._connect()
        try:
            while self._due.wait():
                self._due.clear()
                with contextlib.suppress(sqlite3.Error, OSError):  # the next one will catch up
                    self._checkpoint(db)
                if self._stopping:
                    return
        finally:
            db.close()
            if self._writer_lock is not None:
                self._writer_lock.close()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        _, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames > RESTART_AFTER_FRAMES:
            # Copy what was written during the first pass too, so that little is left to do
            # while the writers wait
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            with self._writer_lock or contextlib.nullcontext():
                db.execute("PRAGMA wal_checkpoint(RESTART)")


class WriterLock:
    """The database file's write lock, taken by the processes of one deployment in turn.

    SQLite's own lock is not waited for: a writer that finds it taken sleeps (1, 2, 5, 10,
    then up to 100 ms) and tries again, while the other process commits batch after batch.
    With two workers writing, a write could wait hundreds of milliseconds that way. An
    ``flock`` on a file beside the database is waited for by the kernel, which wakes the
    waiter as soon as the holder lets go; the holder then finds SQLite's lock free at once.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None

    def __enter__(self) -> None:
        fcntl.flock(self._file(), fcntl.LOCK_EX)

    def take_if_free(self) -> bool:
        """Take the lock unless another process holds it; False when it does."""
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def __exit__(self, *exc: object) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def writer_lock_path(database: str) -> str:
    """The file whose ``flock`` the writers of ``database`` take in turn."""
    return f"{database}-writer"


def set_up_database(
    db: sqlite3.Connection,
    path: str,
    schema: str,
    upgrade: Callable[[sqlite3.Connection], None] | None = None,
) -> None:
    """Switch the file to WAL and run ``schema``, then ``upgrade`` when given, one process at
    a time.

    Processes opening a new file together would each hold SQLite's read lock while wanting its
    write lock; SQLite answers one of them "database is locked" at once, as waiting could never
    end, whatever the busy timeout. So the set-up holds the writers' ``flock`` too.
    """
    lock = None if path == ":memory:" else WriterLock(writer_lock_path(path))
    try:
        with lock or contextlib.nullcontext():
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(schema)
            if upgrade is not None:
                upgrade(db)
    finally:
        if lock is not None:
            lock.close()


class BatchedConnection:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        checkpointer: Checkpointer | None = None,
        writer_lock: WriterLock | None = None,
    ) -> None:
        self._connect = connect
        self._checkpointer = checkpointer
        self._writer_lock = writer_lock
        self._commits = 0
        self._turns: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        """The jobs of each event loop's batch being formed (one loop, in a server process)."""
        self._in_use = threading.Lock()
        """Held while a batch runs, should loops in two threads share the connection."""
        self._db: sqlite3.Connection | None = None
        self._closed = False
        self._held: list[_Job] = []
        """Writes waiting for the writers' lock, which another process holds."""
        self._holding: asyncio.Task[None] | None = None
        """Waits for that lock, then commits the held writes."""
        self.first_reads_found: dict[Hashable, Any] = {}
        """What the first reads (of ``write_after_read``) of the batch being run found, for
        its other first reads to reuse: no write of this connection comes between them.
        Emptied as each batch starts."""

    async def open(self) -> None:
        await self._submit(self._open_connection, write=False)

    async def close(self) -> None:
        """Close the connection after the jobs already submitted; later calls are refused."""
        if self._closed:
            return
        while self._holding is not None:  # the held writes are committed first
            await asyncio.shield(self._holding)
        closing = self._submit(self._close_connection, write=False)
        self._closed = True
        await closing

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on the connection, outside any transaction."""
        return cast(T, await self._submit(functools.partial(self._on_connection, work), False))

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in a transaction; it returns once that transaction is committed."""
        return cast(T, await self._submit(functools.partial(self._on_connection, work), True))

    async def write_after_read(
        self,
        read: Callable[[sqlite3.Connection], R],
        work: Callable[[sqlite3.Connection, R], T],
    ) -> T:
        """``read`` outside any transaction, then ``work(connection, what read returned)`` in a
        transaction, in the same batch; returns once committed. When ``read`` raises, nothing
        is written and its error is raised here."""
        read_first = functools.partial(self._on_connection, read)
        job = self._submit(functools.partial(self._on_connection, work), True, read_first)
        return cast(T, await job)

    def _submit(
        self, call: Callable[..., Any], write: bool, read_first: Callable[[], Any] | None = None
    ) -> asyncio.Future[Any]:
        if self._closed:
            raise errors.StorageUnavailable("The SQLite store is closed.")
        loop = asyncio.get_running_loop()
        job = _Job(call, write, loop.create_future(), read_first=read_first)
        turn = self._turns.get(loop)
        if turn is None:
            turn = self._turns[loop] = []
            after_next_turn(loop, functools.partial(self._end_turn, loop))
        turn.append(job)
        return job.future

    def _end_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        jobs = [job for job in self._turns.pop(loop) if not job.future.cancelled()]
        with self._in_use:
            self.first_reads_found.clear()
            for job in jobs:
                if job.read_first is not None:
                    _read_first(job)
            held = self._commit_or_hold(
                loop, [job for job in jobs if job.write and job.error is None]
            )
            for job in jobs:
                if not job.write:
                    _attempt(job)
        _settle([job for job in jobs if job not in held])

    def _commit_or_hold(self, loop: asyncio.AbstractEventLoop, writes: list[_Job]) -> list[_Job]:
        """Commit the writes now when the writers' lock is free, else hold them (returned)."""
        if not writes:
            return []
        if self._holding is None:
            try:
                free = self._writer_lock is None or self._writer_lock.take_if_free()
            except OSError as exc:  # its file could not be opened (no file handles left)
                _fail(writes, _lock_unavailable(exc))
                return []
            if free:
                self._commit_together(writes)
                return []
            self._holding = loop.create_task(self._commit_when_free())
        self._held += writes
        return writes

    async def _commit_when_free(self) -> None:
        """Wait in a thread for the writers' lock, then commit the held writes."""
        assert self._writer_lock is not None
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._writer_lock.__enter__)
        except OSError as exc:  # no file handles left
            self._settle_held(_lock_unavailable(exc))
            return
        except asyncio.CancelledError:  # the loop is stopping
            self._settle_held(errors.StorageUnavailable("The SQLite store is closing."))
            raise
        self._settle_held(None)

    def _settle_held(self, error: errors.StorageUnavailable | None) -> None:
        """Commit the held writes (the writers' lock is taken), or fail them with ``error``."""
        with self._in_use:
            held, self._held, self._holding = self._held, [], None
            if error is None:
                self._commit_together(held)
            else:
                _fail(held, error)
        _settle(held)

    def _open_connection(self) -> None:
        try:
            self._db = self._connect()
        except OSError as exc:  # the database's folder cannot be made
            raise errors.StorageUnavailable(f"SQLite: {exc}.") from exc

    def _close_connection(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._writer_lock is not None:
            self._writer_lock.close()
        db, self._db = self._db, None
        if db is not None:
            db.close()

    def _on_connection(self, work: Work, *read: Any) -> Any:
        if self._db is None:
            raise errors.StorageUnavailable("The SQLite store is closed.")
        return work(self._db, *read)

    def _commit_together(self, writes: list[_Job]) -> None:
        """Run the writes in one transaction; the writers' lock is held, and let go here."""
        db = self._db
        lock = self._writer_lock or contextlib.nullcontext()
        if db is None:
            lock.__exit__(None, None, None)
            return _fail(writes, errors.StorageUnavailable("The SQLite store is closed."))
        try:
            if not _run_in_transaction(db, writes, savepoint=None):
                db.rollback()
                if len(writes) == 1:  # its error is kept, and nothing was written
                    return None
                # Run the batch again with each write in a savepoint (two statements more
                # per write, too dear to pay always): the failing one is undone alone
                _forget(writes)
                _run_in_transaction(db, writes, savepoint=db)
            db.commit()
        except (sqlite3.Error, errors.StorageUnavailable) as exc:
            if db.in_transaction:
                db.rollback()
            unavailable = exc if isinstance(exc, errors.StorageUnavailable) else None
            return _fail(writes, unavailable or _unavailable(cast(sqlite3.Error, exc)))
        finally:
            lock.__exit__(None, None, None)
        self._committed()

    def _committed(self) -> None:
        self._commits += 1
        if self._checkpointer is not None and self._commits % CHECKPOINT_EVERY == 0:
            self._checkpointer.due()


def _run_in_transaction(
    db: sqlite3.Connection, writes: list[_Job], savepoint: sqlite3.Connection | None
) -> bool:
    """Begin a transaction and run the writes in it; False once one fails outside a savepoint
    (the transaction is then left open, holding what the writes before it did)."""
    db.execute("BEGIN IMMEDIATE")
    for job in writes:
        _attempt(job, savepoint)
        if not db.in_transaction:  # its failure ended the whole transaction
            raise sqlite3.OperationalError("the transaction was rolled back")
        if job.error is not None and savepoint is None:
            return False
    return True


def _forget(jobs: list[_Job]) -> None:
    for job in jobs:
        job.result, job.error = None, None


def _attempt(job: _Job, savepoint: sqlite3.Connection | None = None) -> None:
    """Run the job, keeping its result or error; in a savepoint of ``savepoint``'s open
    transaction, undone alone when it fails."""
    if savepoint is None:
        _keep(job, job.call)
    else:
        _keep(job, functools.partial(_in_savepoint, savepoint, job.call))


def _read_first(job: _Job) -> None:
    """Run the job's read, binding what it returns to the job's write; on failure the job
    keeps the error and writes nothing."""
    assert job.read_first is not None
    _keep(job, job.read_first)
    if job.error is None:
        job.call = functools.partial(job.call, job.result)


def _keep(job: _Job, call: Callable[[], Any]) -> None:
    try:
        job.result = call()
    except sqlite3.OperationalError as exc:
        job.error = _unavailable(exc)
    except Exception as exc:
        job.error = exc


def _in_savepoint(db: sqlite3.Connection, call: Callable[[], Any]) -> Any:
    db.execute("SAVEPOINT job")
    try:
        result = call()
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK TO job")
            db.execute("RELEASE job")
        raise
    db.execute("RELEASE job")
    return result


def _lock_unavailable(exc: OSError) -> errors.StorageUnavailable:
    return errors.StorageUnavailable(f"SQLite: the writers' lock: {exc}. Please try again.")


def _unavailable(exc: sqlite3.Error) -> errors.StorageUnavailable:
    return errors.StorageUnavailable(f"SQLite: {exc}. Please try again.")


def _fail(jobs: list[_Job], error: BaseException) -> None:
    """A batch that did not commit: none of its writes is stored."""
    for job in jobs:
        job.result, job.error = None, error


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.cancelled():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)
