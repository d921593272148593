"""Fixtures for the WebSocket tests: a tidings served in-process on a loopback port (on each
backend), sockets to it, and an HTTP client to the same server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import caller_headers
from tests.servers.backends import SERVED_BACKENDS, storage_url
from tests.websocket.support import Served, Socket, opened, serving
from tidings.clock import FakeClock
from tidings.config import AuthSettings, Settings, StorageSettings

OpenSocket = Callable[..., Awaitable[Socket]]


@contextlib.asynccontextmanager
async def served_on(
    request: pytest.FixtureRequest, clock: FakeClock, backend: str
) -> AsyncIterator[Served]:
    settings = Settings(
        storage=StorageSettings(url=storage_url(request, backend)),
        auth=AuthSettings(trust_role_headers=True),
    )
    async with serving(settings, clock) as server:
        yield server


@pytest.fixture(params=SERVED_BACKENDS)
async def served(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Served]:
    async with served_on(request, clock, request.param) as server:
        yield server


@pytest.fixture
async def open_socket(served: Served) -> AsyncIterator[OpenSocket]:
    """Open sockets to the server (``path`` defaults to /v2/ws); each is closed after."""
    async with contextlib.AsyncExitStack() as stack:

        async def open_one(path: str = "/v2/ws", **options: Any) -> Socket:
            url = f"ws://127.0.0.1:{served.port}{path}"
            return await stack.enter_async_context(opened(url, **options))

        yield open_one


@pytest.fixture
async def ws(open_socket: OpenSocket) -> Socket:
    return await open_socket()


@pytest.fixture
async def http(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, headers=caller_headers()) as client:
        yield client
