"""A Redis login that does not work: a wrong password, an ACL user that may not run the
driver's commands, or a database the server does not have, makes the store unavailable (503),
never a crash. The session's private Redis, with users made for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import opened
from tests.messages import new
from tests.servers.redis import HOST, RedisServer
from tidings import errors
from tidings.storage.base import storage_from_url

PROJECT = "project-a"
NOW = 1_700_000_000.0


@pytest.fixture
def user(redis_server: RedisServer) -> Iterator[str]:
    """An ACL user, ``reader`` with the password ``secret``, that may only read keys."""
    with redis_server.client() as admin:
        admin.acl_setuser(
            "reader",
            enabled=True,
            passwords=["+secret"],
            keys=["*"],
            channels=["*"],
            commands=["+@read", "+ping", "+hello"],
        )
        try:
            yield "reader"
        finally:
            admin.acl_deluser("reader")


async def test_a_wrong_password_is_unavailable(redis_server: RedisServer, user: str) -> None:
    storage = storage_from_url(f"redis://{user}:wrong@{HOST}:{redis_server.port}/0")

    with pytest.raises(errors.StorageUnavailable, match="invalid username-password"):
        await storage.open()
    await storage.close()


async def test_a_user_who_may_not_write_is_unavailable(
    redis_server: RedisServer, user: str
) -> None:
    storage = storage_from_url(f"redis://{user}:secret@{HOST}:{redis_server.port}/0")

    async with opened(storage):
        with pytest.raises(errors.StorageUnavailable, match="no permissions to run"):
            await storage.messages_post(PROJECT, "q", new("refused"), NOW)


async def test_a_database_the_server_does_not_have_is_unavailable(
    redis_server: RedisServer,
) -> None:
    # A Redis server has 16 databases unless its configuration says otherwise
    storage = storage_from_url(f"redis://{HOST}:{redis_server.port}/99")

    with pytest.raises(errors.StorageUnavailable, match="DB index is out of range"):
        await storage.open()
    await storage.close()
