"""In-process servers with chosen instruments."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from tests.conftest import caller_headers
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
