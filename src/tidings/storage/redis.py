"""The Redis driver: ``redis://[:password@]host:port/db`` or a cluster,
``redis+cluster://[:password@]host:port,host:port,...``; ``rediss://`` and
``rediss+cluster://`` over TLS.

Every operation that touches more than one key is one Lua script (``redis_lua/``, each prefixed
with ``common.lua``), run with EVALSHA: atomic and one round trip. Key layout, ``P`` being the
percent-encoded project and ``Q`` the percent-encoded queue name (so ``/`` ``{`` ``}`` ``:``
never appear inside them and no two (project, queue) pairs share a key)::

    t:{P/Q}:q            hash   meta (JSON), seq (the FIFO counter)
    t:{P/Q}:ids          zset   message id by seq: every message, in post order
    t:{P/Q}:exp          zset   message id by expiry
    t:{P/Q}:free         zset   message id by seq: claimable unless expired
    t:{P/Q}:claimed      zset   message id by claim expiry
    t:{P/Q}:delayed      zset   message id by end of delay
    t:{P/Q}:claims       zset   claim id by expiry
    t:{P/Q}:m:<id>       hash   one message
    t:{P/Q}:c:<claim>    hash   one claim: created, expires, message ids
    t:{P/Q}:trash        set    purged generations not swept yet (t:{P/Q}:trash:<id>:ids ...)
    t:{P/Q}:ix           string outboxes only: '1' when in t:outboxes, else a gc token
    t:{P/Q}:subs         zset   subscription ids of source Q (all scores 0: sorted by id)
    t:{P/Q}:subexp       zset   subscription id by expiry
    t:{P/Q}:subu         hash   subscriber -> subscription id
    t:{P/Q}:s:<id>       hash   one subscription
    t:{P/Q}:v            hash   the version of the queue's post context (context.lua)
    t:{P}:queues         zset   the project's queue names (queue_list, queue_count, gc)
    t:{P}:internal       zset   the project's internal queue names, holding '#' (gc)
    t:projects           set    every project that has had a queue (gc)
    t:outboxes           set    P/Q of every outbox queue that may hold work (outboxes())
    t:subsources         set    P/Q of every source that may have subscriptions (gc)

A queue's keys share the hash tag ``{P/Q}``, so its scripts run on one Redis Cluster node. The
tag holds only the part of the queue name before its first '#': an internal queue ``Q#x`` has
the keys ``t:{P/Q}#x:...``, in the slot of ``Q``, so a post and its outbox are one script even
on a cluster. A ``queue:`` fan-out into an unrelated queue of a cluster is written by its own
script just before the post's: at least once (a post that fails after it leaves the copy),
not atomically. The indexes live in other slots; they are written before a queue is created
and removed after it is deleted, so a crash can leave a listed queue without data but never
data without a listed queue. The outbox set is guarded by each outbox's ``ix`` mark (see
``insert.lua``) and pruned by gc; subscription sources are added to their set before and
after each create and pruned by gc. Messages whose claim or delay ended move back to ``free``
lazily, at the next claim or pop, so claiming costs the same in a short queue and a long
one. A purge renames the queue's indexes into a trash generation (one step, any size), swept
later in batches.

Time is always the caller's ``now``: Redis never expires keys by itself; ``gc`` deletes expired
messages and claims. Failures to reach Redis become ``StorageUnavailable`` within DEADLINE
seconds; the client reconnects by itself on the next call.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import uuid
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import orjson
import redis.exceptions
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.connection import HiredisRespSerializer
from redis.crc import key_slot

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
    lifetime,
)
from tidings.storage.base import (
    AOD,
    CLAIMS,
    FIFO,
    HIGH_THROUGHPUT,
    OUTBOX_SUFFIX,
    Storage,
    is_internal_queue,
    sequence_of,
)
from tidings.storage.gathering import after_next_turn
from tidings.storage.known_contexts import KnownContexts, VersionedContext
from tidings.storage.url_options import only_parameters, pool_size
from tidings.storage.watch import Key, Watchers

T = TypeVar("T")
Client = Redis | RedisCluster
Row = list[bytes]
Batches = list[tuple[str, list[str | bytes]]]
"""Messages to insert, as ``(queue, rows)``: six strings a message (insert.lua)."""

LUA = Path(__file__).with_name("redis_lua")
SCRIPTS = (
    "create",
    "insert",
    "list",
    "get",
    "stats",
    "delete",
    "delete_many",
    "pop",
    "claim",
    "claim_get",
    "renew",
    "release",
    "purge",
    "set_metadata",
    "gc",
    "sweep",
    "outbox",
)
SUBSCRIPTION_SCRIPTS = (
    "sub_create",
    "sub_read",
    "sub_update",
    "sub_delete",
    "sub_gc",
    "post_context",
)
QUEUE_KEYS = ("q", "ids", "exp", "free", "claimed", "delayed", "claims", "trash")
PROJECTS = "t:projects"
OUTBOXES = "t:outboxes"
SUBSCRIPTION_SOURCES = "t:subsources"
ATTEMPTS = 5
"""Tries of a post whose outbox mark gc keeps changing (each try is one round trip)."""
TIMEOUT = 1.0
"""Seconds to connect, or to wait for a free connection, before the backend counts as
unavailable."""
DEADLINE = 1.5
"""Seconds one call may take in all, retries and cluster rediscovery included. Clients get no
socket timeout (redis-py's default is 5 s): with one, redis-py sends each command under
``asyncio.wait_for``, which on Python 3.11 loses a cancellation that comes as the send
completes, and a cancelled task (a push follower, the feed) would go on."""
SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster")
CONNECTIONS = 100
"""Connections per process to a single server; a call waits (up to TIMEOUT) for a free one, so
a burst of requests (a thousand long polls woken at once) queues instead of failing."""
CLUSTER_CONNECTIONS = 1000
"""Connections per process and cluster node: redis-py's cluster pools cannot make a call wait
for a free connection, so they must be large enough for bursts."""
BATCH = 1000
"""Keys that one gc or sweep script deletes at most, so no script holds Redis for long."""

OUTAGES = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterError,
    redis.exceptions.RedisClusterException,
    redis.exceptions.TryAgainError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.NoPermissionError,  # an ACL user that may not run the driver's commands
    TimeoutError,  # the DEADLINE
    OSError,
)
OUTAGE_REPLIES = (
    "BUSY",
    "LOADING",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "DB index is out of range",  # a database the server does not have (the URL's /N)
)
DELETE_REFUSALS: dict[bytes, type[errors.TidingsError]] = {
    b"IS_CLAIMED": errors.MessageIsClaimed,
    b"NOT_CLAIMED": errors.MessageNotClaimed,
    b"CLAIM_EXPIRED": errors.ClaimExpired,
}


@dataclass(frozen=True)
class Address:
    """Where the server (or the cluster's seed nodes) listens, and how to log in."""

    nodes: list[tuple[str, int]]
    cluster: bool = False
    db: int = 0
    username: str | None = None
    password: str | None = None
    pool_size: int = CONNECTIONS
    tls: bool = False
    ca_file: str | None = None
    """PEM certificates to trust for the server's TLS; None: the system's."""
    cert_file: str | None = None
    """The PEM certificate shown to a server that asks for the client's (``tls-auth-clients``),
    with its key unless ``key_file`` holds it."""
    key_file: str | None = None

    def tls_options(self) -> dict[str, Any]:
        """The TLS settings of a connection to the server (none without TLS): it checks the
        server's certificate and that it names the host, and shows the client's own if any."""
        if not self.tls:
            return {}
        return {
            "ssl_ca_certs": self.ca_file,
            "ssl_check_hostname": True,
            "ssl_certfile": self.cert_file,
            "ssl_keyfile": self.key_file,
        }

    def client_tls_options(self) -> dict[str, Any]:
        """``tls_options`` for a client that makes its own connections (a cluster's, the
        pub/sub one), which must also be told to use TLS at all."""
        return {"ssl": self.tls, **self.tls_options()}


def parse_url(url: str) -> Address:
    """``redis://[[user]:password@]host[:port][/db][?pool_size=N]`` or
    ``redis+cluster://[[user]:password@]host[:port],host[:port],...``; ``rediss://`` and
    ``rediss+cluster://`` are the same over TLS (``?ca_file=PATH``, and for a server that
    asks for the client's certificate ``&cert_file=PATH[&key_file=PATH]``)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(
            "Redis URLs start with redis://, rediss://, redis+cluster:// or rediss+cluster://"
        )
    login, _, hosts = parts.netloc.rpartition("@")
    user, _, password = login.partition(":")
    nodes = [_node(host) for host in hosts.split(",")]
    cluster = parts.scheme.endswith("+cluster")
    if len(nodes) > 1 and not cluster:
        raise ValueError("several hosts need a redis+cluster:// URL")
    db = parts.path.strip("/") or "0"
    if not db.isdigit() or (cluster and db != "0"):
        raise ValueError(f"invalid Redis database {db!r} (a cluster has only database 0)")
    query = parse_qsl(parts.query, keep_blank_values=True)
    tls = parts.scheme.startswith("rediss")
    parameters = _parameters(query, cluster, tls)
    return Address(
        nodes=nodes,
        cluster=cluster,
        db=int(db),
        username=unquote(user) or None,
        password=unquote(password) if login else None,
        pool_size=pool_size(query, CONNECTIONS),
        tls=tls,
        ca_file=parameters.get("ca_file"),
        cert_file=parameters.get("cert_file"),
        key_file=parameters.get("key_file"),
    )


TLS_PARAMETERS = ("ca_file", "cert_file", "key_file")


def _parameters(query: Sequence[tuple[str, str]], cluster: bool, tls: bool) -> dict[str, str]:
    """The query's parameters by name; ValueError for one the driver would otherwise ignore."""
    if cluster and any(name == "pool_size" for name, _ in query):
        raise ValueError(
            "Redis Cluster URLs take no pool_size: a cluster's pools cannot make a call wait"
            " for a free connection"
        )
    parameters = only_parameters(query, ("pool_size", *TLS_PARAMETERS), "Redis URLs")
    tls_only = sorted(parameters.keys() & set(TLS_PARAMETERS))
    if tls_only and not tls:
        verb = "is" if len(tls_only) == 1 else "are"
        raise ValueError(
            f"{' and '.join(tls_only)} {verb} for TLS: use a rediss:// or rediss+cluster:// URL"
        )
    if "key_file" in parameters and "cert_file" not in parameters:
        raise ValueError("key_file is the key of cert_file: give cert_file too")
    return parameters


def _node(text: str) -> tuple[str, int]:
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = text.partition(":")
    port = port or "6379"
    if not host or not port.isdigit():
        raise ValueError(f"invalid Redis host {text!r}; expected host:port")
    return host, int(port)


def from_url(url: str) -> RedisStorage:
    return RedisStorage(parse_url(url))


def _escape(text: str) -> str:
    return quote(text, safe="")


def _number(value: float) -> str:
    """Exact text for a float: Redis and Lua read it back to the same double."""
    return repr(float(value))


def _project_index(project: str, queue: str = "") -> str:
    """The index of the project's queues that users see, or the one of its internal queues."""
    kind = "internal" if is_internal_queue(queue) else "queues"
    return f"t:{{{_escape(project)}}}:{kind}"


def _member(project: str, queue: str) -> str:
    """A (project, queue) pair as a member of a global set."""
    return f"{_escape(project)}/{_escape(queue)}"


def _pair(member: bytes | str) -> tuple[str, str]:
    project, _, queue = _text(member).partition("/")
    return unquote(project), unquote(queue)


class _Keys:
    """The keys of one queue, all under the hash tag of its project and the part of its name
    before the first '#'. Made once per queue by ``_queue_keys``."""

    __slots__ = ("keys", "prefix", "subscriptions")

    def __init__(self, project: str, queue: str) -> None:
        base, internal, rest = queue.partition("#")
        tail = f"#{_escape(rest)}" if internal else ""
        self.prefix = f"t:{{{_escape(project)}/{_escape(base)}}}{tail}:"
        self.keys = tuple(self.prefix + name for name in QUEUE_KEYS)
        self.subscriptions = tuple(self.prefix + name for name in ("subs", "subexp", "subu"))

    @property
    def queue(self) -> str:
        return self.keys[0]


KEYS_REMEMBERED = 4096
"""Queues whose key names a process keeps made (escaping names costs more than a lookup)."""
_queue_keys = functools.lru_cache(maxsize=KEYS_REMEMBERED)(_Keys)


def _subscription(source: str, row: Row) -> Subscription:
    sid, subscriber, created, expires, options, confirmed, secret, ttl = row
    return Subscription(
        id=sid.decode(),
        source=source,
        subscriber=subscriber.decode(),
        created=float(created),
        expires=float(expires),
        ttl=lifetime(float(created), float(expires)) if ttl is None else int(ttl),
        options=orjson.loads(options),
        confirmed=confirmed == b"1",
        secret=secret.decode(),
    )


def _batches(queue: str, post: PreparedPost, now: float) -> Batches:
    """The post's messages, and its fan-out, as ``(queue, rows)`` to insert."""
    batches = [(queue, post.messages), *((target, batch) for target, batch in post.outbox if batch)]
    return [(target, _rows(batch, now)) for target, batch in batches]


def _given(value: str | bytes | None) -> str | bytes:
    """An optional script argument: '' for None, else '=' and the value."""
    if value is None:
        return ""
    return b"=" + value if isinstance(value, bytes) else "=" + value


def _message(row: Row) -> Message:
    message_id, _, body, created, expires, visible, client, claim_id, claim_expires, count = row
    return Message(
        id=message_id.decode(),
        body=orjson.loads(body),
        created=float(created),
        expires=float(expires),
        visible_at=float(visible),
        client_id=client.decode(),
        claim_id=claim_id.decode() or None,
        claim_expires=float(claim_expires),
        claim_count=int(count),
    )


def _rows(messages: Sequence[NewMessage], now: float) -> list[str | bytes]:
    """Six strings a message, as insert.lua reads them."""

    # A batch's messages mostly share their TTL and delay, and a float's exact text is not
    # cheap to write: each moment is written once
    @functools.cache
    def after(seconds: float) -> str:
        return _number(now + seconds)

    rows: list[str | bytes] = []
    for message in messages:
        rows += [
            message.id,
            orjson.dumps(message.body),
            after(0),
            after(message.ttl),
            after(message.delay),
            message.client_id,
        ]
    return rows


def _in_order(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda row: int(row[1]))


def _messages(rows: list[Row]) -> list[Message]:
    return [_message(row) for row in _in_order(rows)]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _flag(value: bool) -> str:
    return "1" if value else "0"


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Turn the client's failures to reach Redis into StorageUnavailable."""
    try:
        yield
    except OUTAGES as exc:
        reason = str(exc).rstrip(".") or "no answer in time"
        raise errors.StorageUnavailable(f"Redis: {reason}. Please try again.") from exc
    except redis.exceptions.ResponseError as exc:
        if not str(exc).startswith(OUTAGE_REPLIES):
            raise
        raise errors.StorageUnavailable(f"Redis: {exc}. Please try again.") from exc


class _PacksInC:
    """Packs a connection's commands with hiredis, in C, as redis-py's own synchronous client
    does; its asyncio connection packs them in Python, which took a sixth of a worker's time
    under ``post-10`` (a script call carries six arguments a message)."""

    _serializer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = self._serializer.pack(*args)
        return packed


class _PackedInC(_PacksInC, Connection):
    pass


class _PackedInCOverTls(_PacksInC, SSLConnection):
    pass


def _connect(address: Address) -> Client:
    # One quick retry on a broken connection (a restarted server), none on a timeout, so an
    # outage answers within about TIMEOUT seconds.
    retry = Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,))
    if address.cluster:
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
            username=address.username,
            password=address.password,
            socket_timeout=None,  # see DEADLINE
            socket_connect_timeout=TIMEOUT,
            retry=retry,
            max_connections=CLUSTER_CONNECTIONS,
            **address.client_tls_options(),
        )
    [(host, port)] = address.nodes
    pool = BlockingConnectionPool(
        max_connections=address.pool_size,
        timeout=TIMEOUT,
        host=host,
        port=port,
        db=address.db,
        username=address.username,
        password=address.password,
        socket_timeout=None,  # see DEADLINE
        socket_connect_timeout=TIMEOUT,
        retry=retry,
        connection_class=_PackedInCOverTls if address.tls else _PackedInC,
        **address.tls_options(),
    )
    return Redis.from_pool(pool)  # closing the client closes the pool


_ScriptCall = tuple[AsyncScript, Sequence[str], list[str | bytes], asyncio.Future[Any]]
"""A script, its keys, its arguments and the future its answer goes to."""


class _Together:
    """Script calls made during two turns of the event loop (``gathering``) go to one
    server together: one pipeline, one connection taken from the pool, one write and one
    read for all of them.

    redis-py's machinery around a single command (the pool, the retry wrapper, a write and a
    read of its own) cost more CPU than the command; concurrent requests now share it. Each
    call still gets its own reply or error; a script the server lost (a restart) is loaded
    and run again on its own. Each is answered within DEADLINE, so its caller sets no timeout
    of its own (an ``asyncio.timeout`` costs 5 µs).
    """

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._waiting: list[_ScriptCall]
        self._waiting = []
        self._sending: set[asyncio.Task[None]] = set()

    def call(
        self, script: AsyncScript, keys: Sequence[str], args: list[str | bytes]
    ) -> Awaitable[Any]:
        loop = asyncio.get_running_loop()
        reply = loop.create_future()
        self._waiting.append((script, keys, args, reply))
        if len(self._waiting) == 1:
            after_next_turn(loop, self._send)
        return reply

    def _send(self) -> None:
        calls, self._waiting = self._waiting, []
        self._start(self._run(calls))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _run(self, calls: list[_ScriptCall]) -> None:
        replies = await self._replies(calls)
        for (script, keys, args, reply), answer in zip(calls, replies, strict=True):
            if isinstance(answer, redis.exceptions.NoScriptError):
                self._start(self._again(script, keys, args, reply))
            elif not reply.done():
                if isinstance(answer, BaseException):
                    reply.set_exception(answer)
                else:
                    reply.set_result(answer)

    async def _replies(self, calls: list[_ScriptCall]) -> list[Any]:
        """Each call's reply or error, within DEADLINE."""
        try:
            async with asyncio.timeout(DEADLINE):
                pipeline = self._client.pipeline(transaction=False)
                for script, keys, args, _ in calls:
                    pipeline.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
                replies: list[Any] = await pipeline.execute(raise_on_error=False)
                return replies
        except Exception as exc:  # no answer at all: every call of the batch failed alike
            return [exc] * len(calls)

    async def _again(
        self,
        script: AsyncScript,
        keys: Sequence[str],
        args: list[str | bytes],
        reply: asyncio.Future[Any],
    ) -> None:
        try:
            async with asyncio.timeout(DEADLINE):
                answer = await script(keys=keys, args=args)
        except Exception as exc:
            if not reply.done():
                reply.set_exception(exc)
            return
        if not reply.done():
            reply.set_result(answer)


class RedisStorage(Storage):
    capabilities = frozenset({FIFO, CLAIMS, AOD, HIGH_THROUGHPUT})

    def __init__(self, address: Address) -> None:
        self.address = address
        self._watchers = Watchers(_Published(address))
        self._redis: Client | None = None
        self._together: _Together | None = None
        """Single servers only: a cluster pipeline splits by slot and loads scripts again."""
        self._scripts: dict[str, AsyncScript] = {}
        self._contexts = KnownContexts()

    # Plumbing

    @property
    def _client(self) -> Client:
        if self._redis is None:
            raise errors.StorageUnavailable("The Redis store is closed.")
        return self._redis

    async def _call(self, awaitable: Awaitable[T]) -> T:
        with _translated():
            async with asyncio.timeout(DEADLINE):
                return await awaitable

    async def _eval(self, name: str, keys: _Keys, now: float, *args: str | bytes) -> Any:
        return await self._script(name, keys.keys, keys.prefix, _number(now), *args)

    async def _script(self, name: str, keys: Sequence[str], *args: str | bytes) -> Any:
        script = self._scripts[name]
        if self._together is None:
            return await self._call(script(keys=keys, args=list(args)))
        with _translated():
            return await self._together.call(script, keys, list(args))

    async def _index(self, project: str, queue: str) -> None:
        client = self._client
        await self._call(
            asyncio.gather(
                client.sadd(PROJECTS, project),
                client.zadd(_project_index(project, queue), {queue: 0}),
            )
        )

    async def _creating(self, project: str, queue: str, write: Callable[[], Awaitable[T]]) -> T:
        """Write a queue that may be new: indexed first, so a crash leaves no unlisted data,
        and indexed again after, in case a concurrent delete unindexed it in between."""
        await self._index(project, queue)
        result = await write()
        await self._index(project, queue)
        return result

    async def _insert(self, project: str, batches: Batches, now: float, context: str = "") -> bool:
        """Write ``(queue, rows)`` batches in one script; on a cluster, one script per slot,
        the one holding the first queue last. Rows: six strings a message (insert.lua).
        ``context``: '' or '=' and the version of the first queue's post context the rows were
        made with; False when that version has moved, and nothing written in its slot."""
        first, *others = self._by_slot(project, batches)
        for group in others:
            await self._insert_group(project, group, now)
        return await self._insert_group(project, first, now, context)

    def _by_slot(self, project: str, batches: Batches) -> list[Batches]:
        if not self.address.cluster:
            return [batches]
        groups: dict[int, Batches] = {}
        for queue, rows in batches:
            groups.setdefault(key_slot(_queue_keys(project, queue).queue.encode()), []).append(
                (queue, rows)
            )
        return list(groups.values())

    async def _insert_group(
        self, project: str, batches: Batches, now: float, context: str = ""
    ) -> bool:
        queues = [_queue_keys(project, queue) for queue, _ in batches]
        guards = ["=1" if queue.endswith(OUTBOX_SUFFIX) else "" for queue, _ in batches]
        keys = list(itertools.chain.from_iterable(queue.keys for queue in queues))
        create = "0"
        for _ in range(ATTEMPTS):
            args: list[str | bytes] = [queues[0].prefix, _number(now), create, context]
            for queue, guard, (_, rows) in zip(queues, guards, batches, strict=True):
                args += [queue.prefix, guard, str(len(rows) // 6), *rows]
            answer = await self._script("insert", keys, *args)
            if answer == b"OK":
                if create == "1":  # indexed again, in case a delete unindexed it meanwhile
                    await self._index_all(project, batches)
                return True
            if answer == b"STALE":
                return False
            if answer == b"NOQUEUE":
                await self._index_all(project, batches)
                create = "1"
                continue
            _, number, mark = answer
            await self._call(self._client.sadd(OUTBOXES, _member(project, batches[number - 1][0])))
            guards[number - 1] = "=" + _text(mark)
        raise errors.StorageUnavailable("Redis: the outbox index kept changing. Please try again.")

    async def _index_all(self, project: str, batches: Batches) -> None:
        await asyncio.gather(*(self._index(project, queue) for queue, _ in batches))

    async def open(self) -> None:
        self._redis = _connect(self.address)
        sources = {name: (LUA / f"{name}.lua").read_text() for name in SCRIPTS}
        context = (LUA / "context.lua").read_text()
        common = context + (LUA / "common.lua").read_text()
        self._scripts = {
            name: self._redis.register_script(common + source) for name, source in sources.items()
        }
        common = context + (LUA / "sub_common.lua").read_text()
        for name in SUBSCRIPTION_SCRIPTS:
            source = (LUA / f"{name}.lua").read_text()
            self._scripts[name] = self._redis.register_script(common + source)
        await self._call(self._redis.ping())
        if isinstance(self._redis, Redis):
            self._together = _Together(self._redis)

    async def close(self) -> None:
        await self._watchers.close()
        self._together = None
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    async def is_alive(self) -> bool:
        try:
            return bool(await self._call(self._client.ping()))
        except errors.StorageUnavailable:
            return False

    # Queues

    async def queue_create(
        self, project: str, name: str, metadata: dict[str, JSON], now: float
    ) -> bool:
        keys = _queue_keys(project, name)

        async def create() -> bool:
            return bool(await self._eval("create", keys, now, orjson.dumps(metadata)))

        return await self._creating(project, name, create)

    async def queue_get_metadata(self, project: str, name: str) -> dict[str, JSON] | None:
        stored = await self._call(self._client.hget(_queue_keys(project, name).queue, "meta"))
        return None if stored is None else dict(orjson.loads(stored))

    async def queue_set_metadata(self, project: str, name: str, metadata: dict[str, JSON]) -> None:
        keys = _queue_keys(project, name)
        if not await self._eval("set_metadata", keys, 0, orjson.dumps(metadata)):
            raise errors.QueueNotFound()

    async def queue_list(self, project: str, marker: str | None, limit: int) -> list[QueueRecord]:
        records: list[QueueRecord] = []
        after = f"({marker}" if marker else "-"
        while len(records) < limit:
            page = self._client.zrangebylex(
                _project_index(project), after, "+", start=0, num=limit - len(records)
            )
            names = [_text(name) for name in await self._call(page)]
            if not names:
                break
            records += await self._records(project, names)
            after = f"({names[-1]}"
        return records

    async def _records(self, project: str, names: list[str]) -> list[QueueRecord]:
        """The queues among ``names`` that exist (a crash in a delete may leave a name)."""
        client = self._client
        stored = await self._call(
            asyncio.gather(
                *(client.hget(_queue_keys(project, name).queue, "meta") for name in names)
            )
        )
        return [
            QueueRecord(name, orjson.loads(meta))
            for name, meta in zip(names, stored, strict=True)
            if meta is not None
        ]

    async def queue_count(self, project: str) -> int:
        return int(await self._call(self._client.zcard(_project_index(project))))

    async def queue_delete(self, project: str, name: str) -> None:
        keys = _queue_keys(project, name)
        await self._eval("purge", keys, 0, "1", str(uuid.uuid4()))
        await self._sweep(keys)
        await self._unindex(project, name)

    async def _unindex(self, project: str, name: str) -> None:
        """Drop a deleted queue from the project's index, unless a create that raced with the
        delete wrote it again meanwhile."""
        await self._call(self._client.zrem(_project_index(project, name), name))
        if await self._call(self._client.exists(_queue_keys(project, name).queue)):
            await self._index(project, name)

    async def _sweep(self, keys: _Keys) -> None:
        """Delete what purges left in the queue's trash, a batch at a time."""
        while int(await self._eval("sweep", keys, 0, str(BATCH))) >= BATCH:
            pass

    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        reply = await self._eval("stats", _queue_keys(project, name), now)
        if int(reply[0]) == 0:
            return QueueStats()
        total, claimed, delayed, oldest, newest = reply
        return QueueStats(
            claimed=int(claimed),
            delayed=int(delayed),
            total=int(total),
            oldest=_message(oldest),
            newest=_message(newest),
        )

    async def queue_purge(self, project: str, name: str) -> None:
        keys = _queue_keys(project, name)
        await self._eval("purge", keys, 0, "0", str(uuid.uuid4()))
        await self._sweep(keys)

    # Messages

    async def messages_post(
        self,
        project: str,
        queue: str,
        messages: Sequence[NewMessage],
        now: float,
        outbox: Sequence[tuple[str, Sequence[NewMessage]]] = (),
    ) -> list[str]:
        await self._insert(project, _batches(queue, PreparedPost(messages, outbox), now), now)
        return [message.id for message in messages]

    async def messages_post_in_context(
        self, project: str, queue: str, now: float, prepare: PreparePost
    ) -> list[str]:
        """One round trip while the queue's context is the one this process kept: the insert
        names its version (``context.lua``), see ``KnownContexts``. On a cluster, a post whose
        fan-out goes to other slots writes those first: such a post is written only with a
        context read for it, and checks no version."""

        async def write(post: PreparedPost, version: str, fresh: bool) -> bool:
            batches = _batches(queue, post, now)
            if len(self._by_slot(project, batches)) == 1:
                return await self._insert(project, batches, now, f"={version}")
            return fresh and await self._insert(project, batches, now)

        read = functools.partial(self._read_context, project, queue, now)
        post = await self._contexts.post(project, queue, now, prepare, read, write)
        return [message.id for message in post.messages]

    async def messages_list(
        self, project: str, queue: str, query: MessageFilter, now: float
    ) -> tuple[list[Message], str | None]:
        rows = await self._eval(
            "list",
            _queue_keys(project, queue),
            now,
            str(sequence_of(query.marker)),
            str(query.limit),
            query.client_id,
            _flag(query.echo),
            _flag(query.include_claimed),
            _flag(query.include_delayed),
        )
        marker = rows[-1][1].decode() if rows else None
        return _messages(rows), marker

    async def messages_get(
        self, project: str, queue: str, ids: Sequence[str], now: float
    ) -> list[Message]:
        return _messages(await self._rows(project, queue, ids, now))

    async def _rows(self, project: str, queue: str, ids: Sequence[str], now: float) -> list[Row]:
        if not ids:
            return []
        return _in_order(await self._eval("get", _queue_keys(project, queue), now, *ids))

    async def message_delete(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> None:
        keys = _queue_keys(project, queue)
        answer = await self._eval("delete", keys, now, message_id, claim_id or "")
        refusal = DELETE_REFUSALS.get(answer)
        if refusal is not None:
            raise refusal()

    async def messages_delete(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        claim_ids: Sequence[str] | None,
        now: float,
    ) -> None:
        if not ids or claim_ids == []:
            return
        claims = list(claim_ids or ())
        await self._eval(
            "delete_many", _queue_keys(project, queue), now, str(len(claims)), *claims, *ids
        )

    async def messages_pop(self, project: str, queue: str, limit: int, now: float) -> list[Message]:
        return _messages(await self._eval("pop", _queue_keys(project, queue), now, str(limit)))

    async def messages_move(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        target: str,
        ttl: int | None,
        now: float,
    ) -> None:
        """Copy into the target first, then delete from the source (two slots, so two steps):
        a crash in between leaves the messages in both queues, never in neither. Moving into
        the same queue changes nothing."""
        if target == queue:
            return
        rows = await self._rows(project, queue, ids, now)
        copies: list[str | bytes] = []
        for message_id, _, body, created, expires, visible, client, *_ in rows:
            life = expires if ttl is None else _number(now + ttl).encode()
            copies += [message_id, body, created, life, visible, client]
        await self._insert(project, [(target, copies)], now)
        if rows:
            moved = [row[0] for row in rows]
            await self._eval("delete_many", _queue_keys(project, queue), now, "0", *moved)

    # Claims

    async def claim_create(
        self, project: str, queue: str, ttl: int, grace: int, limit: int, now: float
    ) -> Claim | None:
        claim_id = unique_id()
        expires = now + ttl
        rows = await self._eval(
            "claim",
            _queue_keys(project, queue),
            now,
            claim_id,
            _number(expires),
            _number(expires + grace),
            str(limit),
        )
        if not rows:
            return None
        return Claim(claim_id, queue, now, expires, _messages(rows))

    async def claim_get(self, project: str, queue: str, claim_id: str, now: float) -> Claim | None:
        reply = await self._eval("claim_get", _queue_keys(project, queue), now, claim_id)
        if reply is None:
            return None
        created, expires, rows = reply
        return Claim(claim_id, queue, float(created), float(expires), _messages(rows))

    async def claim_renew(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        expires = now + ttl
        renewed = await self._eval(
            "renew",
            _queue_keys(project, queue),
            now,
            claim_id,
            _number(expires),
            _number(expires + grace),
        )
        return bool(renewed)

    async def claim_release(self, project: str, queue: str, claim_id: str) -> None:
        await self._eval("release", _queue_keys(project, queue), 0, claim_id)

    # The outbox

    async def outboxes(self, now: float) -> list[tuple[str, str]]:
        with _translated():
            pairs = [_pair(member) async for member in self._client.sscan_iter(OUTBOXES)]
        ready = await asyncio.gather(
            *(
                self._eval("outbox", _queue_keys(project, queue), now, "ready")
                for project, queue in pairs
            )
        )
        return [pair for pair, answer in zip(pairs, ready, strict=True) if answer]

    # Subscriptions

    async def _subscriptions(
        self, name: str, project: str, source: str, now: float, *args: str | bytes
    ) -> Any:
        keys = _queue_keys(project, source)
        return await self._script(name, keys.subscriptions, keys.prefix, _number(now), *args)

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
        # Indexed before (a crash leaves no unindexed subscription) and after (gc may have
        # pruned the source meanwhile).
        member = _member(project, source)
        await self._call(self._client.sadd(SUBSCRIPTION_SOURCES, member))
        args = (str(uuid.uuid4()), subscriber, _number(now), _number(now + ttl))
        created, row = await self._subscriptions(
            "sub_create", project, source, now, *args, orjson.dumps(options), secret, str(ttl)
        )
        await self._call(self._client.sadd(SUBSCRIPTION_SOURCES, member))
        return _subscription(source, row), bool(created)

    async def subscription_get(
        self, project: str, source: str, subscription_id: str, now: float
    ) -> Subscription | None:
        row = await self._subscriptions("sub_read", project, source, now, "get", subscription_id)
        return None if row is None else _subscription(source, row)

    async def subscription_list(
        self, project: str, source: str, marker: str | None, limit: int, now: float
    ) -> list[Subscription]:
        rows = await self._subscriptions(
            "sub_read", project, source, now, "list", marker or "", str(limit)
        )
        return [_subscription(source, row) for row in rows]

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
        expires = None if ttl is None else _number(now + ttl)
        encoded = None if options is None else orjson.dumps(options)
        given_ttl = None if ttl is None else str(ttl)
        changes = (_given(subscriber), _given(expires), _given(encoded), "", _given(given_ttl))
        return await self._update(project, source, subscription_id, now, changes)

    async def _update(
        self,
        project: str,
        source: str,
        subscription_id: str,
        now: float,
        changes: tuple[str | bytes, ...],
    ) -> Subscription | None:
        answer = await self._subscriptions(
            "sub_update", project, source, now, subscription_id, *changes
        )
        if answer == b"CONFLICT":
            raise errors.Conflict("Such subscription already exists.")
        return None if answer is None else _subscription(source, answer)

    async def subscription_confirm(
        self, project: str, source: str, subscription_id: str, confirmed: bool, now: float
    ) -> Subscription | None:
        changes = ("", "", "", _given(_flag(confirmed)), "")
        return await self._update(project, source, subscription_id, now, changes)

    async def subscription_delete(self, project: str, source: str, subscription_id: str) -> None:
        await self._subscriptions("sub_delete", project, source, 0, subscription_id)

    async def subscriptions_purge(self, project: str, source: str) -> None:
        await self._subscriptions("sub_delete", project, source, 0, "")

    async def subscribers(self, project: str, source: str, now: float) -> list[Subscription]:
        rows = await self._subscriptions("sub_read", project, source, now, "list", "", "1e9")
        return [_subscription(source, row) for row in rows]

    async def post_context(self, project: str, queue: str, now: float) -> PostContext:
        return (await self._read_context(project, queue, now)).context

    async def _read_context(self, project: str, queue: str, now: float) -> VersionedContext:
        """The queue's post context with its version."""
        keys = _queue_keys(project, queue)
        metadata, rows, version = await self._script(
            "post_context", [*keys.subscriptions, keys.queue], keys.prefix, _number(now)
        )
        context = PostContext(
            None if metadata is None else dict(orjson.loads(metadata)),
            [_subscription(queue, row) for row in rows],
        )
        return VersionedContext(context, _text(version))

    # Housekeeping

    async def gc(self, now: float) -> int:
        removed = 0
        with _translated():
            projects = [_text(member) async for member in self._client.sscan_iter(PROJECTS)]
        for project in projects:
            for index in (_project_index(project), _project_index(project, "#")):
                with _translated():
                    queues = [_text(q) async for q, _ in self._client.zscan_iter(index)]
                for queue in queues:
                    removed += await self._gc_queue(project, queue, now)
        with _translated():
            sources = [_pair(m) async for m in self._client.sscan_iter(SUBSCRIPTION_SOURCES)]
        for project, source in sources:
            removed += await self._gc_subscriptions(project, source, now)
        return removed

    async def _gc_queue(self, project: str, queue: str, now: float) -> int:
        keys = _queue_keys(project, queue)
        await self._sweep(keys)
        removed = 0
        while True:
            messages, claims, gone = map(int, await self._eval("gc", keys, now, str(BATCH)))
            removed += messages + claims
            if max(messages, claims) < BATCH:
                break
        if queue.endswith(OUTBOX_SUFFIX):
            await self._prune_outbox(project, queue)
        if gone:  # a name left in the index by a delete that crashed
            await self._unindex(project, queue)
        return removed

    async def _prune_outbox(self, project: str, queue: str) -> None:
        """Take an empty outbox out of the outbox set (see insert.lua for the protocol)."""
        keys, token = _queue_keys(project, queue), str(uuid.uuid4())
        member = _member(project, queue)
        step = await self._eval("outbox", keys, 0, "mark", token)
        if step == b"MARKED":
            await self._call(self._client.srem(OUTBOXES, member))
            if await self._eval("outbox", keys, 0, "settle", token, str(uuid.uuid4())):
                return
        if step in (b"MARKED", b"BUSY"):
            await self._call(self._client.sadd(OUTBOXES, member))

    async def _gc_subscriptions(self, project: str, source: str, now: float) -> int:
        removed = 0
        while True:
            expired, left = map(
                int, await self._subscriptions("sub_gc", project, source, now, str(BATCH))
            )
            removed += expired
            if expired < BATCH:
                break
        if left == 0:  # pruned, then added back if a create came in between
            member = _member(project, source)
            await self._call(self._client.srem(SUBSCRIPTION_SOURCES, member))
            keys = _queue_keys(project, source).subscriptions
            if await self._call(self._client.zcard(keys[0])):
                await self._call(self._client.sadd(SUBSCRIPTION_SOURCES, member))
        return removed

    # Waiting for posts: insert.lua publishes on the queue's channel with every post.

    async def watch(self, project: str, queue: str, seconds: float) -> bool:
        return await self._watchers.watch((project, queue), seconds)

    async def newest_marker(self, project: str, queue: str) -> str | None:
        seq = await self._call(self._client.hget(_queue_keys(project, queue).queue, "seq"))
        return None if seq is None else _text(seq)


def _channel(key: Key) -> bytes:
    """Where insert.lua announces posts to the queue ``key``."""
    return (_queue_keys(*key).prefix + "posted").encode()


class _Published:
    """The feed of posts for ``Watchers``: one pub/sub connection per process, subscribed to
    the channels of the queues someone waits on. On a cluster PUBLISH reaches every node, so
    the connection goes to any node (the next one after each failure). Channels are the same
    in every database number of a server: two deployments sharing a server (not a database)
    wake each other's waiters for nothing, which costs a look, never a missed post."""

    def __init__(self, address: Address) -> None:
        self._address = address
        self._attempts = 0
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._keys: dict[bytes, Key] = {}
        self._confirming: dict[bytes, collections.deque[asyncio.Future[None]]] = {}
        self._posted: Callable[[Key], None] = lambda key: None

    async def connect(self, posted: Callable[[Key], None]) -> None:
        self._posted = posted
        nodes = self._address.nodes
        host, port = nodes[self._attempts % len(nodes)]
        self._attempts += 1
        self._client = Redis(
            host=host,
            port=port,
            username=self._address.username,
            password=self._address.password,
            socket_timeout=None,  # see DEADLINE
            socket_connect_timeout=TIMEOUT,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
            **self._address.client_tls_options(),
        )
        self._pubsub = self._client.pubsub()
        with _translated():
            async with asyncio.timeout(DEADLINE):
                await self._pubsub.ping()  # connects; the reader meets the PONG and skips it
        self._reader = asyncio.create_task(self._read(self._pubsub), name="tidings-redis-feed")

    async def listen(self, keys: Collection[Key]) -> None:
        assert self._pubsub is not None
        loop = asyncio.get_running_loop()
        confirmed = []
        for key in keys:
            channel = _channel(key)
            self._keys[channel] = key
            confirmed.append(loop.create_future())
            self._confirming.setdefault(channel, collections.deque()).append(confirmed[-1])
        with _translated():
            await self._pubsub.subscribe(*(_channel(key) for key in keys))
            async with asyncio.timeout(DEADLINE):
                await asyncio.gather(*confirmed)

    async def unlisten(self, keys: Collection[Key]) -> None:
        assert self._pubsub is not None
        channels = [_channel(key) for key in keys]
        for channel in channels:
            self._keys.pop(channel, None)
        with _translated():
            await self._pubsub.unsubscribe(*channels)

    async def lost(self) -> None:
        assert self._reader is not None
        await self._reader

    async def close(self) -> None:
        reader, pubsub, client = self._reader, self._pubsub, self._client
        self._reader = self._pubsub = self._client = None
        self._keys.clear()
        self._confirming.clear()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, errors.StorageUnavailable):
                await reader
        with contextlib.suppress(*OUTAGES):
            if pubsub is not None:
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it bare
            if client is not None:
                await client.aclose()

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            with _translated():
                message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            channel = message["channel"]
            if message["type"] == "message" and channel in self._keys:
                self._posted(self._keys[channel])
            elif message["type"] == "subscribe" and self._confirming.get(channel):
                self._confirming[channel].popleft().set_result(None)
