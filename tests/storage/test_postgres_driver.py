"""The PostgreSQL driver beyond the shared contract: URLs, markers, odd values, concurrent
consumers, and outages of the server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tests.conftest import eventually, opened
from tests.messages import PRODUCER, new
from tests.servers.postgres import (
    STATISTICS_COUNTED,
    PostgresServer,
    free_port,
    messages_analyzed,
    messages_counted,
    start_private_postgres,
)
from tidings import errors
from tidings.clock import FakeClock
from tidings.models import MessageFilter
from tidings.storage import postgres, postgres_catalog
from tidings.storage.base import MAX_SEQUENCE, storage_from_url

PROJECT = "project-a"
QUEUE = "fizbit"
OUTAGE_BUDGET = 2.0
"""Seconds within which a call must answer while the server is down."""


@pytest.fixture
async def storage(postgres_url: str) -> AsyncIterator[postgres.PostgresStorage]:
    driver = postgres.from_url(postgres_url)
    await driver.open()
    try:
        yield driver
    finally:
        await driver.close()


# URLs


@pytest.mark.parametrize(
    "url",
    ["postgresql://tidings:secret@db.example:5432/tidings", "postgres://tidings@db.example/q"],
)
def test_both_schemes_name_the_postgres_driver(url: str) -> None:
    driver = storage_from_url(url)

    assert isinstance(driver, postgres.PostgresStorage)
    assert driver.url == url


@pytest.mark.parametrize(
    "url",
    ["postgresql://db.example:5432", "postgresql:///tidings", "mysql://db.example/tidings"],
)
def test_a_url_without_host_or_database_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        postgres.from_url(url)


@pytest.mark.parametrize(
    "query",
    ["pool_size=0", "pool_size=1001", "pool_size=ten", "pool_size=", "pool_size=2&pool_size=3"],
)
def test_a_pool_size_that_is_not_a_count_is_refused(query: str) -> None:
    with pytest.raises(ValueError, match="pool_size must be given once, as a whole number"):
        postgres.from_url(f"postgresql://db.example/tidings?{query}")


def test_the_pool_size_is_the_driver_s_own_and_other_parameters_go_to_the_server() -> None:
    url = "postgresql://db.example/tidings?sslmode=disable&pool_size=3&application_name=a"

    driver = postgres.from_url(url)
    catalog = postgres_catalog.from_url(url)

    assert driver.max_size == 3
    assert (
        driver.url
        == catalog.url
        == ("postgresql://db.example/tidings?sslmode=disable&application_name=a")
    )


async def test_each_pool_keeps_at_most_pool_size_connections(
    postgres_url: str, clock: FakeClock
) -> None:
    # Given a driver allowed two connections a pool, named for the server's activity view
    storage = storage_from_url(f"{postgres_url}?pool_size=2&application_name=bounded")
    async with opened(storage):
        # When 40 posts and 40 listings are under way at once
        listing = MessageFilter(PRODUCER)
        await asyncio.gather(
            *(storage.messages_post(PROJECT, f"q{n % 4}", new(n), clock()) for n in range(40)),
            *(storage.messages_list(PROJECT, "q0", listing, clock()) for _ in range(40)),
        )
        # Then every one was served, on two connections of each pool at most
        connection = await asyncpg.connect(postgres_url)
        try:
            connected = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bounded'"
            )
            posted = await connection.fetchval("SELECT count(*) FROM messages")
        finally:
            await connection.close()
    assert posted == 40
    assert 2 <= connected <= 4


def test_the_driver_declares_its_capabilities() -> None:
    driver = postgres.from_url("postgresql://db.example/tidings")

    assert driver.capabilities == {"FIFO", "CLAIMS", "DURABILITY", "AOD"}


# Markers


@pytest.mark.parametrize(
    "marker", ["abc", "-1", "1.5", "", " 1", "\u0663", "9" * 19, str(2**63), "1" * 5000]
)
async def test_a_malformed_marker_is_an_invalid_parameter(
    storage: postgres.PostgresStorage, clock: FakeClock, marker: str
) -> None:
    query = MessageFilter(PRODUCER, echo=True, marker=marker)

    with pytest.raises(errors.InvalidParameter):
        await storage.messages_list(PROJECT, QUEUE, query, clock())


async def test_the_largest_marker_is_valid(
    storage: postgres.PostgresStorage, clock: FakeClock
) -> None:
    await storage.messages_post(PROJECT, QUEUE, new("a"), clock())
    query = MessageFilter(PRODUCER, echo=True, marker=str(MAX_SEQUENCE))

    assert await storage.messages_list(PROJECT, QUEUE, query, clock()) == ([], None)


# Values PostgreSQL text cannot hold


async def test_nul_characters_in_bodies_and_metadata_round_trip(
    storage: postgres.PostgresStorage, clock: FakeClock
) -> None:
    await storage.queue_create(PROJECT, QUEUE, {"k": "a\x00b"}, clock())
    [message_id] = await storage.messages_post(PROJECT, QUEUE, new({"text": "c\x00d"}), clock())

    assert await storage.queue_get_metadata(PROJECT, QUEUE) == {"k": "a\x00b"}
    [message] = await storage.messages_get(PROJECT, QUEUE, [message_id], clock())
    assert message.body == {"text": "c\x00d"}


async def test_a_nul_character_in_an_id_is_an_invalid_parameter(
    storage: postgres.PostgresStorage, clock: FakeClock
) -> None:
    with pytest.raises(errors.InvalidParameter):
        await storage.messages_get(PROJECT, QUEUE, ["bad\x00id"], clock())


# Concurrency


async def test_concurrent_consumers_never_share_a_message(
    postgres_url: str, clock: FakeClock
) -> None:
    # Given 400 messages and eight consumers, each with a driver (a pool) of its own
    drivers = [postgres.from_url(postgres_url) for _ in range(8)]
    for driver in drivers:
        await driver.open()
    posted = await drivers[0].messages_post(PROJECT, QUEUE, new(*range(400)), clock())

    async def consume(driver: postgres.PostgresStorage) -> list[str]:
        taken: list[str] = []
        while claim := await driver.claim_create(PROJECT, QUEUE, 60, 60, 7, clock()):
            taken += [message.id for message in claim.messages]
        return taken

    # When they all claim until nothing is left
    try:
        taken = await asyncio.gather(*(consume(driver) for driver in drivers))
    finally:
        for driver in drivers:
            await driver.close()
    # Then every message was claimed exactly once
    claimed = [message_id for ids in taken for message_id in ids]
    assert sorted(claimed) == sorted(posted)
    assert sum(1 for ids in taken if ids) > 1


async def test_concurrent_posts_to_one_queue_list_in_seq_order(
    storage: postgres.PostgresStorage, clock: FakeClock
) -> None:
    # Given twenty batches posted at once
    batches = await asyncio.gather(
        *(storage.messages_post(PROJECT, QUEUE, new(*range(5)), clock()) for _ in range(20))
    )
    # When the queue is paged through by marker
    seen: list[str] = []
    marker = None
    while True:
        query = MessageFilter(PRODUCER, echo=True, marker=marker, limit=7)
        page, marker = await storage.messages_list(PROJECT, QUEUE, query, clock())
        if not page:
            break
        seen += [message.id for message in page]
    # Then every message shows once, each batch whole and in its own order
    assert sorted(seen) == sorted(message_id for ids in batches for message_id in ids)
    for ids in batches:
        start = seen.index(ids[0])
        assert seen[start : start + len(ids)] == ids


async def test_connections_go_back_to_their_pools_holding_nothing(
    storage: postgres.PostgresStorage, postgres_url: str, clock: FakeClock
) -> None:
    # Given every kind of hot statement run at once, some taking advisory locks
    await storage.messages_post(PROJECT, QUEUE, new(*range(40)), clock())

    async def consume() -> None:
        claim = await storage.claim_create(PROJECT, QUEUE, 60, 60, 4, clock())
        assert claim is not None
        [first, second, third, *_released] = [message.id for message in claim.messages]
        assert await storage.claim_renew(PROJECT, QUEUE, claim.id, 120, 60, clock())
        await storage.message_delete(PROJECT, QUEUE, first, claim.id, clock())
        await storage.messages_delete(PROJECT, QUEUE, [second], [claim.id], clock())
        await storage.messages_move(PROJECT, QUEUE, [third], "dead-letters", None, clock())
        await storage.claim_release(PROJECT, QUEUE, claim.id)

    await asyncio.gather(
        *(consume() for _ in range(8)),
        *(storage.messages_post(PROJECT, QUEUE, new(1), clock()) for _ in range(8)),
    )
    # When another session looks at what the pools' sessions still hold
    connection = await asyncpg.connect(postgres_url)
    try:
        locks = await connection.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        )
        open_transactions = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
        )
    finally:
        await connection.close()
    # Then no lock and no transaction outlived its statement, though no reset ran
    assert locks == 0
    assert open_transactions == 0


async def test_a_statement_that_waits_too_long_for_a_connection_is_unavailable(
    postgres_url: str, clock: FakeClock
) -> None:
    # Given a driver whose pools hold one connection each, the steady one's taken
    driver = postgres.PostgresStorage(postgres_url, max_size=1, acquire_timeout=0.2)
    await driver.open()
    try:
        held = await driver._steady_pool.acquire()
        # When a post waits for it, Then it gives up at the acquire timeout
        started = time.monotonic()
        with pytest.raises(errors.StorageUnavailable):
            await driver.messages_post(PROJECT, QUEUE, new("waited"), clock())
        assert 0.2 <= time.monotonic() - started < OUTAGE_BUDGET
        # And once the connection is back, the pool serves the next post
        await driver._steady_pool.release(held)
        await driver.messages_post(PROJECT, QUEUE, new("served"), clock())
        query = MessageFilter(PRODUCER, echo=True)
        listed, _ = await driver.messages_list(PROJECT, QUEUE, query, clock())
        assert [message.body for message in listed] == ["served"]
    finally:
        await driver.close()


async def test_a_driver_that_cannot_open_its_second_pool_closes_its_first(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the steady pool's connections refused by the server
    monkeypatch.setattr(postgres, "STEADY_SERVER_SETTINGS", {"plan_cache_mode": "never"})
    driver = postgres.from_url(postgres_url)
    # When the driver opens
    with pytest.raises(asyncpg.InvalidParameterValueError):
        await driver.open()
    # Then the first pool's connections are gone too
    assert await _sessions_left(postgres_url) == 0


async def _sessions_left(url: str) -> int:
    """Other sessions on the database once those closing have had time to end."""
    connection = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + OUTAGE_BUDGET
        while True:
            sessions: int = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if sessions == 0 or time.monotonic() > deadline:
                return sessions
            await asyncio.sleep(0.05)
    finally:
        await connection.close()


async def test_vacuum_leaves_the_pages_emptied_at_the_end_of_the_messages_table(
    storage: postgres.PostgresStorage, postgres_url: str, clock: FakeClock
) -> None:
    # Given a queue of a thousand messages, deleted (the table's last pages left empty)
    await storage.messages_post(PROJECT, QUEUE, new(*range(1000)), clock())
    connection = await asyncpg.connect(postgres_url)
    try:
        size = await connection.fetchval("SELECT pg_relation_size('messages')")
        await storage.queue_delete(PROJECT, QUEUE)
        # When VACUUM runs, Then it does not cut them off (which takes a lock every post,
        # claim and delete waits behind)
        await connection.execute("VACUUM messages")
        assert await connection.fetchval("SELECT pg_relation_size('messages')") == size > 0
    finally:
        await connection.close()


async def test_the_driver_analyzes_a_table_refilled_since_it_was_analyzed_empty(
    postgres_url: str, clock: FakeClock
) -> None:
    # Given a drained messages table that ANALYZE found empty, autovacuum left out
    connection = await asyncpg.connect(postgres_url)
    try:
        looking = postgres.PostgresStorage(postgres_url, statistics_interval=LOOK)
        async with opened(looking) as storage:
            await connection.execute("ALTER TABLE messages SET (autovacuum_enabled = false)")
            await storage.messages_post(PROJECT, QUEUE, new(*range(100)), clock())
            await storage.queue_delete(PROJECT, QUEUE)
            await connection.execute("ANALYZE messages")
            analyzed = await messages_analyzed(connection)

            # When producers refill it
            for _ in range(STALE_AT // 500):
                await storage.messages_post(PROJECT, QUEUE, new(*range(500)), clock())

            # Then the driver analyzes it by itself, once, and the statistics count its rows
            async def analyzed_again() -> bool:
                return await messages_analyzed(connection) > analyzed

            await eventually(analyzed_again, STATISTICS_COUNTED)
            await asyncio.sleep(LOOK * 5)
            assert await messages_analyzed(connection) == analyzed + 1
        reltuples = "SELECT reltuples FROM pg_class WHERE oid = 'messages'::regclass"
        assert await connection.fetchval(reltuples) == STALE_AT
    finally:
        await connection.close()


async def test_a_role_that_may_not_analyze_the_table_leaves_its_statistics_alone(
    postgres_server: PostgresServer, postgres_url: str, clock: FakeClock
) -> None:
    # Given a table migrated by its owner, whose statistics went stale, and a role allowed
    # only to read and write its rows
    async with opened(postgres.PostgresStorage(postgres_url, statistics_interval=None)) as owner:
        await owner.messages_post(PROJECT, QUEUE, new(*range(STALE_AT)), clock())
        connection = await asyncpg.connect(postgres_url)
        try:
            await eventually(lambda: messages_counted(connection, STALE_AT), STATISTICS_COUNTED)
            analyzed = await messages_analyzed(connection)
            with postgres_server.rows_only_role(postgres_url) as role_url:
                # When that role looks at the statistics
                role = postgres.PostgresStorage(role_url, statistics_interval=None)
                async with opened(role) as app:
                    looked = await app.refresh_statistics()
            # Then it leaves them, and the owner would not
            assert not looked
            assert await messages_analyzed(connection) == analyzed
            assert await owner.refresh_statistics()
        finally:
            await connection.close()


LOOK = 0.1
"""Seconds between two looks at the statistics, in the test of the driver's own loop."""
STALE_AT = 1500
"""More rows than the least the driver's look at the statistics counts as stale (1000)."""


# Notifications


async def test_only_posts_to_watched_queues_notify(
    storage: postgres.PostgresStorage, postgres_url: str, clock: FakeClock
) -> None:
    # Given a session LISTENing to two queues' channels, of which a driver watches one
    heard: list[str] = []
    listener = await asyncpg.connect(postgres_url)
    try:
        for queue in (QUEUE, "unwatched"):
            await listener.add_listener(
                postgres._channel((PROJECT, queue)), lambda *args: heard.append(args[2])
            )
        assert await storage.watch(PROJECT, QUEUE, 5.0)  # listening now: look again

        # When a message is posted to each
        await storage.messages_post(PROJECT, "unwatched", new("unheard"), clock())
        watching = asyncio.create_task(storage.watch(PROJECT, QUEUE, 5.0))
        await storage.messages_post(PROJECT, QUEUE, new("heard"), clock())

        # Then the watched queue's post wakes the driver and notifies its channel, and the
        # other post notifies nothing
        assert await watching
        await asyncio.sleep(0.2)
        assert heard == [postgres._channel((PROJECT, QUEUE))]
    finally:
        await listener.close()


async def test_gc_forgets_the_watched_queues_of_a_process_gone(
    postgres_url: str, clock: FakeClock
) -> None:
    # Given a driver that watched a queue, then closed
    async with opened(postgres.from_url(postgres_url)) as gone:
        assert await gone.watch(PROJECT, QUEUE, 5.0)
    async with opened(postgres.from_url(postgres_url)) as storage:
        assert await _watched(storage) == 1
        # When gc runs once its connection has ended, Then the queue is no longer watched
        deadline = time.monotonic() + OUTAGE_BUDGET
        while await _watched(storage) and time.monotonic() < deadline:
            await storage.gc(clock())
            await asyncio.sleep(0.05)
        assert await _watched(storage) == 0


async def _watched(storage: postgres.PostgresStorage) -> int:
    rows = await storage._fetch("SELECT count(*) FROM watched_queues")
    return int(rows[0][0])


# Outages


@pytest.fixture
def private_server() -> Iterator[PostgresServer]:
    """A cluster of the test's own, free to be stopped."""
    server = start_private_postgres()
    try:
        yield server
    finally:
        server.remove()


async def test_an_unreachable_server_fails_open_quickly() -> None:
    driver = postgres.from_url(f"postgresql://postgres@127.0.0.1:{free_port()}/tidings")
    started = time.monotonic()

    with pytest.raises(errors.StorageUnavailable):
        await driver.open()

    assert time.monotonic() - started < OUTAGE_BUDGET


async def test_a_database_that_is_not_there_is_unavailable(
    postgres_server: PostgresServer,
) -> None:
    driver = postgres.from_url(postgres_server.url("no_such_database"))

    with pytest.raises(errors.StorageUnavailable, match=r"\(InvalidCatalogNameError\)"):
        await driver.open()
    await driver.close()


async def test_a_role_that_may_not_create_the_tables_is_unavailable(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    # Given a database no one migrated, and a role that may only use the rows of its tables
    with postgres_server.rows_only_role(postgres_url) as role_url:
        driver = postgres.from_url(role_url)

        # When the driver opens it, which migrates the schema, it says so (a traceback before)
        with pytest.raises(errors.StorageUnavailable, match=r"\(InsufficientPrivilegeError\)"):
            await driver.open()
        await driver.close()


async def test_a_driver_not_open_is_unavailable(clock: FakeClock) -> None:
    driver = postgres.from_url("postgresql://postgres@127.0.0.1:1/tidings")

    with pytest.raises(errors.StorageUnavailable):
        await driver.queue_count(PROJECT)
    assert await driver.is_alive() is False


async def test_an_outage_answers_quickly_and_the_driver_recovers_by_itself(
    private_server: PostgresServer, clock: FakeClock
) -> None:
    # Given an open driver holding a message
    private_server.create_database("tidings")
    driver = postgres.from_url(private_server.url("tidings"))
    await driver.open()
    try:
        await driver.messages_post(PROJECT, QUEUE, new("before"), clock())
        # When the server stops
        await asyncio.to_thread(private_server.stop)
        # Then every call answers StorageUnavailable within the budget
        for call in (
            lambda: driver.messages_post(PROJECT, QUEUE, new("during"), clock()),
            lambda: driver.claim_create(PROJECT, QUEUE, 60, 60, 10, clock()),
            lambda: driver.queue_stats(PROJECT, QUEUE, clock()),
        ):
            started = time.monotonic()
            with pytest.raises(errors.StorageUnavailable):
                await call()
            assert time.monotonic() - started < OUTAGE_BUDGET
        assert await driver.is_alive() is False
        # And when it is back, the same driver works again, nothing lost
        await asyncio.to_thread(private_server.start)
        assert await driver.is_alive() is True
        await driver.messages_post(PROJECT, QUEUE, new("after"), clock())
        query = MessageFilter(PRODUCER, echo=True)
        listed, _ = await driver.messages_list(PROJECT, QUEUE, query, clock())
        assert [message.body for message in listed] == ["before", "after"]
    finally:
        await driver.close()


async def test_a_hung_server_answers_unavailable_within_the_budget(
    private_server: PostgresServer, clock: FakeClock
) -> None:
    # Given an open driver whose statements time out soon
    private_server.create_database("tidings")
    url = private_server.url("tidings")
    driver = postgres.PostgresStorage(url, command_timeout=0.3, acquire_timeout=0.3)
    await driver.open()
    try:
        await driver.messages_post(PROJECT, QUEUE, new("before"), clock())
        # When the server hangs: its connections stay open and nothing answers
        with private_server.hung():
            started = time.monotonic()
            # Then a post still answers StorageUnavailable within the budget (its statement
            # times out, and its cancellation, unanswered, too)
            with pytest.raises(errors.StorageUnavailable):
                await driver.messages_post(PROJECT, QUEUE, new("during"), clock())
            assert time.monotonic() - started < OUTAGE_BUDGET
        # And once it answers again, so does the driver
        await driver.messages_post(PROJECT, QUEUE, new("after"), clock())
    finally:
        await driver.close()
