"""The PostgreSQL driver over TLS: the URL's ``sslmode`` and ``sslrootcert`` go to asyncpg, so
every connection the driver makes (its two pools and the one that listens for posts) checks
the server's certificate and host name. A private cluster with a certificate made for the
test; ``pg_stat_ssl`` shows which connections use TLS."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import opened
from tests.messages import PRODUCER, new
from tests.servers.certificates import Certificate
from tests.servers.postgres import PostgresServer, start_private_postgres
from tidings import errors
from tidings.models import MessageFilter
from tidings.storage.base import storage_from_url

PROJECT = "project-a"
NOW = 1_700_000_000.0
CONNECTIONS_BY_TLS = """
SELECT s.ssl, count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
WHERE a.application_name = 'tidings-tls' GROUP BY s.ssl
"""


@pytest.fixture(scope="module")
def tls_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = start_private_postgres(tls=Certificate.create(tmp_path_factory.mktemp("pg-tls")))
    try:
        yield server
    finally:
        server.remove()


def tls_url(server: PostgresServer, database: str, root: Path) -> str:
    return (
        f"{server.url(database)}?sslmode=verify-full&sslrootcert={root}"
        "&application_name=tidings-tls"
    )


async def test_every_connection_of_the_driver_uses_tls(tls_postgres: PostgresServer) -> None:
    assert tls_postgres.tls is not None
    with tls_postgres.new_database() as plain_url:
        url = tls_url(tls_postgres, plain_url.rsplit("/", 1)[1], tls_postgres.tls.certificate)
        watcher, poster = storage_from_url(url), storage_from_url(url)
        async with opened(watcher), opened(poster):
            waiting = asyncio.create_task(watcher.watch(PROJECT, "q", 10.0))
            await asyncio.sleep(0.5)  # listening by now
            [posted] = await poster.messages_post(PROJECT, "q", new("sealed"), NOW)
            woken = await asyncio.wait_for(waiting, 5.0)
            listing = MessageFilter(PRODUCER, echo=True)
            page, _ = await poster.messages_list(PROJECT, "q", listing, NOW)
            claim = await poster.claim_create(PROJECT, "q", 60, 60, 10, NOW)
            admin = await asyncpg.connect(plain_url)
            try:
                by_tls = dict(await admin.fetch(CONNECTIONS_BY_TLS))
            finally:
                await admin.close()

    assert woken is True
    assert [message.body for message in page] == ["sealed"]
    assert claim is not None
    assert [message.id for message in claim.messages] == [posted]
    assert by_tls.get(False, 0) == 0
    assert by_tls[True] >= 3  # a pool of each driver, and the watcher's listening connection


async def test_a_server_whose_certificate_is_not_trusted_is_unavailable(
    tls_postgres: PostgresServer, tmp_path: Path
) -> None:
    stranger = Certificate.create(tmp_path)
    storage = storage_from_url(tls_url(tls_postgres, "postgres", stranger.certificate))

    with pytest.raises(errors.StorageUnavailable):
        await storage.open()
    await storage.close()
