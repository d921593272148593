"""Fixtures for the auth tests: the session's Keystone, and in-process tidings that trust it."""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from tests.conftest import in_process_client
from tests.servers.keystone import START_TIMEOUT, Keystone, keystone_fixture  # noqa: F401
from tidings.clock import FakeClock
from tidings.config import Settings, SignedUrlSettings, StorageSettings

SECRET = "current-signing-key"

MakeApi = Callable[..., Awaitable[httpx.AsyncClient]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The first test that needs Keystone starts it, and on a new machine installs it."""
    for item in items:
        if "keystone" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(START_TIMEOUT))
            return


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock that starts at the real time: Keystone's token expiries are real times."""
    return FakeClock(time.time())


def user(keystone: Keystone, name: str) -> dict[str, str]:
    """Headers of a caller holding ``name``'s token (and no X-Project-ID)."""
    return {"X-Auth-Token": keystone.tokens[name], "Client-ID": str(uuid.uuid4())}


@pytest.fixture
def settings(keystone: Keystone) -> Settings:
    """A tidings on an in-memory store that validates tokens with the session's Keystone."""
    return Settings(
        storage=StorageSettings(url="sqlite:///:memory:"),
        auth=keystone.auth_settings(),
        signed_url=SignedUrlSettings(secret_key=SECRET),
    )


@pytest.fixture
async def make_api(
    settings: Settings, clock: FakeClock, keystone: Keystone
) -> AsyncIterator[MakeApi]:
    """Start tidings with ``settings`` changed by section (``auth={...}``); the client calls
    as a-member unless told otherwise. Each is stopped after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            caller: str = "a-member", **sections: dict[str, object]
        ) -> httpx.AsyncClient:
            changed = {
                name: dataclasses.replace(getattr(settings, name), **values)
                for name, values in sections.items()
            }
            client = await stack.enter_async_context(
                in_process_client(dataclasses.replace(settings, **changed), clock)
            )
            del client.headers["X-Project-ID"]
            client.headers.update(user(keystone, caller))
            return client

        yield make


@pytest.fixture
async def api(make_api: MakeApi) -> httpx.AsyncClient:
    """A client of a tidings that trusts the session's Keystone, calling as a-member."""
    return await make_api()
