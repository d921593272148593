"""Fixtures shared by every test: a fake clock, an in-process API client, a real server."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from tests.processes import Child, running
from tests.servers.backends import SERVED_BACKENDS, storage_url
from tidings.app import build_app
from tidings.clock import FakeClock
from tidings.config import AuthSettings, NotificationSettings, Settings, StorageSettings
from tidings.storage.base import Storage

pytest_plugins = (
    "tests.servers.redis",
    "tests.servers.postgres",
    "tests.servers.swift",
    "tests.servers.pair",
)
"""Private backend servers (and pairs of tidings on one), started only by the tests that ask
for them."""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def wait_for(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Block (in real time, at most ``seconds``) until ``check()`` holds."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


async def eventually(check: Callable[[], bool | Awaitable[bool]], seconds: float = 10.0) -> None:
    """Wait (in real time, at most ``seconds``) until ``check()`` holds (awaited when it is a
    coroutine, such as a query)."""
    deadline = time.monotonic() + seconds
    while not await _holds(check):
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def _holds(check: Callable[[], bool | Awaitable[bool]]) -> bool:
    held = check()
    return await held if inspect.isawaitable(held) else held


def caller_headers(project: str = "project-a", client: str | None = None) -> dict[str, str]:
    """Headers identifying a caller: its project and a Client-ID."""
    return {"Client-ID": client or str(uuid.uuid4()), "X-Project-ID": project}


OpenedStorage = TypeVar("OpenedStorage", bound=Storage)


@contextlib.asynccontextmanager
async def opened(driver: OpenedStorage) -> AsyncIterator[OpenedStorage]:
    """``driver``, opened for the block and closed after it."""
    await driver.open()
    try:
        yield driver
    finally:
        await driver.close()


@contextlib.asynccontextmanager
async def in_process_client(
    settings: Settings, clock: FakeClock
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to an in-process server built from ``settings``."""
    app = build_app(settings, clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://tidings.test",
            headers=caller_headers(),
        ) as client,
    ):
        yield client


@pytest.fixture(params=SERVED_BACKENDS)
async def api(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to an in-process server on a fresh store of each backend, as a
    caller of project-a. Notifications stay in their outboxes (no delivery worker runs)."""
    settings = Settings(
        storage=StorageSettings(url=storage_url(request, request.param)),
        auth=AuthSettings(trust_role_headers=True),
        notification=NotificationSettings(workers=0),
    )
    async with in_process_client(settings, clock) as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess(Child):
    """A ``tidings serve`` subprocess on a free loopback port.

    ``flags``, when given, replace the default ``--port/--workers/--storage`` flags (to test
    settings from a config file or the environment); ``port`` must then name the port the
    server will listen on. ``env`` adds variables to the server's (otherwise TIDINGS_-free)
    environment. It runs in the database's directory; its stderr goes to ``log``, a file
    beside the database.
    """

    database: Path
    workers: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    flags: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    storage_url: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.database.with_name(f"{self.database.name}.{self.port}.log")

    @property
    def pid(self) -> int:
        assert self.process is not None, "server not started"
        return self.process.pid

    def command(self) -> list[str]:
        flags = self.flags
        if flags is None:
            storage = self.storage_url or f"sqlite:///{self.database}"
            flags = ["--port", str(self.port), "--workers", str(self.workers)]
            flags += ["--storage", storage]
        return [sys.executable, "-m", "tidings.cli", "serve", *flags]

    def start(self) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("TIDINGS_")}
        env.update(self.env)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=env,
                cwd=self.database.parent,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        try:
            self.wait_ready()
        except RuntimeError:
            self.stop()
            raise

    def answers(self) -> bool:
        response = httpx.get(f"{self.url}/v2/ping", headers=caller_headers(), timeout=1)
        return response.status_code == 204


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A running ``tidings serve`` on a fresh SQLite file."""
    with running(ServerProcess(database=tmp_path / "tidings.db")) as process:
        yield process
