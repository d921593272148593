"""Storage URLs of SQLite and Redis: what they name, the parameters they take, and what the
drivers refuse instead of ignoring (PostgreSQL's are in test_postgres_driver.py)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from tests.conftest import opened
from tests.messages import PRODUCER, new
from tidings.models import MessageFilter
from tidings.storage import redis_catalog, sqlite_catalog
from tidings.storage.base import storage_from_url
from tidings.storage.catalog import catalog_from_url
from tidings.storage.redis import CONNECTIONS, Address, RedisStorage, parse_url
from tidings.storage.sqlite import SQLiteStorage

PROJECT = "project-a"
NOW = 1_700_000_000.0


def test_an_unknown_scheme_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"^unknown storage URL scheme 'nosuch'; known: .*sqlite"):
        storage_from_url("nosuch://host/db")
    with pytest.raises(ValueError, match=r"^no pool catalog for 'nosuch' storage; known: .*redis"):
        catalog_from_url("nosuch://host/db")


# SQLite


@pytest.mark.parametrize(
    ("url", "path"),
    [("sqlite:///tidings.db", "tidings.db"), ("sqlite:////var/lib/t.db", "/var/lib/t.db")],
)
def test_a_sqlite_url_names_a_file(url: str, path: str) -> None:
    storage = storage_from_url(url)

    assert isinstance(storage, SQLiteStorage)
    assert storage.path == path
    assert sqlite_catalog.from_url(url).path == path


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://tidings.db", "sqlite:/tidings.db"])
def test_a_sqlite_url_without_a_file_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="SQLite URLs look like sqlite:///path/to/file"):
        storage_from_url(url)
    with pytest.raises(ValueError, match="SQLite URLs look like"):
        sqlite_catalog.from_url(url)


@pytest.mark.parametrize("url", ["sqlite:///t.db?mode=ro", "sqlite:///:memory:?cache=shared"])
def test_a_sqlite_url_with_a_query_is_refused_rather_than_made_part_of_the_file_name(
    url: str,
) -> None:
    with pytest.raises(ValueError, match=r"SQLite URLs take no parameter; got '\?"):
        storage_from_url(url)
    with pytest.raises(ValueError, match="SQLite URLs take no parameter"):
        sqlite_catalog.from_url(url)


# Redis


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("redis://127.0.0.1", Address([("127.0.0.1", 6379)])),
        (
            "redis://:s%40cret@[::1]:7000/2?pool_size=3",
            Address([("::1", 7000)], db=2, password="s@cret", pool_size=3),
        ),
        (
            "rediss://redis.example:6380/1?ca_file=/etc/ssl/redis-ca.pem",
            Address([("redis.example", 6380)], db=1, tls=True, ca_file="/etc/ssl/redis-ca.pem"),
        ),
        ("rediss://redis.example", Address([("redis.example", 6379)], tls=True)),
        (
            "rediss://redis.example/0?cert_file=/etc/tidings/client.pem",
            Address([("redis.example", 6379)], tls=True, cert_file="/etc/tidings/client.pem"),
        ),
        (
            "redis+cluster://app:pw@10.0.0.1:7000,10.0.0.2:7001",
            Address(
                [("10.0.0.1", 7000), ("10.0.0.2", 7001)],
                cluster=True,
                username="app",
                password="pw",
            ),
        ),
        (
            "rediss+cluster://10.0.0.1:7000,10.0.0.2:7001?ca_file=/etc/ssl/redis-ca.pem",
            Address(
                [("10.0.0.1", 7000), ("10.0.0.2", 7001)],
                cluster=True,
                tls=True,
                ca_file="/etc/ssl/redis-ca.pem",
            ),
        ),
        (
            "rediss+cluster://10.0.0.1:7000?cert_file=/etc/tidings/c.pem&key_file=/etc/tidings/k.pem",
            Address(
                [("10.0.0.1", 7000)],
                cluster=True,
                tls=True,
                cert_file="/etc/tidings/c.pem",
                key_file="/etc/tidings/k.pem",
            ),
        ),
    ],
)
def test_a_url_names_the_server_the_login_and_the_pool_size(url: str, address: Address) -> None:
    assert parse_url(url) == address


def test_a_process_keeps_a_hundred_connections_unless_told() -> None:
    assert parse_url("redis://127.0.0.1/1").pool_size == CONNECTIONS == 100


@pytest.mark.parametrize("query", ["pool_size=0", "pool_size=1001", "pool_size=ten"])
def test_a_pool_size_that_is_not_a_count_is_refused(query: str) -> None:
    with pytest.raises(ValueError, match="pool_size must be given once, as a whole number"):
        parse_url(f"redis://127.0.0.1/0?{query}")


@pytest.mark.parametrize("query", ["ssl=true", "pool_size=4&max_connections=4", "timeout"])
def test_a_parameter_the_driver_would_ignore_is_refused(query: str) -> None:
    with pytest.raises(
        ValueError,
        match="Redis URLs take no parameter but pool_size, ca_file, cert_file and key_file; got",
    ):
        storage_from_url(f"redis://127.0.0.1/0?{query}")


@pytest.mark.parametrize("scheme", ["redis", "redis+cluster"])
@pytest.mark.parametrize("parameter", ["ca_file", "cert_file", "key_file"])
def test_a_tls_file_without_tls_is_refused(scheme: str, parameter: str) -> None:
    with pytest.raises(ValueError, match=f"{parameter} is for TLS: use a rediss:// or"):
        storage_from_url(f"{scheme}://127.0.0.1:7000?{parameter}=/etc/ssl/file.pem")


def test_tls_files_without_tls_are_named_together() -> None:
    with pytest.raises(ValueError, match="ca_file and cert_file are for TLS: use a rediss"):
        storage_from_url("redis://127.0.0.1:7000?cert_file=/etc/c.pem&ca_file=/etc/ca.pem")


@pytest.mark.parametrize(
    ("query", "repeated"),
    [
        ("ca_file=/etc/a.pem&ca_file=/etc/b.pem", "ca_file"),
        ("pool_size=2&pool_size=3", "pool_size"),
        ("cert_file=/c&key_file=/k&key_file=/k&cert_file=/c", "cert_file and key_file"),
    ],
)
def test_a_parameter_given_twice_is_refused(query: str, repeated: str) -> None:
    with pytest.raises(ValueError, match=f"^{repeated} must be given once$"):
        storage_from_url(f"rediss://127.0.0.1:7000?{query}")


@pytest.mark.parametrize("parameter", ["pool_size", "ca_file"])
def test_a_parameter_left_empty_is_refused(parameter: str) -> None:
    with pytest.raises(ValueError, match=f"^{parameter} is empty: give it a value or leave it"):
        storage_from_url(f"rediss://127.0.0.1:7000?{parameter}=")


def test_a_key_file_without_its_certificate_is_refused() -> None:
    with pytest.raises(ValueError, match="key_file is the key of cert_file: give cert_file too"):
        storage_from_url("rediss://127.0.0.1:7000?key_file=/etc/tidings/client.key")


@pytest.mark.parametrize("scheme", ["redisss", "redis+unix", "http"])
def test_a_scheme_the_driver_does_not_know_is_refused(scheme: str) -> None:
    with pytest.raises(ValueError, match="Redis URLs start with redis://, rediss://"):
        parse_url(f"{scheme}://127.0.0.1:6379")


def test_a_cluster_url_takes_no_pool_size() -> None:
    with pytest.raises(ValueError, match="Redis Cluster URLs take no pool_size: a cluster's"):
        storage_from_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7000?pool_size=4")


def test_the_pool_catalog_reads_the_same_url() -> None:
    catalog = redis_catalog.from_url("redis://127.0.0.1/3?pool_size=5")

    assert catalog.address.pool_size == 5
    with pytest.raises(ValueError, match="take no parameter but pool_size, ca_file"):
        redis_catalog.from_url("redis://127.0.0.1/3?pool=5")


async def test_a_process_keeps_at_most_pool_size_connections(redis_url: str) -> None:
    # Given a driver allowed two connections
    storage = storage_from_url(f"{redis_url}?pool_size=2")
    assert isinstance(storage, RedisStorage)
    admin = Redis.from_url(redis_url)
    try:
        before = await _connections(admin)
        async with opened(storage):
            # When 200 posts, listings and stats are under way at once
            listing = MessageFilter(PRODUCER)
            await asyncio.gather(
                *(storage.messages_post(PROJECT, f"q{n % 4}", new(n), NOW) for n in range(200)),
                *(storage.messages_list(PROJECT, "q0", listing, NOW) for _ in range(200)),
                *(storage.queue_stats(PROJECT, "q1", NOW) for _ in range(200)),
            )
            # Then every one was served, on two connections at most
            connected = await _connections(admin) - before
            posted = sum([len(await admin.keys(f"t:{{{PROJECT}/q{n}}}:m:*")) for n in range(4)])
    finally:
        await admin.aclose()
    assert posted == 200
    assert 1 <= connected <= 2


async def _connections(admin: Redis) -> int:
    return len(await admin.client_list())
