"""The pool catalog in SQLite: four small tables beside the default store's, in the same file.

It has a connection (and a thread) of its own, so catalog reads never wait behind the store's
writes in this process; every change is one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import orjson

from tidings import errors
from tidings.models import Flavor, Pool
from tidings.storage.catalog import Catalog
from tidings.storage.sqlite_batch import set_up_database
from tidings.storage.url_options import database_path

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS catalog_pools (
    name TEXT PRIMARY KEY,
    uri TEXT NOT NULL,
    weight INTEGER NOT NULL,
    flavor TEXT,
    options TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS catalog_flavors (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS catalog_placements (
    project TEXT NOT NULL,
    queue TEXT NOT NULL,
    pool TEXT NOT NULL,
    PRIMARY KEY (project, queue)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS catalog_placements_by_pool ON catalog_placements (pool);
CREATE TABLE IF NOT EXISTS catalog_version (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    version INTEGER NOT NULL
);
INSERT OR IGNORE INTO catalog_version VALUES (1, 0);
"""
BUMP = "UPDATE catalog_version SET version = version + 1"
POOL_COLUMNS = "name, uri, weight, flavor, options"


def from_url(url: str) -> SQLiteCatalog:
    return SQLiteCatalog(database_path(url))


def _pool(row: sqlite3.Row) -> Pool:
    return Pool(row["name"], row["uri"], row["weight"], row["flavor"], orjson.loads(row["options"]))


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def _flavors(db: sqlite3.Connection, names: list[str]) -> list[Flavor]:
    """The named flavors, each with its pools."""
    members = db.execute(
        f"SELECT name, flavor FROM catalog_pools WHERE flavor IN ({_marks(names)}) ORDER BY name",
        names,
    ).fetchall()
    return [
        Flavor(name, tuple(row["name"] for row in members if row["flavor"] == name))
        for name in names
    ]


class SQLiteCatalog(Catalog):
    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidings-catalog")
        self._db: sqlite3.Connection | None = None

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor, self._call, work)
        except RuntimeError as exc:  # the executor was shut down by close()
            raise errors.StorageUnavailable("The SQLite catalog is closed.") from exc
        return await future

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:
            raise errors.StorageUnavailable("The SQLite catalog is closed.")
        try:
            return work(self._db)
        except sqlite3.OperationalError as exc:
            raise errors.StorageUnavailable(f"SQLite: {exc}. Please try again.") from exc

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def in_transaction(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                db.rollback()
                raise
            db.commit()
            return result

        return await self._run(in_transaction)

    def _connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = 10000")
        set_up_database(db, self.path, SCHEMA)
        self._db = db

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._connect)

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, db.close)
        self._executor.shutdown(wait=False)

    async def version(self) -> int:
        def read(db: sqlite3.Connection) -> int:
            version: int = db.execute("SELECT version FROM catalog_version").fetchone()[0]
            return version

        return await self._run(read)

    # Pools

    async def pool_put(self, pool: Pool) -> bool:
        def put(db: sqlite3.Connection) -> bool:
            new = db.execute("SELECT 1 FROM catalog_pools WHERE name = ?", (pool.name,)).fetchone()
            db.execute(
                f"INSERT OR REPLACE INTO catalog_pools ({POOL_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (pool.name, pool.uri, pool.weight, pool.flavor, orjson.dumps(pool.options)),
            )
            db.execute(BUMP)
            return new is None

        return await self._write(put)

    async def pool_get(self, name: str) -> Pool | None:
        def get(db: sqlite3.Connection) -> Pool | None:
            sql = f"SELECT {POOL_COLUMNS} FROM catalog_pools WHERE name = ?"
            row = db.execute(sql, (name,)).fetchone()
            return None if row is None else _pool(row)

        return await self._run(get)

    async def pool_list(self, marker: str | None, limit: int | None) -> list[Pool]:
        def page(db: sqlite3.Connection) -> list[Pool]:
            rows = db.execute(
                f"SELECT {POOL_COLUMNS} FROM catalog_pools WHERE name > ? ORDER BY name LIMIT ?",
                (marker or "", -1 if limit is None else limit),
            )
            return [_pool(row) for row in rows]

        return await self._run(page)

    async def pool_delete(self, name: str) -> None:
        def delete(db: sqlite3.Connection) -> None:
            sql = "SELECT 1 FROM catalog_placements WHERE pool = ? LIMIT 1"
            if db.execute(sql, (name,)).fetchone() is not None:
                raise errors.PoolInUse(f"Pool {name} still holds queues; it cannot be deleted.")
            if db.execute("DELETE FROM catalog_pools WHERE name = ?", (name,)).rowcount:
                db.execute(BUMP)

        await self._write(delete)

    # Flavors

    async def flavor_put(self, name: str, pools: Sequence[str]) -> bool:
        def put(db: sqlite3.Connection) -> bool:
            new = db.execute("INSERT OR IGNORE INTO catalog_flavors VALUES (?)", (name,)).rowcount
            db.execute(
                f"UPDATE catalog_pools SET flavor = NULL WHERE flavor = ? AND name NOT IN"
                f" ({_marks(pools)})",
                (name, *pools),
            )
            db.execute(
                f"UPDATE catalog_pools SET flavor = ? WHERE name IN ({_marks(pools)})",
                (name, *pools),
            )
            db.execute(BUMP)
            return bool(new)

        return await self._write(put)

    async def flavor_get(self, name: str) -> Flavor | None:
        def get(db: sqlite3.Connection) -> Flavor | None:
            rows = db.execute("SELECT name FROM catalog_flavors WHERE name = ?", (name,))
            found = _flavors(db, [row["name"] for row in rows])
            return found[0] if found else None

        return await self._run(get)

    async def flavor_list(self, marker: str | None, limit: int | None) -> list[Flavor]:
        def page(db: sqlite3.Connection) -> list[Flavor]:
            rows = db.execute(
                "SELECT name FROM catalog_flavors WHERE name > ? ORDER BY name LIMIT ?",
                (marker or "", -1 if limit is None else limit),
            )
            return _flavors(db, [row["name"] for row in rows])

        return await self._run(page)

    async def flavor_delete(self, name: str) -> None:
        def delete(db: sqlite3.Connection) -> None:
            db.execute("UPDATE catalog_pools SET flavor = NULL WHERE flavor = ?", (name,))
            if db.execute("DELETE FROM catalog_flavors WHERE name = ?", (name,)).rowcount:
                db.execute(BUMP)

        await self._write(delete)

    # Placements

    async def placement_get(self, project: str, queue: str) -> str | None:
        def get(db: sqlite3.Connection) -> str | None:
            row = db.execute(
                "SELECT pool FROM catalog_placements WHERE project = ? AND queue = ?",
                (project, queue),
            ).fetchone()
            return None if row is None else str(row["pool"])

        return await self._run(get)

    async def placement_add(self, project: str, queue: str, pool: str) -> str | None:
        def add(db: sqlite3.Connection) -> str | None:
            db.execute(
                "INSERT INTO catalog_placements (project, queue, pool)"
                " SELECT ?, ?, name FROM catalog_pools WHERE name = ?"
                " ON CONFLICT DO NOTHING",
                (project, queue, pool),
            )
            row = db.execute(
                "SELECT pool FROM catalog_placements WHERE project = ? AND queue = ?",
                (project, queue),
            ).fetchone()
            return None if row is None else str(row["pool"])

        return await self._write(add)

    async def placement_remove(self, project: str, queue: str) -> None:
        def remove(db: sqlite3.Connection) -> None:
            db.execute(
                "DELETE FROM catalog_placements WHERE project = ? AND queue = ?", (project, queue)
            )
            db.execute(BUMP)

        await self._write(remove)

    async def placements_in(self, pool: str, limit: int) -> list[tuple[str, str]]:
        def page(db: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = db.execute(
                "SELECT project, queue FROM catalog_placements WHERE pool = ? LIMIT ?",
                (pool, limit),
            )
            return [(row["project"], row["queue"]) for row in rows]

        return await self._run(page)
