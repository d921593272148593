"""The server reclaims expired records by itself, every ``storage.gc_interval`` seconds."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from tests.api.support import post_bodies
from tests.conftest import eventually, in_process_client
from tidings.clock import FakeClock
from tidings.config import NotificationSettings, Settings, StorageSettings


def stored_messages(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        (count,) = connection.execute("SELECT count(*) FROM messages").fetchone()
    return int(count)


async def test_expired_messages_are_removed_in_the_background(
    tmp_path: Path, clock: FakeClock
) -> None:
    database = tmp_path / "gc.db"
    settings = Settings(
        storage=StorageSettings(url=f"sqlite:///{database}", gc_interval=0.05),
        notification=NotificationSettings(workers=0),
    )
    async with in_process_client(settings, clock) as api:
        # Given a message that will expire and one that will not
        await post_bodies(api, "fizbit", "short", ttl=60)
        await post_bodies(api, "fizbit", "long", ttl=600)
        assert stored_messages(database) == 2
        # When its time passes, with no request made
        clock.advance(61)
        # Then the server deletes the expired one from the store by itself
        await eventually(lambda: stored_messages(database) == 1, 5)
