"""The Swift driver beyond the shared contract: URLs, Keystone auth, what Swift itself sees
(X-Delete-At, expired objects it has not removed yet), consumers in several processes racing
for the same messages, half-written posts, leftover claim locks and an unreachable Swift."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.messages import PRODUCER, new
from tests.servers.swift import HOST, USER, SwiftServers, free_port
from tidings import errors
from tidings.models import MessageFilter, Pool
from tidings.storage import swift, swift_catalog
from tidings.storage.base import storage_from_url
from tidings.storage.swift_client import SwiftClient, SwiftConfig, keystone, parse_url

PROJECT = "project-a"
QUEUE = "fizbit"
EVERYTHING = MessageFilter(PRODUCER, echo=True, include_claimed=True, include_delayed=True)


@pytest.fixture
async def storage(swift_url: str) -> AsyncIterator[swift.SwiftStorage]:
    driver = swift.from_url(swift_url)
    await driver.open()
    try:
        yield driver
    finally:
        await driver.close()


@pytest.fixture
async def raw(swift_url: str) -> AsyncIterator[SwiftClient]:
    """Swift's HTTP API on the store's account, beside the driver."""
    client = SwiftClient(parse_url(swift_url))
    await client.open()
    try:
        yield client
    finally:
        await client.close()


# URLs and authentication


def test_a_tempauth_url_names_the_auth_endpoint_and_the_user() -> None:
    driver = storage_from_url("swift://test%3Atester:s%40cret@swift.example:8080/auth/v1.0")

    assert isinstance(driver, swift.SwiftStorage)
    config = driver.config
    assert (config.auth_url, config.user, config.key) == (
        "http://swift.example:8080/auth/v1.0",
        "test:tester",
        "s@cret",
    )
    assert (config.keystone, config.prefix) == (False, "tidings")


def test_a_keystone_url_names_the_project_and_domains() -> None:
    config = parse_url(
        "swift+keystone://alice:pw@keystone.example:5000/v3"
        "?project=demo&domain=corp&project_domain=ops&region=R2&tls=true&prefix=q1&timeout=2"
    )

    assert config == SwiftConfig(
        auth_url="https://keystone.example:5000/v3",
        user="alice",
        key="pw",
        keystone=True,
        project="demo",
        user_domain="corp",
        project_domain="ops",
        region="R2",
        prefix="q1",
        timeout=2.0,
    )


@pytest.mark.parametrize(
    "url",
    [
        "swift://swift.example:8080/auth/v1.0",
        "swift+keystone://alice:pw@keystone.example:5000/v3",
        "swift://u:k@swift.example/auth/v1.0?prefix=has:colon",
    ],
)
def test_incomplete_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)swift"):
        swift.from_url(url)


KEYSTONE = "swift+keystone://alice:pw@keystone.example:5000/v3?project=demo"
TEMPAUTH = "swift://u:k@swift.example/auth/v1.0?prefix=q1"


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        (
            f"{TEMPAUTH}&project=demo",
            "swift:// URLs take no parameter but prefix, tls and timeout; got project",
        ),
        (
            f"{KEYSTONE}&tls=true&timout=9",
            "swift\\+keystone:// URLs take no parameter but prefix, tls, timeout, project,"
            " domain, user_domain, project_domain, region and interface; got timout",
        ),
        (f"{TEMPAUTH}&prefix=q2", "prefix must be given once"),
        (f"{KEYSTONE}&region=R1&project=ops&region=R1", "project and region must be given once"),
        (f"{KEYSTONE}&region=", "region is empty: give it a value or leave it out"),
        (f"{TEMPAUTH}&tls=ture", "tls is true or false; got 'ture'"),
        (f"{TEMPAUTH}&timeout=five", "timeout is seconds, a number above 0; got 'five'"),
        (f"{TEMPAUTH}&timeout=0", "timeout is seconds, a number above 0; got '0'"),
        (f"{TEMPAUTH}&timeout=-1", "timeout is seconds, a number above 0; got '-1'"),
        (f"{TEMPAUTH}&timeout=nan", "timeout is seconds, a number above 0; got 'nan'"),
        (f"{TEMPAUTH}&timeout=inf", "timeout is seconds, a number above 0; got 'inf'"),
        (
            f"{KEYSTONE}&interface=private",
            "interface is one of public, internal, admin; got 'private'",
        ),
    ],
)
def test_an_option_the_driver_cannot_use_is_refused_by_name(url: str, refusal: str) -> None:
    with pytest.raises(ValueError, match=f"^{refusal}$"):
        swift.from_url(url)


@pytest.mark.parametrize(
    ("text", "tls"), [("TRUE", True), ("yes", True), ("0", False), ("no", False)]
)
def test_tls_is_a_yes_or_a_no(text: str, tls: bool) -> None:
    scheme = "https" if tls else "http"
    assert parse_url(f"{TEMPAUTH}&tls={text}").auth_url.startswith(f"{scheme}://")


def test_the_endpoint_interface_may_be_internal() -> None:
    assert parse_url(f"{KEYSTONE}&interface=internal").interface == "internal"


def test_the_driver_declares_no_fifo() -> None:
    driver = swift.from_url("swift://u:k@swift.example/auth/v1.0")

    assert driver.capabilities == {"CLAIMS", "DURABILITY", "AOD"}


async def test_keystone_auth_scopes_a_token_and_finds_the_object_store() -> None:
    # Given a Keystone that answers a password auth with a token and a catalog
    seen: list[dict[str, object]] = []

    def identity(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        catalog = [
            {"type": "identity", "endpoints": [{"interface": "public", "url": "http://k"}]},
            {
                "type": "object-store",
                "endpoints": [
                    {"interface": "internal", "region_id": "R1", "url": "http://in/v1/AUTH_p"},
                    {"interface": "public", "region_id": "R1", "url": "http://one/v1/AUTH_p"},
                    {"interface": "public", "region_id": "R2", "url": "http://two/v1/AUTH_p/"},
                ],
            },
        ]
        body = {"token": {"catalog": catalog}}
        return httpx.Response(201, json=body, headers={"X-Subject-Token": "tok"})

    config = parse_url("swift+keystone://alice:pw@k.example:5000/v3?project=demo&region=R2")
    # When the driver authenticates
    async with httpx.AsyncClient(transport=httpx.MockTransport(identity)) as client:
        url, token = await keystone(client, config)
    # Then it asked for a token scoped to the project and uses that region's public endpoint
    assert (url, token) == ("http://two/v1/AUTH_p", "tok")
    [auth] = seen
    assert auth == {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "alice", "domain": {"name": "Default"}, "password": "pw"}
                },
            },
            "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}},
        }
    }


async def test_a_keystone_refusal_is_unavailable_storage() -> None:
    config = parse_url("swift+keystone://alice:bad@k.example:5000/v3?project=demo")
    transport = httpx.MockTransport(lambda request: httpx.Response(401))

    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(errors.StorageUnavailable, match="401"):
            await keystone(client, config)


# What Swift sees


async def test_messages_and_their_index_carry_x_delete_at(
    storage: swift.SwiftStorage, raw: SwiftClient
) -> None:
    now = time.time()

    await storage.messages_post(PROJECT, QUEUE, new("a", ttl=120), now)

    container = storage._queue(PROJECT, QUEUE)
    names = [row["name"] for row in await raw.listing(container) or []]
    assert [name[:2] for name in names] == ["i/", "m/", "me"]
    for name in names[:2]:
        head = await raw.head(container, name)
        assert head is not None
        assert abs(int(head.headers["x-delete-at"]) - (now + 120)) <= 2


async def test_expired_objects_swift_still_lists_never_show(storage: swift.SwiftStorage) -> None:
    # Given a message and a claim that Swift expired but (no expirer runs) still lists
    await storage.messages_post(PROJECT, QUEUE, new("short", ttl=1), time.time())
    await storage.messages_post(PROJECT, QUEUE, new("held", ttl=60), time.time())
    claim = await storage.claim_create(PROJECT, QUEUE, 1, 0, 1, time.time())
    assert claim is not None
    await asyncio.sleep(1.2)
    now = time.time()
    # When the queue is read
    listed, _ = await storage.messages_list(PROJECT, QUEUE, EVERYTHING, now)
    stats = await storage.queue_stats(PROJECT, QUEUE, now)
    # Then only the live message shows, free again
    assert [message.body for message in listed] == ["held"]
    assert (stats.total, stats.claimed, stats.free) == (1, 0, 1)
    assert await storage.claim_get(PROJECT, QUEUE, claim.id, now) is None


# Consumers in several processes


async def test_consumers_in_several_processes_never_share_a_message(swift_url: str) -> None:
    # Given 40 messages and six drivers (as six API processes would have)
    drivers = [swift.from_url(swift_url) for _ in range(6)]
    for driver in drivers:
        await driver.open()
    try:
        now = time.time()
        posted = await drivers[0].messages_post(PROJECT, QUEUE, new(*range(40)), now)

        # When they all claim, and pop, at once until nothing is left
        async def consume(driver: swift.SwiftStorage, pop: bool) -> list[str]:
            taken: list[str] = []
            while True:
                if pop:
                    batch = await driver.messages_pop(PROJECT, QUEUE, 3, now)
                else:
                    claim = await driver.claim_create(PROJECT, QUEUE, 300, 60, 5, now)
                    batch = [] if claim is None else claim.messages
                if not batch:
                    return taken
                taken += [message.id for message in batch]

        results = await asyncio.gather(*(consume(d, i % 2 == 0) for i, d in enumerate(drivers)))
    finally:
        for driver in drivers:
            await driver.close()
    # Then every message went to exactly one of them
    taken = [message_id for result in results for message_id in result]
    assert sorted(taken) == sorted(posted)


async def test_a_reader_paging_while_a_batch_is_written_skips_nothing(
    storage: swift.SwiftStorage,
) -> None:
    # Given a batch of 30 messages being written (all at once, finishing in any order)
    now = time.time()
    await storage.queue_create(PROJECT, QUEUE, {}, now)
    posting = asyncio.create_task(storage.messages_post(PROJECT, QUEUE, new(*range(30)), now))
    # When a reader of the same process pages through the queue meanwhile, and after
    seen: list[object] = []
    marker: str | None = None
    while True:
        written = posting.done()
        query = MessageFilter(PRODUCER, echo=True, marker=marker, limit=4)
        page, marker = await storage.messages_list(PROJECT, QUEUE, query, now)
        seen += [message.body for message in page]
        marker = marker or query.marker
        if written and not page:
            break
    await posting
    # Then it saw every message once, in post order
    assert seen == list(range(30))


# Failures


async def test_a_post_retried_after_a_half_write_completes_it(
    storage: swift.SwiftStorage, raw: SwiftClient
) -> None:
    # Given a post whose message object was lost after its index was written
    batch = new("a")
    await storage.messages_post(PROJECT, QUEUE, batch, time.time())
    container = storage._queue(PROJECT, QUEUE)
    [name] = [row["name"] for row in await raw.listing(container, prefix="m/") or []]
    await raw.delete(container, name)
    # When the same post is retried
    await storage.messages_post(PROJECT, QUEUE, batch, time.time())
    # Then the message is there, once
    listed, _ = await storage.messages_list(PROJECT, QUEUE, EVERYTHING, time.time())
    assert [message.id for message in listed] == [batch[0].id]


async def test_a_message_written_again_by_its_own_post_is_kept(
    storage: swift.SwiftStorage,
) -> None:
    # Given a message and its index written by a try of its post that the driver took for
    # failed (the post found no container; a PUT cancelled after it was sent still lands)
    now = time.time()
    await storage.queue_create(PROJECT, QUEUE, {}, now)
    [message] = new("a")
    container = storage._queue(PROJECT, QUEUE)
    name = swift._message_name(storage._next_seq(now), message.id)
    await storage._store(container, name, swift._new_doc(message, now), now)
    # When the post writes it again, under the same name
    await storage._store(container, name, swift._new_doc(message, now), now)
    # Then the message is there
    got = await storage.messages_get(PROJECT, QUEUE, [message.id], now)
    assert [each.body for each in got] == ["a"]


class _ProxyCache:
    """The memcached of the session's Swift proxy, where it keeps what it found of a container."""

    def __init__(self, port: int, container: str) -> None:
        self.port = port
        account = "AUTH_" + USER.split(":")[0]  # tempauth's account of the session's user
        self.key = hashlib.md5(f"container/{account}/{container}".encode()).hexdigest().encode()

    def get(self) -> bytes:
        """The entry as memcached holds it: its flags, then its value."""
        reply = self._send(b"get " + self.key + b"\r\n")
        header, value, _ = reply.split(b"\r\n", 2)
        flags = header.split()[2]
        return flags + b" " + value

    def set(self, entry: bytes) -> None:
        flags, value = entry.split(b" ", 1)
        command = b"set %s %s 60 %d\r\n%s\r\n" % (self.key, flags, len(value), value)
        assert self._send(command) == b"STORED\r\n"

    def _send(self, command: bytes) -> bytes:
        with socket.create_connection((HOST, self.port)) as connection:
            connection.sendall(command)
            reply = b""
            while not reply.endswith((b"END\r\n", b"STORED\r\n")):
                reply += connection.recv(65536)
        return reply


async def _absence_cached_again_after_creation(
    client: SwiftClient, servers: SwiftServers, container: str
) -> None:
    """Have the proxy cache that ``container`` is missing, and put that back in its cache
    whenever ``client`` creates it: as a request of another writer that found it missing
    before the creation does. (Swift caches nothing of a container of an account that has
    none yet: the account has one beside.)"""
    await client.create(f"{container}-beside")
    assert await client.listing(container) is None
    cache = _ProxyCache(servers.ports["memcached"], container)
    missing = cache.get()
    assert missing.split(b" ", 1)[1].startswith(b'{"status": 404')
    create = client.create

    async def create_then_cache_missing(
        container: str, headers: dict[str, str] | None = None
    ) -> bool:
        created = await create(container, headers)
        cache.set(missing)
        return created

    client.create = create_then_cache_missing  # type: ignore[method-assign]


async def test_a_post_creating_its_queue_outlasts_the_proxy_caching_its_absence_again(
    storage: swift.SwiftStorage, swift_server: SwiftServers
) -> None:
    # Given a new queue whose container's absence the proxy caches again once it is created
    container = storage._queue(PROJECT, QUEUE)
    await _absence_cached_again_after_creation(storage._swift, swift_server, container)
    # When a post creates the queue
    batch = new("a", "b")
    await storage.messages_post(PROJECT, QUEUE, batch, time.time())
    # Then its messages are there, and so is the queue, with its metadata
    listed, _ = await storage.messages_list(PROJECT, QUEUE, EVERYTHING, time.time())
    assert [message.id for message in listed] == [message.id for message in batch]
    assert await storage.queue_get_metadata(PROJECT, QUEUE) == {}


async def test_a_first_subscription_outlasts_the_proxy_caching_its_absence_again(
    storage: swift.SwiftStorage, swift_server: SwiftServers
) -> None:
    container = storage._subscriptions(PROJECT, QUEUE)
    await _absence_cached_again_after_creation(storage._swift, swift_server, container)

    now = time.time()
    made, _ = await storage.subscription_create(
        PROJECT, QUEUE, "http://hooks.example/a", 60, {}, "secret", now
    )

    listed = await storage.subscription_list(PROJECT, QUEUE, None, 10, now)
    assert [each.id for each in listed] == [made.id]


async def test_a_first_pool_outlasts_the_proxy_caching_its_catalog_absence_again(
    swift_url: str, swift_server: SwiftServers
) -> None:
    catalog = swift_catalog.from_url(swift_url)
    await catalog.open()
    try:
        await _absence_cached_again_after_creation(catalog._swift, swift_server, catalog._container)
        pool = Pool("pool-1", "sqlite:///tmp/pool-1.db", 10)

        assert await catalog.pool_put(pool)

        assert await catalog.pool_get("pool-1") == pool
    finally:
        await catalog.close()


async def test_a_write_to_a_container_swift_does_not_have_is_unavailable_storage(
    raw: SwiftClient,
) -> None:
    writes: list[str] = []

    async def write() -> bool:
        writes.append("PUT")
        return False

    with pytest.raises(errors.StorageUnavailable, match="vanished"):
        await raw.until_found(f"gone-{uuid.uuid4().hex}", write)

    assert writes == ["PUT"]  # the HEAD after it found no container: not written again


async def test_gc_removes_claim_locks_left_by_a_crash(
    storage: swift.SwiftStorage, raw: SwiftClient
) -> None:
    lock = f"{storage.config.prefix}:l:{uuid.uuid4().hex}:1"
    await raw.create(lock)

    await storage.gc(time.time())
    assert await raw.listing(lock) is not None  # too young to be a leftover
    await storage.gc(time.time() + swift.LOCK_STALE + 60)

    assert await raw.listing(lock) is None


async def test_an_unreachable_swift_is_unavailable_within_the_connect_timeout() -> None:
    driver = swift.from_url(f"swift://u:k@127.0.0.1:{free_port()}/auth/v1.0")
    start = time.monotonic()

    with pytest.raises(errors.StorageUnavailable):
        await driver.open()

    assert time.monotonic() - start < 3
    assert await driver.is_alive() is False
    await driver.close()


def _answering(*statuses: int) -> tuple[SwiftClient, list[str]]:
    """A client whose Swift gives these answers in turn (the last one from then on), and the
    methods of the requests it was sent."""
    sent: list[str] = []

    def swift_answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return httpx.Response(statuses[min(len(sent), len(statuses)) - 1])

    client = SwiftClient(parse_url("swift://u:k@swift.example:8080/auth/v1.0"))
    client._client = httpx.AsyncClient(transport=httpx.MockTransport(swift_answer))
    client._session = ("http://swift.example:8080/v1/AUTH_u", "token")
    return client, sent


async def test_a_read_answered_503_is_sent_again() -> None:
    client, sent = _answering(503, 503, 200)

    response = await client.get("container", "object")

    assert response is not None
    assert response.status_code == 200
    assert sent == ["GET", "GET", "GET"]
    await client.close()


async def test_a_read_answered_503_three_times_is_unavailable_storage() -> None:
    client, sent = _answering(503)

    with pytest.raises(errors.StorageUnavailable, match="503"):
        await client.head("container", "object")

    assert sent == ["HEAD", "HEAD", "HEAD"]
    await client.close()


async def test_a_write_answered_503_is_not_sent_again() -> None:
    # a write answered with a 5xx may have been stored: sending it again could store it twice
    client, sent = _answering(503, 201)

    with pytest.raises(errors.StorageUnavailable, match="503"):
        await client.put("container", "object", b"{}", {})

    assert sent == ["PUT"]
    await client.close()
