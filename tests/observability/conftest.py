"""In-process servers with chosen instruments."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import caller_headers
from tests.processes import running
from tests.servers.redis import RedisServer
from tidings.app import build_app
from tidings.clock import FakeClock
from tidings.config import Settings, StorageSettings
from tidings.observability import Instruments

SETTINGS = Settings(storage=StorageSettings(url="sqlite:///:memory:"))


@contextlib.asynccontextmanager
async def serve(
    instruments: Instruments, settings: Settings = SETTINGS
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an in-process server (project-a) recording into ``instruments``."""
    app = build_app(settings, FakeClock(), instruments)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://tidings.test",
            headers=caller_headers(),
        ) as client,
    ):
        yield client


@pytest.fixture
def redis_of_its_own(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis for one test, which it may stop or pause."""
    with running(RedisServer(tmp_path / "redis")) as server:
        yield server
