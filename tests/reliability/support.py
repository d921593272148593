"""Backends that can be crashed and restarted under a running ``tidings serve``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.processes import running
from tests.servers.postgres import PostgresServer, start_private_postgres
from tests.servers.redis import RedisClusterServers, RedisServer


class Backend(Protocol):
    """A private store: its URL, and how to crash and restart it."""

    @property
    def url(self) -> str: ...

    def crash(self) -> None: ...

    def restart(self) -> None: ...


@dataclass
class SQLiteFile:
    """An embedded store: it lives and dies with the server process itself."""

    path: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def crash(self) -> None:
        """Nothing runs apart from the server."""

    def restart(self) -> None:
        """Nothing to start."""


@dataclass
class DurableRedis:
    """Redis (one server or a cluster) with the settings docs/storage.md gives for "201 means
    stored"."""

    server: RedisServer | RedisClusterServers

    @property
    def url(self) -> str:
        return self.server.url

    def crash(self) -> None:
        self.server.kill()

    def restart(self) -> None:
        self.server.start()


@dataclass
class Postgres:
    server: PostgresServer

    @property
    def url(self) -> str:
        return self.server.url()

    def crash(self) -> None:
        """Immediate shutdown: no checkpoint; the next start runs crash recovery."""
        self.server.stop(mode="immediate")

    def restart(self) -> None:
        self.server.start()


@contextmanager
def private_backend(name: str, directory: Path) -> Iterator[Backend]:
    """A backend of its own for one test, so crashing it disturbs no other test."""
    if name == "sqlite-file":
        yield SQLiteFile(directory / "tidings.db")
    elif name == "redis":
        redis = RedisServer(directory / "redis", appendonly=True, appendfsync="always")
        with running(redis):
            yield DurableRedis(redis)
    elif name == "redis-cluster":
        cluster = RedisClusterServers(directory / "cluster", appendonly=True, appendfsync="always")
        with running(cluster):
            yield DurableRedis(cluster)
    elif name == "postgres":
        postgres = start_private_postgres(durable=True)
        try:
            yield Postgres(postgres)
        finally:
            postgres.remove()
    else:
        raise ValueError(f"no private backend named {name!r}")
