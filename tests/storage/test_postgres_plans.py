"""The PostgreSQL driver's hot-path statements read through indexes, never a table scan.

A database is filled through the driver with thousands of messages and claims spread over
projects, queues and producers, some delayed, and with thousands of queues and subscriptions,
then ANALYZEd. Each hot statement is EXPLAINed with the values the driver would bind, on a
connection with the driver's session settings (so the plan is the one the driver gets:
planned for those values). The statements the driver plans once per connection (STEADY) are
also EXPLAINed as that plan, made for any values, there and in two databases whose
statistics are out of date: one ANALYZEd while it held a thousand small queues, one of which
grew to 20,000 messages since; one ANALYZEd while nearly empty, then filled again; one
ANALYZEd while drained, filled again, then analyzed by the driver, which found its statistics
stale.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import asyncpg
import pytest

from tests.conftest import eventually, opened
from tests.servers.postgres import (
    STATISTICS_COUNTED,
    PostgresServer,
    messages_counted,
    run_coroutine,
)
from tidings.models import NewMessage
from tidings.storage import postgres

NOW = 1_700_000_000.0
PROJECT = "project-a"
QUEUE = "queue-3"
TENANTS = [("project-a", 10, 1000), ("project-b", 5, 200)]
"""(project, queues, messages per queue)."""
CLAIMS_PER_QUEUE = 300
MANY_QUEUES_AND_SUBSCRIPTIONS = """
WITH new_queues AS (
    INSERT INTO queues (project, name, metadata, created)
    SELECT 'project-c', 'queue-' || n, '{}', $1 FROM generate_series(1, 5000) AS n
)
INSERT INTO subscriptions
    (id, project, source, subscriber, created, expires, ttl, options, secret)
SELECT 'subscription-' || n, 'project-c', 'queue-' || n % 500, 'http://127.0.0.1/' || n,
       $1, $1 + 3600, 3600, '{}', 'secret'
FROM generate_series(1, 5000) AS n
"""
"""Another tenant's queues and subscriptions, as many as make reading them whole costly."""
INDEX_ON_MESSAGES = re.compile(
    r"(Index|Index Only|Bitmap Index) Scan (Backward )?(using|on) messages_"
)

KEYS = {
    "messages_pkey",
    "messages_by_id",
    "messages_by_claim",
    "messages_undelayed",
    "messages_delayed",
    "messages_claimed",
    "claims_pkey",
    "queues_pkey",
    "context_versions_pkey",
    "subscriptions_by_source",
}
"""The indexes a plan made for any values may walk: each finds one message, one claim's
messages, a queue's first claimable messages, one queue, its context version or its
subscriptions. A statement reading through another (the whole queue's, the expiry index) must
be planned for its values."""
INDEX_WALKED = re.compile(r"Index Scan (?:Backward )?(?:using|on) (\w+).*\n(?!.*seq = )")
"""An index scan not bounded to one seq (``seq = `` in its Index Cond)."""
BY_SEQ = re.compile(r"Index Scan (?:Backward )?(?:using|on) (\w+).*\n\s*Index Cond: \(seq = ")
"""An index scan for one seq alone: only the primary key finds it without a walk."""
PRIMARY_KEY_WALKED = re.compile(
    r"Index Scan (?:Backward )?using messages_pkey .*$(?!\n\s*Index Cond)", re.MULTILINE
)
"""The primary key read from one end with no bound: every message in seq order."""
MESSAGES_BY_QUEUE = {
    "messages_by_queue",
    "messages_undelayed",
    "messages_delayed",
    "messages_claimed",
    "messages_by_expiry",
}
"""Indexes that hold a queue's messages side by side: reading one to find a few ids walks the
queue."""
DELAYED_UP_TO_NOW = re.compile(
    rf"Index Scan using messages_delayed .*\n.*Index Cond: .*\(visible_at <= ('{NOW:.0f}'|\$3)"
)
"""The delayed messages read up to those whose delay ends now: the rest are not read."""


def unlooking(url: str) -> postgres.PostgresStorage:
    """A driver that does not look at the statistics by itself: each database here keeps the
    statistics it was given."""
    return postgres.PostgresStorage(url, statistics_interval=None)


@dataclass(frozen=True)
class Filled:
    url: str
    message_ids: list[str]
    """Three messages of PROJECT/QUEUE."""
    claim_id: str
    """A live claim of PROJECT/QUEUE."""


def batch(size: int, producer: int) -> list[NewMessage]:
    return [
        NewMessage(
            id=str(uuid.uuid4()),
            body={"n": n},
            ttl=3600,
            delay=60 if n % 10 == 0 else 0,
            client_id=f"p{producer}",
        )
        for n in range(size)
    ]


async def fill(url: str) -> Filled:
    storage = unlooking(url)
    await storage.open()
    try:
        for project, queues, depth in TENANTS:
            for queue in range(queues):
                for producer in range(depth // 100):
                    await storage.messages_post(
                        project, f"queue-{queue}", batch(100, producer), NOW
                    )
        for queue in range(TENANTS[0][1]):
            for _ in range(CLAIMS_PER_QUEUE):
                await storage.claim_create(PROJECT, f"queue-{queue}", 300, 60, 1, NOW)
    finally:
        await storage.close()
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(MANY_QUEUES_AND_SUBSCRIPTIONS, NOW)
        await connection.execute("ANALYZE")
        rows = await connection.fetch(
            "SELECT id, claim_id FROM messages WHERE project = $1 AND queue = $2 ORDER BY seq",
            PROJECT,
            QUEUE,
        )
    finally:
        await connection.close()
    [claim_id, *_] = [row["claim_id"] for row in rows if row["claim_id"] is not None]
    return Filled(url, [row["id"] for row in rows[-3:]], claim_id)


@pytest.fixture(scope="module")
def filled(postgres_server: PostgresServer) -> Iterator[Filled]:
    with postgres_server.new_database() as url:
        yield run_coroutine(fill(url))


MESSAGES_IN_QUEUES = """
INSERT INTO messages (id, project, queue, body, client_id, created, expires, visible_at)
SELECT $3 || n, $1, $3 || n % $4, '{}', 'p0', $2::float8, $2 + 3600, $2
FROM generate_series(1, $5) AS n
"""
"""``$5`` messages of PROJECT over ``$4`` queues, named ``$3`` and a number."""
GROWN = 20_000
ALL_BUT_THE_LAST_THREE = "DELETE FROM messages WHERE seq <= (SELECT max(seq) - 3 FROM messages)"

Prepare = Callable[[asyncpg.Connection], Awaitable[object]]


async def small_queues(connection: asyncpg.Connection) -> None:
    await connection.execute(MESSAGES_IN_QUEUES, PROJECT, NOW, "small-", 1000, 5000)


async def an_emptied_queue(connection: asyncpg.Connection) -> None:
    """The table's pages kept, nearly all of their rows deleted: so it looks to ANALYZE after
    a consumer drained a queue, or a queue was deleted."""
    await connection.execute(MESSAGES_IN_QUEUES, PROJECT, NOW, "emptied-", 1, 20_000)
    await connection.execute(ALL_BUT_THE_LAST_THREE)


async def a_drained_table(connection: asyncpg.Connection) -> None:
    """Every message consumed: ANALYZE finds the table's pages and no row in them."""
    await connection.execute(MESSAGES_IN_QUEUES, PROJECT, NOW, "drained-", 10, 20_000)
    await connection.execute("DELETE FROM messages")


async def fill_after_analyze(url: str, prepare: Prepare) -> Filled:
    """``prepare``d and ANALYZEd; then QUEUE grows to GROWN messages, unanalyzed."""
    storage = unlooking(url)
    await storage.open()
    try:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("ALTER TABLE messages SET (autovacuum_enabled = false)")
            await prepare(connection)
            await connection.execute("VACUUM ANALYZE messages")
        finally:
            await connection.close()
        for producer in range(GROWN // 1000):
            await storage.messages_post(PROJECT, QUEUE, batch(1000, producer), NOW)
        claim = await storage.claim_create(PROJECT, QUEUE, 300, 60, 3, NOW)
    finally:
        await storage.close()
    assert claim is not None
    return Filled(url, [message.id for message in claim.messages], claim.id)


@pytest.fixture(scope="module")
def grown_since_analyze(postgres_server: PostgresServer) -> Iterator[Filled]:
    with postgres_server.new_database() as url:
        yield run_coroutine(fill_after_analyze(url, small_queues))


@pytest.fixture(scope="module")
def refilled_since_analyze(postgres_server: PostgresServer) -> Iterator[Filled]:
    with postgres_server.new_database() as url:
        yield run_coroutine(fill_after_analyze(url, an_emptied_queue))


async def look_once_counted(url: str) -> bool:
    """Whether the driver's look at the statistics analyzed the table, once PostgreSQL's
    statistics count the GROWN messages written since it was drained."""
    connection = await asyncpg.connect(url)
    try:
        await eventually(lambda: messages_counted(connection, GROWN), STATISTICS_COUNTED)
    finally:
        await connection.close()
    async with opened(unlooking(url)) as storage:
        return await storage.refresh_statistics()


async def fill_after_drain_then_refresh(url: str) -> Filled:
    filled = await fill_after_analyze(url, a_drained_table)
    assert await look_once_counted(url)
    return filled


@pytest.fixture(scope="module")
def refreshed_since_drained(postgres_server: PostgresServer) -> Iterator[Filled]:
    with postgres_server.new_database() as url:
        yield run_coroutine(fill_after_drain_then_refresh(url))


Statement = tuple[str, list[object]]

HOT_PATHS: dict[str, Callable[[Filled], Statement]] = {
    "post": lambda f: (
        postgres.MESSAGES_POST,
        [
            PROJECT,
            NOW,
            [QUEUE, f"{QUEUE}#outbox"],
            [QUEUE, f"{QUEUE}#outbox"],
            [str(uuid.uuid4()), str(uuid.uuid4())],
            [b"{}", b"{}"],
            ["p0", "p0"],
            [NOW + 60, NOW + 60],
            [NOW, NOW],
            QUEUE,
            0,
        ],
    ),
    "list": lambda f: (
        postgres.MESSAGES_LIST,
        [PROJECT, QUEUE, NOW, 0, False, "reader", False, False, 10],
    ),
    "list after a marker": lambda f: (
        postgres.MESSAGES_LIST,
        [PROJECT, QUEUE, NOW, 5000, True, "reader", True, True, 10],
    ),
    "get": lambda f: (postgres.MESSAGES_GET, [PROJECT, QUEUE, NOW, f.message_ids]),
    "delete": lambda f: (
        postgres.MESSAGE_DELETE,
        [PROJECT, QUEUE, NOW, f.message_ids[0], f.claim_id],
    ),
    "delete many": lambda f: (
        postgres.MESSAGES_DELETE,
        [PROJECT, QUEUE, f.message_ids, None, NOW],
    ),
    "delete many with claims": lambda f: (
        postgres.MESSAGES_DELETE,
        [PROJECT, QUEUE, f.message_ids, [f.claim_id], NOW],
    ),
    "pop": lambda f: (postgres.MESSAGES_POP, [PROJECT, QUEUE, NOW, 10]),
    "move": lambda f: (
        postgres.MESSAGES_MOVE,
        [PROJECT, QUEUE, NOW, "dead-letters", f.message_ids, None],
    ),
    "claim": lambda f: (
        postgres.CLAIM_CREATE,
        [PROJECT, QUEUE, NOW, 10, str(uuid.uuid4()), NOW + 60, NOW + 120],
    ),
    "claim get": lambda f: (postgres.CLAIM_GET, [PROJECT, QUEUE, NOW, f.claim_id]),
    "claim renew": lambda f: (
        postgres.CLAIM_RENEW,
        [PROJECT, QUEUE, NOW, f.claim_id, NOW + 60, NOW + 120],
    ),
    "claim release": lambda f: (postgres.CLAIM_RELEASE, [PROJECT, QUEUE, f.claim_id]),
    "stats": lambda f: (postgres.QUEUE_STATS, [PROJECT, QUEUE, NOW]),
    "post context": lambda f: (postgres.POST_CONTEXT, [PROJECT, QUEUE, NOW]),
    "outboxes": lambda f: (postgres.OUTBOXES, [NOW]),
}
READS_NO_MESSAGES = {"post", "post context"}


async def explain(url: str, statement: Statement) -> str:
    sql, args = statement
    connection = await asyncpg.connect(url, server_settings=postgres.SERVER_SETTINGS)
    try:
        rows = await connection.fetch(f"EXPLAIN {sql}", *args)
    finally:
        await connection.close()
    return "\n".join(row[0] for row in rows)


def literal(value: object) -> str:
    """``value`` as an SQL literal, for EXECUTE of a statement PREPAREd by name."""
    if value is None:
        return "NULL"
    if isinstance(value, bool | int | float):
        return repr(value).lower() if isinstance(value, bool) else repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bytes):
        return f"'\\x{value.hex()}'::bytea"
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(literal(item) for item in value) + "]"
    raise TypeError(f"no SQL literal for {value!r}")


async def explain_generic(url: str, statement: Statement) -> str:
    """The plan a connection of the steady pool keeps, for any values."""
    sql, args = statement
    connection = await asyncpg.connect(url, server_settings=postgres.STEADY_SERVER_SETTINGS)
    try:
        await connection.execute(f"PREPARE steady AS {sql}")
        values = ", ".join(literal(arg) for arg in args)
        rows = await connection.fetch(f"EXPLAIN EXECUTE steady({values})")
    finally:
        await connection.close()
    return "\n".join(row[0] for row in rows)


Explain = Callable[[str, Statement], Awaitable[str]]
SAMPLE = Filled(url="", message_ids=["a-message"], claim_id="a-claim")
STEADY_PATHS = [name for name, make in HOT_PATHS.items() if make(SAMPLE)[0] in postgres.STEADY]


async def test_the_database_is_big_enough_to_tempt_the_planner(filled: Filled) -> None:
    connection = await asyncpg.connect(filled.url)
    try:
        messages = await connection.fetchval("SELECT count(*) FROM messages")
        claims = await connection.fetchval("SELECT count(*) FROM claims")
    finally:
        await connection.close()

    assert messages == sum(queues * depth for _, queues, depth in TENANTS)
    assert claims == TENANTS[0][1] * CLAIMS_PER_QUEUE


def assert_scans_no_table(name: str, plan: str) -> None:
    assert "Seq Scan on messages" not in plan, plan
    assert "Seq Scan on claims" not in plan, plan
    assert "Seq Scan on queues" not in plan, plan
    assert "Seq Scan on subscriptions" not in plan, plan
    if name not in READS_NO_MESSAGES:
        assert INDEX_ON_MESSAGES.search(plan), plan


@pytest.mark.parametrize("name", list(HOT_PATHS))
async def test_a_hot_path_scans_no_table(filled: Filled, name: str) -> None:
    plan = await explain(filled.url, HOT_PATHS[name](filled))

    assert_scans_no_table(name, plan)


def test_each_statement_planned_once_is_a_checked_hot_path() -> None:
    assert {HOT_PATHS[name](SAMPLE)[0] for name in STEADY_PATHS} == postgres.STEADY


DATABASES = [
    "filled",
    "grown_since_analyze",
    "refilled_since_analyze",
    "refreshed_since_drained",
]


async def plan_of(
    request: pytest.FixtureRequest, name: str, database: str, how: Explain = explain_generic
) -> str:
    """The plan ``how`` gives the hot path ``name`` in the fixture ``database``."""
    data: Filled = request.getfixturevalue(database)
    return await how(data.url, HOT_PATHS[name](data))


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("name", STEADY_PATHS)
async def test_a_statement_planned_once_keeps_a_plan_that_scans_no_table(
    request: pytest.FixtureRequest, database: str, name: str
) -> None:
    plan = await plan_of(request, name, database)

    assert_scans_no_table(name, plan)
    assert not PRIMARY_KEY_WALKED.search(plan), plan
    assert set(BY_SEQ.findall(plan)) <= {"messages_pkey"}, plan
    walked = set(INDEX_WALKED.findall(plan))
    assert walked <= (KEYS | {"messages_by_queue"} if name in LISTINGS else KEYS), plan


LISTINGS = ["list", "list after a marker"]
LISTING_FROM_THE_MARKER = re.compile(
    r"Index Scan using messages_by_queue .*\n"
    r".*Index Cond: .*ROW\(project, queue, seq\) > ROW\(\$1, \$2, \$4\)"
)
"""The queue's messages after the marker, read in order from the marker on."""


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("name", LISTINGS)
async def test_a_listing_reads_its_queue_in_order_from_the_marker(
    request: pytest.FixtureRequest, database: str, name: str
) -> None:
    plan = await plan_of(request, name, database)

    assert LISTING_FROM_THE_MARKER.search(plan), plan
    assert set(INDEX_WALKED.findall(plan)) == {"messages_by_queue"}, plan
    assert "Sort" not in plan, plan


CLAIM_PLANS = [
    pytest.param(name, how, database, id=f"{name}, {how.__name__}, {database}")
    for name in ["claim", "pop"]
    for how, databases in [(explain, ["filled"]), (explain_generic, DATABASES)]
    for database in databases
]


@pytest.mark.parametrize(("name", "how", "database"), CLAIM_PLANS)
async def test_a_claim_reads_the_free_and_the_ended_messages_only(
    request: pytest.FixtureRequest, name: str, how: Explain, database: str
) -> None:
    plan = await plan_of(request, name, database, how)

    assert "messages_undelayed" in plan, plan
    assert "messages_claimed" in plan, plan
    assert "messages_by_queue" not in plan, plan
    assert "messages_by_expiry" not in plan, plan


@pytest.mark.parametrize(("name", "how", "database"), CLAIM_PLANS)
async def test_a_claim_reads_the_delayed_messages_by_the_end_of_their_delay(
    request: pytest.FixtureRequest, name: str, how: Explain, database: str
) -> None:
    plan = await plan_of(request, name, database, how)

    assert DELAYED_UP_TO_NOW.search(plan), plan
    assert "messages_free" not in plan, plan


NAMING_MESSAGES = ["get", "delete", "delete many", "delete many with claims", "move"]


@pytest.mark.parametrize("database", DATABASES)
@pytest.mark.parametrize("name", NAMING_MESSAGES)
async def test_a_statement_naming_messages_finds_them_by_id_alone(
    request: pytest.FixtureRequest, database: str, name: str
) -> None:
    plan = await plan_of(request, name, database)

    assert set(INDEX_WALKED.findall(plan)) & MESSAGES_BY_QUEUE == set(), plan
    assert "messages_by_id" in plan, plan


async def test_statistics_that_take_a_refilled_table_for_empty_are_taken_again(
    postgres_server: PostgresServer,
) -> None:
    with postgres_server.new_database() as url:
        filled = await fill_after_analyze(url, a_drained_table)
        claim = HOT_PATHS["claim"](filled)
        stale_plan = await explain_generic(url, claim)

        analyzed = await look_once_counted(url)
        plan = await explain_generic(url, claim)
        analyzed_again = await look_once_counted(url)

    assert PRIMARY_KEY_WALKED.search(stale_plan), stale_plan
    assert analyzed
    assert not PRIMARY_KEY_WALKED.search(plan), plan
    assert "messages_undelayed" in plan, plan
    assert not analyzed_again
