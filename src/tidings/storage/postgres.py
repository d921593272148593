"""The PostgreSQL driver: an asyncpg pool, one SQL statement per contract operation.

Every operation is a single statement (data-modifying CTEs where it touches several tables), so
it runs as one transaction in one round trip and needs no explicit BEGIN. Claims and pops pick
their rows with ``FOR UPDATE SKIP LOCKED``, so concurrent consumers never wait on each other nor
get the same message. Messages are ordered by ``seq``, an identity column; the listing marker is
that number. Posts take a transaction-scoped advisory lock on their queue before drawing seqs,
so within a queue seqs commit in order and a reader paging by marker never passes a message
that commits later. Time is always the ``now`` argument, never the database clock.

The schema is versioned: ``postgres_migrations/NNNN_name.sql`` files, applied in name order by
``migrate()`` (and so by ``open()`` and ``tidings migrate``) under an advisory lock, and recorded
in ``schema_migrations``.

Every asyncpg, socket and timeout error that means "the database is not reachable" becomes
``StorageUnavailable`` at this module's edge. Acquiring a connection and running a statement
are bounded by short timeouts, so an outage answers within about two seconds; the pool
reconnects by itself when the server is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import asyncpg
import orjson

from tidings import errors
from tidings.ids import unique_id
from tidings.models import (
    JSON,
    Claim,
    Message,
    MessageFilter,
    NewMessage,
    PostContext,
    PreparedPost,
    PreparePost,
    QueueRecord,
    QueueStats,
    Subscription,
)
from tidings.storage.base import AOD, CLAIMS, DURABILITY, FIFO, Storage, sequence_of
from tidings.storage.known_contexts import KnownContexts, VersionedContext
from tidings.storage.url_options import pool_size
from tidings.storage.watch import Key, Watchers

logger = logging.getLogger(__name__)

Record = Any
"""An ``asyncpg.Record``: read by column name."""

SCHEMES = ("postgresql", "postgres")
ACQUIRE_TIMEOUT = 1.5
"""Seconds to get a connection from the pool, connecting included."""
COMMAND_TIMEOUT = 2.0
"""Seconds a hot-path statement may run."""
MAINTENANCE_TIMEOUT = 120.0
"""Seconds for statements whose work grows with a queue (delete, purge, move, gc)."""
MIGRATION_TIMEOUT = 600.0
MIGRATION_LOCK_POLL = 0.05
"""Seconds between two tries for the migrations' lock, while another process migrates."""
STATISTICS_INTERVAL = 1.0
"""Seconds between two looks at the messages table's statistics (STALE_STATISTICS)."""
POOL_SIZE = 10
"""Connections each of a process's two pools keeps at most, unless the URL's ``pool_size``
says otherwise."""
CLOSE_TIMEOUT = 5.0
ATTEMPTS = 3
"""Tries of a statement PostgreSQL aborts as a deadlock or serialization failure (RETRIED)."""
MIGRATION_LOCK = 0x7469_6469_6E67
"""Advisory lock key held while migrating ("tiding" in ASCII)."""

MIGRATIONS_DIR = Path(__file__).with_name("postgres_migrations")

SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan", "jit": "off"}
"""Session settings of the connections that run most statements. Each statement is planned
for its own values: a generic plan cannot tell a deep queue from an empty one (it would walk
the seq or expiry index across every queue, or read a whole queue to find a few ids). JIT
compilation only adds latency to statements this short."""
STEADY_SERVER_SETTINGS = {
    "plan_cache_mode": "force_generic_plan",
    "enable_seqscan": "off",
    "enable_bitmapscan": "off",
    "jit": "off",
}
"""Session settings of the connections that run the STEADY statements: each is planned once
per connection, then runs on that plan. Planning a post and its context read costs
PostgreSQL more than running them, and planning a claim for its values reads the ends of its
indexes past every row deleted since the last vacuum (milliseconds under a steady consume).
Each of these statements reads through an index, in order; with table and bitmap scans
allowed, statistics taken while the table was nearly empty (after a queue was drained or
deleted) made a scan of the whole table, or of a queue's whole index, look cheaper."""

UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable; TimeoutError (acquire, connect, command) too
    asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError, ConnectionFailureError, ...
    asyncpg.InterfaceError,  # the pool or connection is closing or closed
    asyncpg.exceptions.OperatorInterventionError,  # CannotConnectNow, AdminShutdown, ...
    asyncpg.exceptions.InsufficientResourcesError,  # TooManyConnections, DiskFull, ...
    asyncpg.exceptions.TransactionRollbackError,  # still deadlocking after ATTEMPTS tries
    # the login refused: a wrong password, a role that is gone, no client certificate
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    asyncpg.exceptions.InvalidCatalogNameError,  # no such database (dropped, or misnamed)
    # a role that may not use the tables, or create them before `tidings migrate` has run
    asyncpg.exceptions.InsufficientPrivilegeError,
)
RETRIED = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)
UNSTORABLE = (
    asyncpg.exceptions.CharacterNotInRepertoireError,  # NUL in a text value
    asyncpg.exceptions.UntranslatableCharacterError,
)

# The hot SQL, as constants (tests/storage/test_postgres_plans.py EXPLAINs each of them).

MESSAGE_COLUMNS = (
    "seq, id, body, created, expires, visible_at, client_id, claim_id, claim_expires, claim_count"
)
OF_QUEUE = "project = $1 AND queue = $2"
LIVE = f"{OF_QUEUE} AND expires - $3 > 0"
"""The queue's messages that have not expired. The expiry term is written so that no index
can serve it: PostgreSQL would otherwise find a queue's messages through messages_by_expiry
(every queue's, in one index) whenever its statistics put few live messages in the table,
as they do after an ANALYZE that ran while the queues were nearly empty."""
UNDELAYED = "visible_at <= created"
"""Messages posted without a delay (``visible_at`` is ``created`` plus the delay, and never
changes). A claim repeats this term, and DELAYED, as the partial indexes messages_undelayed
and messages_delayed state them (migration 0006), for PostgreSQL to use them."""
DELAYED = "visible_at > created"
"""Messages posted with a delay, whether it has passed or not."""
CLAIMABLE = f"""
WITH undelayed AS (
    SELECT seq FROM messages
    WHERE {LIVE} AND claim_expires = 0 AND {UNDELAYED} AND visible_at <= $3
    ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED
), delayed AS (
    SELECT seq FROM messages
    WHERE {LIVE} AND claim_expires = 0 AND {DELAYED} AND visible_at <= $3
    ORDER BY visible_at, seq LIMIT $4 FOR UPDATE SKIP LOCKED
), ended AS (
    SELECT seq FROM messages
    WHERE {LIVE} AND claim_expires > 0 AND claim_expires <= $3 AND visible_at <= $3
    ORDER BY claim_expires LIMIT $4 FOR UPDATE SKIP LOCKED
)
SELECT seq FROM (
    SELECT seq FROM undelayed UNION ALL SELECT seq FROM delayed UNION ALL SELECT seq FROM ended
) AS claimable
ORDER BY seq LIMIT $4
"""
"""The first ``$4`` messages a claim or pop may take: the first free ones never delayed (the
literal 0 lets PostgreSQL use the partial index messages_undelayed), the first free ones
whose delay ended (messages_delayed, by the delay's end) and the first whose claim ended
(messages_claimed, by the claim's end), by post order. So a claim reads neither the messages
other consumers hold nor those whose delay goes on. When more delays or claims than that
ended, the first to end come first, so a claim may then get newer messages before the rest
of them."""

QUEUE_CREATE = """
INSERT INTO queues (project, name, metadata, created) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING
RETURNING true
"""
QUEUE_GET_METADATA = "SELECT metadata FROM queues WHERE project = $1 AND name = $2"
QUEUE_SET_METADATA = (
    "UPDATE queues SET metadata = $3 WHERE project = $1 AND name = $2 RETURNING true"
)
VISIBLE_QUEUE = "strpos(name, '#') = 0"
"""Queues users see: internal ones (outboxes) hold a '#' in their name."""
QUEUE_LIST = f"""
SELECT name, metadata FROM queues WHERE project = $1 AND name > $2 AND {VISIBLE_QUEUE}
ORDER BY name LIMIT $3
"""
QUEUE_COUNT = f"SELECT count(*) FROM queues WHERE project = $1 AND {VISIBLE_QUEUE}"
QUEUE_DELETE = """
WITH gone_messages AS (DELETE FROM messages WHERE project = $1 AND queue = $2),
     gone_claims AS (DELETE FROM claims WHERE project = $1 AND queue = $2)
DELETE FROM queues WHERE project = $1 AND name = $2
"""
QUEUE_PURGE = """
WITH gone_messages AS (DELETE FROM messages WHERE project = $1 AND queue = $2)
DELETE FROM claims WHERE project = $1 AND queue = $2
"""
QUEUE_STATS = f"""
SELECT counts.total, counts.claimed, counts.delayed, ends.*
FROM (
    SELECT count(*) AS total,
           count(*) FILTER (WHERE claim_expires > $3) AS claimed,
           count(*) FILTER (WHERE claim_expires <= $3 AND visible_at > $3) AS delayed
    FROM messages WHERE {LIVE}
) AS counts
LEFT JOIN LATERAL (
    (SELECT {MESSAGE_COLUMNS} FROM messages WHERE {LIVE} ORDER BY seq LIMIT 1)
    UNION ALL
    (SELECT {MESSAGE_COLUMNS} FROM messages WHERE {LIVE} ORDER BY seq DESC LIMIT 1)
) AS ends ON true
"""

QUEUE_LOCK = "SELECT pg_advisory_xact_lock(hashtext($1), hashtext({queue})) IS NULL AS held"
"""Serializes the posts of one queue until commit, so its seqs commit in order."""

MESSAGES_POST = """
WITH current AS (
         SELECT $11::bigint IS NULL OR coalesce(
             (SELECT version FROM context_versions WHERE project = $1 AND queue = $10), 0
         ) = $11 AS still
     ),
     queue_lock AS (
         SELECT count(pg_advisory_xact_lock(hashtext($1), hashtext(name))) AS held
         FROM current, unnest($3::text[]) AS name
         WHERE current.still
     ),
     new_queues AS (
         INSERT INTO queues (project, name, metadata, created)
         SELECT $1, name, '{}', $2 FROM current, unnest($3::text[]) AS name
         WHERE current.still
         ON CONFLICT DO NOTHING
     ),
     posted AS (
         INSERT INTO messages (id, project, queue, body, client_id, created, expires, visible_at)
         SELECT batch.id, $1, batch.queue, batch.body, batch.client_id, $2, batch.expires,
                batch.visible_at
         FROM current, queue_lock,
              unnest($4::text[], $5::text[], $6::bytea[], $7::text[], $8::float8[], $9::float8[])
                  WITH ORDINALITY AS batch (queue, id, body, client_id, expires, visible_at, n)
         WHERE current.still
         ORDER BY batch.n
         ON CONFLICT (id) DO NOTHING
     )
SELECT still FROM current
"""
"""One post with its outbox: ``$3`` the queues written (locked in that order, created if
absent), then one array entry per message. Every row is joined with the locks, so they are
held before the first seq is drawn. An id already stored is skipped (a retried post).

``$11``, when given, is the version of the context of ``$10`` (the queue posted to) that the
post was prepared with (0: none): once that version moved, nothing is written and ``still``
is false."""

MESSAGES_LIST = f"""
SELECT {MESSAGE_COLUMNS} FROM messages
WHERE {LIVE} AND (project, queue, seq) > ($1, $2, $4)
  AND ($5::boolean OR client_id <> $6)
  AND ($7::boolean OR claim_expires <= $3)
  AND ($8::boolean OR visible_at <= $3)
ORDER BY project, queue, seq
LIMIT $9
"""
"""A page of the queue's messages after the marker ``$4``, in post order. The marker and the
order are written over messages_by_queue's columns, which no other index has: with ``seq >
$4`` PostgreSQL would otherwise walk every queue's messages after the marker, in the primary
key, whenever its statistics put few messages in the table."""


def _by_key(name: str, table: str, key: str, columns: str) -> str:
    """The CTE ``name``: the rows of ``table`` that ``key`` (an id, a claim id) picks, found
    through that key alone.

    A statement that names its rows checks their queue and expiry on this copy, then reaches
    the rows it changes by their primary key. With those terms beside the key, PostgreSQL may
    read the queue's own indexes instead (whenever its statistics were taken while the queue
    was small, reading all of the queue's messages, or all of its claimed ones, looks as
    cheap), and a few ids then cost a walk through the queue. A row's queue never changes and
    its expiry only moves later, so the copy answers as the row would; what can change (a
    message's claim) is checked on the row itself."""
    return f"{name} AS MATERIALIZED (SELECT {columns} FROM {table} WHERE {key})"


def _named(ids: str) -> str:
    """``named``: the messages ``ids`` picks, by id."""
    return _by_key("named", "messages", ids, "seq, project, queue, expires")


def _held(claim_id: str) -> str:
    """``held``: the messages of the claim ``claim_id``."""
    return _by_key("held", "messages", f"claim_id = {claim_id}", "seq, project, queue, expires")


def _claim_by_id(claim_id: str) -> str:
    """``claim``: the claim ``claim_id``."""
    return _by_key("claim", "claims", f"id = {claim_id}", "id, project, queue, created, expires")


NAMED_LIVE = f"SELECT seq FROM named WHERE {LIVE}"
HELD_LIVE = f"SELECT seq FROM held WHERE {LIVE}"

MESSAGES_GET = f"""
WITH {_named("id = ANY($4::text[])")}
SELECT {MESSAGE_COLUMNS} FROM messages WHERE seq IN ({NAMED_LIVE}) ORDER BY seq
"""
MESSAGE_DELETE = f"""
WITH {_named("id = $4")}, {_claim_by_id("$5")}, target AS (
    SELECT seq, claim_id, claim_id IS NOT NULL AND claim_expires > $3 AS claimed
    FROM messages WHERE seq = ({NAMED_LIVE})
    FOR UPDATE
), verdict AS (
    SELECT seq, CASE
        WHEN $5::text IS NULL THEN CASE WHEN claimed THEN 'claimed' ELSE 'ok' END
        WHEN NOT EXISTS (SELECT FROM claim WHERE {LIVE}) THEN 'claim-expired'
        WHEN NOT claimed THEN 'not-claimed'
        WHEN claim_id <> $5 THEN 'claimed'
        ELSE 'ok'
    END AS verdict
    FROM target
), deleted AS (
    DELETE FROM messages WHERE seq IN (SELECT seq FROM verdict WHERE verdict = 'ok')
)
SELECT verdict FROM verdict
"""
"""Deletes the message only when its claim allows it; the verdict names what was wrong."""

MESSAGES_DELETE = f"""
WITH {_named("id = ANY($3::text[])")}
DELETE FROM messages
WHERE seq IN (SELECT seq FROM named WHERE project = $1 AND queue = $2)
  AND ($4::text[] IS NULL OR (claim_id = ANY($4) AND claim_expires > $5))
"""
MESSAGES_POP = f"""
DELETE FROM messages
WHERE seq IN ({CLAIMABLE})
RETURNING {MESSAGE_COLUMNS}
"""
MESSAGES_MOVE = f"""
WITH queue_lock AS ({QUEUE_LOCK.format(queue="$4")}),
     new_queue AS (
         INSERT INTO queues (project, name, metadata, created) VALUES ($1, $4, '{{}}', $3)
         ON CONFLICT DO NOTHING
     ),
     {_named("id = ANY($5::text[])")},
     moved AS (
         DELETE FROM messages WHERE seq IN ({NAMED_LIVE})
         RETURNING seq, id, body, client_id, created, expires, visible_at
     )
INSERT INTO messages (id, project, queue, body, client_id, created, expires, visible_at)
SELECT moved.id, $1, $4, moved.body, moved.client_id, moved.created,
       coalesce($6::float8, moved.expires), moved.visible_at
FROM queue_lock, moved
ORDER BY moved.seq
"""

CLAIM_CREATE = f"""
WITH claimed AS (
    UPDATE messages
    SET claim_id = $5::text, claim_expires = $6::float8, claim_count = claim_count + 1,
        expires = greatest(expires, $7::float8)
    WHERE seq IN ({CLAIMABLE})
    RETURNING {MESSAGE_COLUMNS}
), claim AS (
    INSERT INTO claims (id, project, queue, created, expires)
    SELECT $5, $1, $2, $3, $6 WHERE EXISTS (SELECT FROM claimed)
)
SELECT {MESSAGE_COLUMNS} FROM claimed
"""
CLAIM_GET = f"""
WITH {_claim_by_id("$4")}, {_held("$4")}
SELECT live_claim.created AS claim_created, live_claim.expires AS claim_expires_at,
       m.seq, m.id, m.body, m.created, m.expires, m.visible_at, m.client_id, m.claim_id,
       m.claim_expires, m.claim_count
FROM (SELECT created, expires FROM claim WHERE {LIVE}) AS live_claim
LEFT JOIN messages AS m ON m.seq IN ({HELD_LIVE}) AND m.claim_id = $4
ORDER BY m.seq
"""
CLAIM_RENEW = f"""
WITH {_claim_by_id("$4")}, {_held("$4")}, renewed AS (
    UPDATE claims SET created = $3, expires = $5
    WHERE id = (SELECT id FROM claim WHERE {LIVE})
    RETURNING id
), extended AS (
    UPDATE messages SET claim_expires = $5, expires = greatest(expires, $6)
    WHERE seq IN ({HELD_LIVE}) AND claim_id = $4 AND EXISTS (SELECT FROM renewed)
)
SELECT count(*) AS renewed FROM renewed
"""
CLAIM_RELEASE = f"""
WITH {_claim_by_id("$3")}, {_held("$3")}, released AS (
    DELETE FROM claims WHERE id = (SELECT id FROM claim WHERE {OF_QUEUE}) RETURNING id
)
UPDATE messages SET claim_id = NULL, claim_expires = 0
WHERE seq IN (SELECT seq FROM held WHERE {OF_QUEUE}) AND claim_id = $3
  AND EXISTS (SELECT FROM released)
"""
NEWEST_MARKER = "SELECT max(seq) AS newest FROM messages WHERE project = $1 AND queue = $2"
GC = """
WITH dead_messages AS (DELETE FROM messages WHERE expires <= $1 RETURNING 1),
     dead_claims AS (DELETE FROM claims WHERE expires <= $1 RETURNING 1),
     dead_subscriptions AS (DELETE FROM subscriptions WHERE expires <= $1 RETURNING 1),
     gone_listeners AS (
         DELETE FROM watched_queues
         WHERE NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = listener)
     )
SELECT (SELECT count(*) FROM dead_messages) + (SELECT count(*) FROM dead_claims)
       + (SELECT count(*) FROM dead_subscriptions) AS removed
"""
"""Expired messages, claims and subscriptions (counted), and the watched queues of LISTENing
connections that are gone."""
WATCH = f"""
WITH queue_lock AS ({QUEUE_LOCK.format(queue="$2")})
INSERT INTO watched_queues (project, queue, listener)
SELECT $1, $2, pg_backend_pid() FROM queue_lock
ON CONFLICT DO NOTHING
"""
"""Posts to the queue notify from now on (run on the LISTENing connection; migration 0008).
Under the queue's lock: a post in flight commits first."""
UNWATCH = """
DELETE FROM watched_queues WHERE project = $1 AND queue = $2 AND listener = pg_backend_pid()
"""
STALE_STATISTICS = """
SELECT s.n_live_tup > greatest(1000, 10 * c.reltuples)
       AND (pg_has_role(c.relowner, 'USAGE') OR pg_has_role(d.datdba, 'USAGE')) AS stale
FROM pg_class AS c
JOIN pg_stat_user_tables AS s ON s.relid = c.oid
JOIN pg_database AS d ON d.datname = current_database()
WHERE c.oid = 'messages'::regclass
"""
"""Whether the messages table holds ten times the rows its statistics say, and a thousand at
least, and this role may ANALYZE it (it owns the table or the database; PostgreSQL would
otherwise log a warning each time instead).

An ANALYZE run while consumers had drained the table records pages with no rows in them, and
PostgreSQL then takes the table for empty whatever it holds, until autovacuum analyzes it
again (up to a minute after it refilled): every walk of an index looks as cheap as a lookup,
and the plans made meanwhile walk the primary key for a claim's first messages and for each
message a statement names."""
ANALYZE_MESSAGES = "ANALYZE (SKIP_LOCKED) messages"
"""Skipped while another process analyzes the table."""
OUTBOXES = """
SELECT DISTINCT project, queue FROM messages
WHERE queue LIKE '%#outbox' AND visible_at <= $1 AND claim_expires <= $1 AND expires > $1
"""

SUBSCRIPTION_COLUMNS = "id, source, subscriber, created, expires, ttl, options, confirmed, secret"
LIVE_SUBSCRIPTION = "id = $3 AND project = $1 AND source = $2 AND expires > $4"
SUBSCRIPTION_CREATE = f"""
INSERT INTO subscriptions AS old
    (id, project, source, subscriber, created, expires, ttl, options, secret)
VALUES ($3, $1, $2, $4, $5, $6, $7, $8, $9)
ON CONFLICT (project, source, subscriber) DO UPDATE
SET id = excluded.id, created = excluded.created, expires = excluded.expires,
    ttl = excluded.ttl, options = excluded.options, confirmed = false, secret = excluded.secret
WHERE old.expires <= excluded.created
RETURNING {SUBSCRIPTION_COLUMNS}
"""
"""Inserts, or replaces an expired subscription of the same subscriber; no row when a live
one exists."""
SUBSCRIPTION_OF = f"""
SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
WHERE project = $1 AND source = $2 AND subscriber = $3 AND expires > $4
"""
SUBSCRIPTION_GET = f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE {LIVE_SUBSCRIPTION}"
SUBSCRIPTION_LIST = f"""
SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
WHERE project = $1 AND source = $2 AND expires > $3 AND id > $4
ORDER BY id LIMIT $5
"""
SUBSCRIBERS = f"""
SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
WHERE project = $1 AND source = $2 AND expires > $3
ORDER BY id
"""
POST_CONTEXT = f"""
SELECT (SELECT metadata FROM queues WHERE project = $1 AND name = $2) AS queue_metadata,
    (SELECT version FROM context_versions WHERE project = $1 AND queue = $2)
        AS context_version,
    {SUBSCRIPTION_COLUMNS}
FROM (VALUES (1)) AS one
LEFT JOIN subscriptions ON project = $1 AND source = $2 AND expires > $3
ORDER BY id
"""
"""The queue's metadata and context version on every row (NULL: no queue, no version), with
its live subscriptions; one row with a NULL id when it has none."""
SUBSCRIPTION_DROP_EXPIRED = """
DELETE FROM subscriptions
WHERE project = $1 AND source = $2 AND subscriber = $3 AND expires <= $4
"""
SUBSCRIPTION_UPDATE = f"""
UPDATE subscriptions
SET subscriber = coalesce($5::text, subscriber), expires = coalesce($6::float8, expires),
    ttl = coalesce($7::integer, ttl), options = coalesce($8::json, options)
WHERE {LIVE_SUBSCRIPTION}
RETURNING {SUBSCRIPTION_COLUMNS}
"""
SUBSCRIPTION_CONFIRM = f"""
UPDATE subscriptions SET confirmed = $5 WHERE {LIVE_SUBSCRIPTION}
RETURNING {SUBSCRIPTION_COLUMNS}
"""
SUBSCRIPTION_DELETE = "DELETE FROM subscriptions WHERE id = $3 AND project = $1 AND source = $2"
SUBSCRIPTIONS_PURGE = "DELETE FROM subscriptions WHERE project = $1 AND source = $2"

STEADY = frozenset(
    {
        MESSAGES_POST,
        POST_CONTEXT,
        MESSAGES_LIST,
        CLAIM_CREATE,
        MESSAGES_POP,
        MESSAGES_GET,
        MESSAGE_DELETE,
        MESSAGES_DELETE,
        MESSAGES_MOVE,
        CLAIM_GET,
        CLAIM_RENEW,
        CLAIM_RELEASE,
    }
)
"""The hot statements whose best plan is the same whatever their values: each finds its rows
through a key (message ids or a claim id, in ``named``, ``claim`` and ``held``), takes a
queue's first claimable messages through the claim indexes, reads a queue's messages in order
from a marker (a listing), or inserts. They run on
connections that keep their plans (STEADY_SERVER_SETTINGS);
tests/storage/test_postgres_plans.py checks those plans."""

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE schema_migrations (
    name text PRIMARY KEY,
    applied_at double precision NOT NULL
)
"""

DELETE_VERDICTS: dict[str, type[errors.TidingsError]] = {
    "claimed": errors.MessageIsClaimed,
    "claim-expired": errors.ClaimExpired,
    "not-claimed": errors.MessageNotClaimed,
}


OUTSIDE_A_TRANSACTION = "-- tidings: outside a transaction"
"""A migration holding this line runs its statements one at a time, each committed on its
own: ``CREATE INDEX CONCURRENTLY``, which lets writes go on while an index of a large table is
built, refuses to run inside a transaction. Such a migration must be safe to run again from
its start, should it stop halfway."""


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def statements(self) -> list[str] | None:
        """The statements to run one by one, or None: run the whole in one transaction."""
        if OUTSIDE_A_TRANSACTION not in self.sql.splitlines():
            return None
        code = "\n".join(line.split("--")[0].rstrip() for line in self.sql.splitlines())
        return [statement.strip() for statement in code.split(";") if statement.strip()]


def _load_migrations() -> list[Migration]:
    paths = sorted(MIGRATIONS_DIR.glob("*.sql"))
    return [Migration(path.stem, path.read_text()) for path in paths]


MIGRATIONS = _load_migrations()
"""Read once at import: the event loop never waits on these files."""


def from_url(url: str) -> PostgresStorage:
    """``postgresql://user[:password]@host:port/dbname`` (``postgres://`` works too), with
    ``?pool_size=N`` for the connections each of the process's two pools keeps at most."""
    connect_to, size = split_pool_size(url)
    return PostgresStorage(connect_to, max_size=size)


def split_pool_size(url: str) -> tuple[str, int]:
    """The URL to connect to, without tidings' own ``pool_size`` parameter (asyncpg would send
    it to the server as a setting), and that pool size; ValueError for a URL it cannot use."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname or parts.path in ("", "/"):
        raise ValueError("PostgreSQL URLs look like postgresql://user[:password]@host:port/dbname")
    query = parse_qsl(parts.query, keep_blank_values=True)
    size = pool_size(query, POOL_SIZE)
    rest = urlencode([(name, value) for name, value in query if name != "pool_size"])
    return parts._replace(query=rest).geturl(), size


@contextlib.contextmanager
def translated(store: str = "PostgreSQL") -> Iterator[None]:
    """Turn the library's errors that are the caller's or the network's into the API's: a value
    the database cannot hold (a NUL) into InvalidParameter, "cannot reach the database" into
    StorageUnavailable naming ``store``."""
    try:
        yield
    except UNSTORABLE as exc:
        raise errors.InvalidParameter(f"A value cannot be stored: {exc}") from exc
    except UNAVAILABLE as exc:
        logger.warning("%s is unavailable: %r", store, exc)
        raise errors.StorageUnavailable(
            f"{store} is not reachable ({type(exc).__name__}). Please try again."
        ) from exc


def _dumps(value: JSON) -> str:
    return orjson.dumps(value).decode()


def _message(row: Record) -> Message:
    return Message(
        id=row["id"],
        body=orjson.loads(row["body"]),
        created=row["created"],
        expires=row["expires"],
        visible_at=row["visible_at"],
        client_id=row["client_id"],
        claim_id=row["claim_id"],
        claim_expires=row["claim_expires"],
        claim_count=row["claim_count"],
    )


def _messages(rows: Sequence[Record]) -> list[Message]:
    return [_message(row) for row in sorted(rows, key=lambda row: int(row["seq"]))]


def _subscription(row: Record) -> Subscription:
    return Subscription(
        id=row["id"],
        source=row["source"],
        subscriber=row["subscriber"],
        created=row["created"],
        expires=row["expires"],
        ttl=row["ttl"],
        options=orjson.loads(row["options"]),
        confirmed=row["confirmed"],
        secret=row["secret"],
    )


def _subscriptions(rows: Sequence[Record]) -> list[Subscription]:
    return [_subscription(row) for row in rows]


def _first_subscription(rows: Sequence[Record]) -> Subscription | None:
    return _subscription(rows[0]) if rows else None


def _stats(rows: Sequence[Record]) -> QueueStats:
    first = rows[0]
    if first["total"] == 0:
        return QueueStats()
    ends = _messages(rows)
    return QueueStats(
        claimed=first["claimed"],
        delayed=first["delayed"],
        total=first["total"],
        oldest=ends[0],
        newest=ends[-1],
    )


def _claim(claim_id: str, queue: str, rows: Sequence[Record]) -> Claim | None:
    if not rows:
        return None
    held = [row for row in rows if row["seq"] is not None]
    first = rows[0]
    return Claim(
        claim_id, queue, first["claim_created"], first["claim_expires_at"], _messages(held)
    )


async def _apply_migrations(connection: Any) -> list[str]:
    """Apply the pending migrations, each in its own transaction (or, when it says so, each
    of its statements in one); the caller holds the lock.

    With nothing pending it only reads, so a role without the right to create tables can open
    a database migrated by its owner."""
    if await connection.fetchval("SELECT to_regclass('schema_migrations')") is None:
        await connection.execute(CREATE_MIGRATIONS_TABLE)
    done = {row["name"] for row in await connection.fetch("SELECT name FROM schema_migrations")}
    applied: list[str] = []
    for migration in MIGRATIONS:
        if migration.name in done:
            continue
        statements = migration.statements
        if statements is None:
            async with connection.transaction():
                await connection.execute(migration.sql, timeout=MIGRATION_TIMEOUT)
                await _record(connection, migration)
        else:
            for statement in statements:
                await connection.execute(statement, timeout=MIGRATION_TIMEOUT)
            await _record(connection, migration)
        logger.info("applied PostgreSQL migration %s", migration.name)
        applied.append(migration.name)
    return applied


async def _take_migration_lock(connection: Any) -> None:
    """Wait for the migrations' advisory lock without a transaction open meanwhile: a
    ``CREATE INDEX CONCURRENTLY`` of the process holding the lock waits for every open
    transaction to end, so one waiting in ``pg_advisory_lock`` would deadlock with it."""
    deadline = time.monotonic() + MIGRATION_TIMEOUT
    while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK):
        if time.monotonic() > deadline:
            raise errors.StorageUnavailable("PostgreSQL: another process is still migrating.")
        await asyncio.sleep(MIGRATION_LOCK_POLL)


async def _record(connection: Any, migration: Migration) -> None:
    await connection.execute(
        "INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)",
        migration.name,
        time.time(),
    )


async def _keep_session(connection: Any) -> None:
    """Release a connection to its pool as it is (asyncpg's default runs a query to reset
    the session, a round trip per statement). The driver's statements leave nothing in the
    session: each is its own transaction (asyncpg still rolls back one left open), its
    advisory locks end with it, and it neither LISTENs, SETs nor opens cursors."""


class PostgresStorage(Storage):
    capabilities = frozenset({FIFO, CLAIMS, DURABILITY, AOD})

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = POOL_SIZE,
        acquire_timeout: float = ACQUIRE_TIMEOUT,
        command_timeout: float = COMMAND_TIMEOUT,
        statistics_interval: float | None = STATISTICS_INTERVAL,
    ) -> None:
        """``statistics_interval``: seconds between two looks at the statistics
        (refresh_statistics); None, never."""
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self.acquire_timeout = acquire_timeout
        self.command_timeout = command_timeout
        self.statistics_interval = statistics_interval
        self._pool: Any = None
        self._steady_pool: Any = None
        self._watchers = Watchers(_Notified(url))
        self._contexts = KnownContexts()
        self._statistics_keeper: asyncio.Task[None] | None = None

    # Plumbing

    async def open(self) -> None:
        await self.migrate()
        with translated():
            self._pool = await self._create_pool(SERVER_SETTINGS)
            try:
                self._steady_pool = await self._create_pool(STEADY_SERVER_SETTINGS)
            except BaseException:
                await self._close_pools()
                raise
        if self.statistics_interval is not None:
            self._statistics_keeper = asyncio.create_task(
                self._keep_statistics(self.statistics_interval), name="tidings-postgres-statistics"
            )

    async def _create_pool(self, server_settings: dict[str, str]) -> Any:
        return await asyncpg.create_pool(
            self.url,
            min_size=self.min_size,
            max_size=self.max_size,
            timeout=self.acquire_timeout,
            command_timeout=self.command_timeout,
            server_settings=server_settings,
            reset=_keep_session,
        )

    async def close(self) -> None:
        if self._statistics_keeper is not None:
            self._statistics_keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._statistics_keeper
            self._statistics_keeper = None
        await self._watchers.close()
        await self._close_pools()

    async def _close_pools(self) -> None:
        pools = [pool for pool in (self._pool, self._steady_pool) if pool is not None]
        self._pool = self._steady_pool = None
        for pool in pools:
            try:
                await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
            except (*UNAVAILABLE, asyncpg.PostgresError):
                pool.terminate()

    async def migrate(self) -> list[str]:
        """Apply pending migrations on a connection of its own, under an advisory lock, so
        that several processes starting at once apply each migration exactly once."""
        with translated():
            connection = await asyncpg.connect(self.url, timeout=self.acquire_timeout)
            try:
                await _take_migration_lock(connection)
                return await _apply_migrations(connection)
            finally:
                await connection.close(timeout=CLOSE_TIMEOUT)

    async def _fetch(
        self, sql: str, *args: object, max_seconds: float | None = None
    ) -> list[Record]:
        """Run one statement (one transaction), for at most ``max_seconds`` (default: the
        command timeout). PostgreSQL aborting it as a deadlock or serialization failure left
        nothing changed, so it is tried again."""
        with translated():
            for _ in range(ATTEMPTS - 1):
                with contextlib.suppress(*RETRIED):
                    return await self._fetch_once(sql, args, max_seconds)
            return await self._fetch_once(sql, args, max_seconds)

    async def _fetch_once(
        self, sql: str, args: tuple[object, ...], max_seconds: float | None
    ) -> list[Record]:
        pool = self._steady_pool if sql in STEADY else self._pool
        if pool is None:
            raise errors.StorageUnavailable("The PostgreSQL store is not open.")
        # Taken and given back by hand, not with `async with pool.acquire(timeout=...)`:
        # asyncpg then bounds every release by that timeout too, a timer for each statement.
        # A release waits at most for the cancellation of a statement that timed out, which
        # asyncpg bounds by the command timeout.
        async with asyncio.timeout(self.acquire_timeout):
            connection = await pool.acquire()
        try:
            rows: list[Record] = await connection.fetch(sql, *args, timeout=max_seconds)
        finally:
            await pool.release(connection)
        return rows

    async def is_alive(self) -> bool:
        try:
            return bool(await self._fetch("SELECT 1"))
        except errors.StorageUnavailable:
            return False

    # Queues

    async def queue_create(
        self, project: str, name: str, metadata: dict[str, JSON], now: float
    ) -> bool:
        return bool(await self._fetch(QUEUE_CREATE, project, name, _dumps(metadata), now))

    async def queue_get_metadata(self, project: str, name: str) -> dict[str, JSON] | None:
        rows = await self._fetch(QUEUE_GET_METADATA, project, name)
        return dict(orjson.loads(rows[0]["metadata"])) if rows else None

    async def queue_set_metadata(self, project: str, name: str, metadata: dict[str, JSON]) -> None:
        if not await self._fetch(QUEUE_SET_METADATA, project, name, _dumps(metadata)):
            raise errors.QueueNotFound()

    async def queue_list(self, project: str, marker: str | None, limit: int) -> list[QueueRecord]:
        rows = await self._fetch(QUEUE_LIST, project, marker or "", limit)
        return [QueueRecord(row["name"], orjson.loads(row["metadata"])) for row in rows]

    async def queue_count(self, project: str) -> int:
        rows = await self._fetch(QUEUE_COUNT, project)
        return int(rows[0][0])

    async def queue_delete(self, project: str, name: str) -> None:
        await self._fetch(QUEUE_DELETE, project, name, max_seconds=MAINTENANCE_TIMEOUT)

    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        return _stats(await self._fetch(QUEUE_STATS, project, name, now))

    async def queue_purge(self, project: str, name: str) -> None:
        await self._fetch(QUEUE_PURGE, project, name, max_seconds=MAINTENANCE_TIMEOUT)

    # Messages

    async def messages_post(
        self,
        project: str,
        queue: str,
        messages: Sequence[NewMessage],
        now: float,
        outbox: Sequence[tuple[str, Sequence[NewMessage]]] = (),
    ) -> list[str]:
        await self._post(project, queue, PreparedPost(messages, outbox), now, None)
        return [message.id for message in messages]

    async def messages_post_in_context(
        self, project: str, queue: str, now: float, prepare: PreparePost
    ) -> list[str]:
        """One statement while the queue's context is the one this process kept: the post
        names its version (``MESSAGES_POST``), see ``KnownContexts``."""

        async def write(post: PreparedPost, version: str, fresh: bool) -> bool:
            return await self._post(project, queue, post, now, int(version))

        read = functools.partial(self._read_context, project, queue, now)
        post = await self._contexts.post(project, queue, now, prepare, read, write)
        return [message.id for message in post.messages]

    async def _post(
        self, project: str, queue: str, post: PreparedPost, now: float, version: int | None
    ) -> bool:
        """Write the post unless ``version`` is given and the queue's context version moved
        from it: whether it wrote."""
        batches = [
            (queue, post.messages),
            *((target, batch) for target, batch in post.outbox if batch),
        ]
        written = [(target, message) for target, batch in batches for message in batch]
        rows = await self._fetch(
            MESSAGES_POST,
            project,
            now,
            sorted({target for target, _ in batches}),
            [target for target, _ in written],
            [message.id for _, message in written],
            [orjson.dumps(message.body) for _, message in written],
            [message.client_id for _, message in written],
            [now + message.ttl for _, message in written],
            [now + message.delay for _, message in written],
            queue,
            version,
        )
        return bool(rows[0]["still"])

    async def messages_list(
        self, project: str, queue: str, query: MessageFilter, now: float
    ) -> tuple[list[Message], str | None]:
        rows = await self._fetch(
            MESSAGES_LIST,
            project,
            queue,
            now,
            sequence_of(query.marker),
            query.echo,
            query.client_id,
            query.include_claimed,
            query.include_delayed,
            query.limit,
        )
        marker = str(rows[-1]["seq"]) if rows else None
        return _messages(rows), marker

    async def messages_get(
        self, project: str, queue: str, ids: Sequence[str], now: float
    ) -> list[Message]:
        return _messages(await self._fetch(MESSAGES_GET, project, queue, now, list(ids)))

    async def message_delete(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> None:
        rows = await self._fetch(MESSAGE_DELETE, project, queue, now, message_id, claim_id)
        error = DELETE_VERDICTS.get(rows[0]["verdict"]) if rows else None
        if error is not None:
            raise error()

    async def messages_delete(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        claim_ids: Sequence[str] | None,
        now: float,
    ) -> None:
        claims = None if claim_ids is None else list(claim_ids)
        await self._fetch(MESSAGES_DELETE, project, queue, list(ids), claims, now)

    async def messages_pop(self, project: str, queue: str, limit: int, now: float) -> list[Message]:
        return _messages(await self._fetch(MESSAGES_POP, project, queue, now, limit))

    async def messages_move(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        target: str,
        ttl: int | None,
        now: float,
    ) -> None:
        expires = None if ttl is None else now + ttl
        await self._fetch(
            MESSAGES_MOVE,
            project,
            queue,
            now,
            target,
            list(ids),
            expires,
            max_seconds=MAINTENANCE_TIMEOUT,
        )

    # Claims

    async def claim_create(
        self, project: str, queue: str, ttl: int, grace: int, limit: int, now: float
    ) -> Claim | None:
        claim_id = unique_id()
        expires = now + ttl
        rows = await self._fetch(
            CLAIM_CREATE, project, queue, now, limit, claim_id, expires, expires + grace
        )
        return Claim(claim_id, queue, now, expires, _messages(rows)) if rows else None

    async def claim_get(self, project: str, queue: str, claim_id: str, now: float) -> Claim | None:
        return _claim(claim_id, queue, await self._fetch(CLAIM_GET, project, queue, now, claim_id))

    async def claim_renew(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        expires = now + ttl
        rows = await self._fetch(
            CLAIM_RENEW, project, queue, now, claim_id, expires, expires + grace
        )
        return bool(rows[0]["renewed"])

    async def claim_release(self, project: str, queue: str, claim_id: str) -> None:
        await self._fetch(CLAIM_RELEASE, project, queue, claim_id)

    async def outboxes(self, now: float) -> list[tuple[str, str]]:
        rows = await self._fetch(OUTBOXES, now)
        return [(row["project"], row["queue"]) for row in rows]

    # Subscriptions

    async def subscription_create(
        self,
        project: str,
        source: str,
        subscriber: str,
        ttl: int,
        options: dict[str, JSON],
        secret: str,
        now: float,
    ) -> tuple[Subscription, bool]:
        args = (str(uuid.uuid4()), subscriber, now, now + ttl, ttl, _dumps(options), secret)
        for _ in range(ATTEMPTS):  # a live one deleted between the two statements: again
            rows = await self._fetch(SUBSCRIPTION_CREATE, project, source, *args)
            if rows:
                return _subscription(rows[0]), True
            rows = await self._fetch(SUBSCRIPTION_OF, project, source, subscriber, now)
            if rows:
                return _subscription(rows[0]), False
        raise errors.StorageUnavailable("The subscription changed meanwhile. Please try again.")

    async def subscription_get(
        self, project: str, source: str, subscription_id: str, now: float
    ) -> Subscription | None:
        rows = await self._fetch(SUBSCRIPTION_GET, project, source, subscription_id, now)
        return _first_subscription(rows)

    async def subscription_list(
        self, project: str, source: str, marker: str | None, limit: int, now: float
    ) -> list[Subscription]:
        rows = await self._fetch(SUBSCRIPTION_LIST, project, source, now, marker or "", limit)
        return _subscriptions(rows)

    async def subscription_update(
        self,
        project: str,
        source: str,
        subscription_id: str,
        now: float,
        *,
        subscriber: str | None = None,
        ttl: int | None = None,
        options: dict[str, JSON] | None = None,
    ) -> Subscription | None:
        if subscriber is not None:  # an expired holder of the subscriber must not block it
            await self._fetch(SUBSCRIPTION_DROP_EXPIRED, project, source, subscriber, now)
        expires = None if ttl is None else now + ttl
        changes = (subscriber, expires, ttl, None if options is None else _dumps(options))
        try:
            rows = await self._fetch(
                SUBSCRIPTION_UPDATE, project, source, subscription_id, now, *changes
            )
        except asyncpg.UniqueViolationError as exc:
            raise errors.Conflict("Such subscription already exists.") from exc
        return _first_subscription(rows)

    async def subscription_confirm(
        self, project: str, source: str, subscription_id: str, confirmed: bool, now: float
    ) -> Subscription | None:
        rows = await self._fetch(
            SUBSCRIPTION_CONFIRM, project, source, subscription_id, now, confirmed
        )
        return _first_subscription(rows)

    async def subscription_delete(self, project: str, source: str, subscription_id: str) -> None:
        await self._fetch(SUBSCRIPTION_DELETE, project, source, subscription_id)

    async def subscriptions_purge(self, project: str, source: str) -> None:
        await self._fetch(SUBSCRIPTIONS_PURGE, project, source)

    async def subscribers(self, project: str, source: str, now: float) -> list[Subscription]:
        return _subscriptions(await self._fetch(SUBSCRIBERS, project, source, now))

    async def post_context(self, project: str, queue: str, now: float) -> PostContext:
        return (await self._read_context(project, queue, now)).context

    async def _read_context(self, project: str, queue: str, now: float) -> VersionedContext:
        """The queue's post context with its version."""
        rows = await self._fetch(POST_CONTEXT, project, queue, now)
        metadata = rows[0]["queue_metadata"]
        context = PostContext(
            None if metadata is None else dict(orjson.loads(metadata)),
            _subscriptions([row for row in rows if row["id"] is not None]),
        )
        return VersionedContext(context, str(rows[0]["context_version"] or 0))

    # Housekeeping

    async def gc(self, now: float) -> int:
        rows = await self._fetch(GC, now, max_seconds=MAINTENANCE_TIMEOUT)
        return int(rows[0]["removed"])

    async def refresh_statistics(self) -> bool:
        """ANALYZE the messages table when its statistics are stale (STALE_STATISTICS), so the
        plans PostgreSQL makes next see the rows it holds; whether they were (another process
        may have been analyzing it already)."""
        if not (await self._fetch(STALE_STATISTICS))[0]["stale"]:
            return False
        await self._fetch(ANALYZE_MESSAGES, max_seconds=MAINTENANCE_TIMEOUT)
        return True

    async def _keep_statistics(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                if await self.refresh_statistics():
                    logger.info("PostgreSQL: ANALYZE messages, its statistics were stale")
            except errors.StorageUnavailable:
                pass  # translated() logged it; the next look tries again
            except Exception:
                logger.exception("PostgreSQL: the look at the statistics failed")

    # Waiting for posts: a trigger (migrations 0003, 0008) notifies the queue's channel at each
    # post to a queue some process watches.

    async def watch(self, project: str, queue: str, seconds: float) -> bool:
        return await self._watchers.watch((project, queue), seconds)

    async def newest_marker(self, project: str, queue: str) -> str | None:
        newest = (await self._fetch(NEWEST_MARKER, project, queue))[0]["newest"]
        return None if newest is None else str(newest)


def _channel(key: Key) -> str:
    """The channel migration 0003's trigger notifies for the queue ``key``."""
    project, queue = key
    return "t" + hashlib.md5(f"{project}/{queue}".encode(), usedforsecurity=False).hexdigest()


class _Notified:
    """The feed of posts for ``Watchers``: one connection per process, outside the pool,
    LISTENs to the channels of the queues someone waits on."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: Any = None
        self._keys: dict[str, Key] = {}
        self._lost: asyncio.Future[None] | None = None
        self._posted: Callable[[Key], None] = lambda key: None

    async def connect(self, posted: Callable[[Key], None]) -> None:
        self._posted = posted
        self._lost = asyncio.get_running_loop().create_future()
        with translated():
            self._connection = await asyncpg.connect(self._url, timeout=ACQUIRE_TIMEOUT)
        self._connection.add_termination_listener(self._terminated)

    async def listen(self, keys: Collection[Key]) -> None:
        for key in keys:
            self._keys[_channel(key)] = key
            with translated():
                async with asyncio.timeout(COMMAND_TIMEOUT):
                    await self._connection.execute(WATCH, *key)
                    await self._connection.add_listener(_channel(key), self._notified)

    async def unlisten(self, keys: Collection[Key]) -> None:
        for key in keys:
            self._keys.pop(_channel(key), None)
            with translated():
                async with asyncio.timeout(COMMAND_TIMEOUT):
                    await self._connection.remove_listener(_channel(key), self._notified)
                    await self._connection.execute(UNWATCH, *key)

    async def lost(self) -> None:
        assert self._lost is not None
        await self._lost

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        self._keys.clear()
        if connection is None:
            return
        try:
            await asyncio.wait_for(connection.close(), CLOSE_TIMEOUT)
        except (*UNAVAILABLE, asyncpg.PostgresError):
            connection.terminate()

    def _notified(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        key = self._keys.get(channel)
        if key is not None:
            self._posted(key)

    def _terminated(self, connection: Any) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
