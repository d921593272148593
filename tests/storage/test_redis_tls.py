"""The Redis driver over TLS (``rediss://``, ``rediss+cluster://``): a private ``redis-server``
and a private 3-node cluster that speak TLS only, with a certificate made for the test, and
the same two asking each client for a certificate of their authority (``cert_file``).
Messages, claims, the pub/sub feed of ``watch`` and the pool catalog all go through them; a
server whose certificate the driver does not trust is unavailable, never spoken to in clear,
and so is one that asks for a certificate the driver does not have."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, caller_headers, opened
from tests.messages import PRODUCER, new
from tests.processes import running
from tests.servers.certificates import Certificate
from tests.servers.redis import RedisClusterServers, RedisServer
from tidings import errors
from tidings.models import MessageFilter, Pool
from tidings.storage import redis_catalog
from tidings.storage.base import storage_from_url

PROJECT = "project-a"
NOW = 1_700_000_000.0


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    directory = tmp_path_factory.mktemp("redis-tls")
    with running(RedisServer(directory, tls=Certificate.create(directory))) as server:
        yield server


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    directory = tmp_path_factory.mktemp("redis-tls-cluster")
    with running(RedisClusterServers(directory, tls=Certificate.create(directory))) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def mutual_tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    directory = tmp_path_factory.mktemp("redis-mutual-tls")
    certificate = Certificate.create(directory)
    with running(RedisServer(directory, tls=certificate, client_certificates=True)) as server:
        yield server


@pytest.fixture(scope="module")
def mutual_tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    directory = tmp_path_factory.mktemp("redis-mutual-tls-cluster")
    certificate = Certificate.create(directory)
    cluster = RedisClusterServers(directory, tls=certificate, client_certificates=True)
    with running(cluster):
        yield cluster


@pytest.fixture(params=["tls_redis", "tls_cluster", "mutual_tls_redis", "mutual_tls_cluster"])
def tls_url(request: pytest.FixtureRequest) -> str:
    """A TLS-only Redis, standalone or a cluster, emptied for the test; the mutual ones ask
    for the client's certificate, and the URL names it."""
    servers: RedisServer | RedisClusterServers = request.getfixturevalue(request.param)
    servers.flush()
    return servers.url


async def test_messages_and_claims_travel_over_tls(tls_url: str) -> None:
    storage = storage_from_url(tls_url)
    async with opened(storage):
        [posted] = await storage.messages_post(PROJECT, "q", new("sealed"), NOW)
        page, _ = await storage.messages_list(PROJECT, "q", MessageFilter(PRODUCER, echo=True), NOW)
        claim = await storage.claim_create(PROJECT, "q", 60, 60, 10, NOW)
        assert claim is not None
        await storage.messages_delete(PROJECT, "q", [posted], [claim.id], NOW)
        stats = await storage.queue_stats(PROJECT, "q", NOW)

    assert [message.body for message in page] == ["sealed"]
    assert [message.id for message in claim.messages] == [posted]
    assert stats.total == 0


async def test_a_post_wakes_a_watcher_of_another_process_over_tls(tls_url: str) -> None:
    watcher, poster = storage_from_url(tls_url), storage_from_url(tls_url)
    async with opened(watcher), opened(poster):
        waiting = asyncio.create_task(watcher.watch(PROJECT, "q", 10.0))
        await asyncio.sleep(0.5)  # subscribed by now
        await poster.messages_post(PROJECT, "q", new("wake up"), NOW)

        assert await asyncio.wait_for(waiting, 5.0) is True


async def test_the_pool_catalog_works_over_tls(tls_url: str) -> None:
    catalog = redis_catalog.from_url(tls_url)
    await catalog.open()
    try:
        await catalog.pool_put(Pool("fast", "sqlite:///fast.db", 100, None, {}))
        pools = await catalog.pool_list(None, None)
    finally:
        await catalog.close()

    assert [pool.name for pool in pools] == ["fast"]


def test_tidings_serves_from_a_tls_redis(tls_redis: RedisServer, tmp_path: Path) -> None:
    tls_redis.flush()
    server = ServerProcess(database=tmp_path / "unused.db", storage_url=tls_redis.url)
    with running(server):
        headers = caller_headers()
        posted = httpx.post(
            f"{server.url}/v2/queues/q/messages",
            json={"messages": [{"body": "over tls", "ttl": 300}]},
            headers=headers,
        )
        listed = httpx.get(f"{server.url}/v2/queues/q/messages?echo=true", headers=headers)

    assert posted.status_code == 201
    assert [message["body"] for message in listed.json()["messages"]] == ["over tls"]


async def test_a_server_whose_certificate_is_not_trusted_is_unavailable(
    tls_redis: RedisServer, tmp_path: Path
) -> None:
    stranger = Certificate.create(tmp_path)
    url = f"rediss://127.0.0.1:{tls_redis.port}/0?ca_file={stranger.certificate}"
    storage = storage_from_url(url)

    with pytest.raises(errors.StorageUnavailable):
        await storage.open()
    await storage.close()


async def test_a_plain_url_to_a_tls_server_is_unavailable(tls_redis: RedisServer) -> None:
    storage = storage_from_url(f"redis://127.0.0.1:{tls_redis.port}/0")

    with pytest.raises(errors.StorageUnavailable):
        await storage.open()
    await storage.close()


async def test_a_server_that_asks_for_a_certificate_refuses_a_client_without_one(
    mutual_tls_redis: RedisServer,
) -> None:
    assert mutual_tls_redis.tls is not None
    url = f"rediss://127.0.0.1:{mutual_tls_redis.port}/0?ca_file={mutual_tls_redis.tls.certificate}"
    storage = storage_from_url(url)

    with pytest.raises(errors.StorageUnavailable):
        await storage.open()
    await storage.close()


async def test_a_server_that_asks_for_a_certificate_refuses_one_it_did_not_sign(
    mutual_tls_redis: RedisServer, tmp_path: Path
) -> None:
    assert mutual_tls_redis.tls is not None
    stranger = Certificate.create(tmp_path)
    url = (
        f"rediss://127.0.0.1:{mutual_tls_redis.port}/0?ca_file={mutual_tls_redis.tls.certificate}"
        f"&cert_file={stranger.certificate}&key_file={stranger.key}"
    )
    storage = storage_from_url(url)

    with pytest.raises(errors.StorageUnavailable):
        await storage.open()
    await storage.close()
