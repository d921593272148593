"""The PostgreSQL driver over TLS: the URL's ``sslmode`` and ``sslrootcert`` go to asyncpg, so
every connection the driver makes (its two pools and the one that listens for posts) checks
the server's certificate and host name, and ``sslcert`` and ``sslkey`` show the client's own
to a server that asks for it. A private cluster with a certificate made for the test, and a
role that must show a certificate it signed; ``pg_stat_ssl`` shows which connections use TLS,
and with which client certificate."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import opened
from tests.messages import PRODUCER, new
from tests.servers.certificates import Certificate
from tests.servers.postgres import CERTIFIED_ROLE, PostgresServer, start_private_postgres
from tidings import errors
from tidings.models import MessageFilter
from tidings.storage.base import storage_from_url

PROJECT = "project-a"
NOW = 1_700_000_000.0
CONNECTIONS_BY_TLS = """
SELECT s.ssl, s.client_dn, count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
WHERE a.application_name = 'tidings-tls' GROUP BY s.ssl, s.client_dn
"""


@pytest.fixture(scope="module")
def tls_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = start_private_postgres(tls=Certificate.create(tmp_path_factory.mktemp("pg-tls")))
    try:
        server.execute(f"CREATE ROLE {CERTIFIED_ROLE} LOGIN SUPERUSER")
        yield server
    finally:
        server.remove()


def tls_url(server: PostgresServer, database: str, root: Path) -> str:
    return (
        f"{server.url(database)}?sslmode=verify-full&sslrootcert={root}"
        "&application_name=tidings-tls"
    )


def certified_url(server: PostgresServer, database: str, certificate: Certificate | None) -> str:
    """As ``CERTIFIED_ROLE``, trusting the server's certificate, showing ``certificate``."""
    assert server.tls is not None
    url = tls_url(server, database, server.tls.certificate)
    url = url.replace("postgresql://postgres@", f"postgresql://{CERTIFIED_ROLE}@")
    if certificate is None:
        return url
    return f"{url}&sslcert={certificate.certificate}&sslkey={certificate.key}"


@pytest.mark.parametrize(
    ("role", "client_dn"), [("postgres", None), (CERTIFIED_ROLE, "/CN=127.0.0.1")]
)
async def test_every_connection_of_the_driver_uses_tls(
    tls_postgres: PostgresServer, role: str, client_dn: str | None
) -> None:
    """As the superuser, with the server's certificate only; as the role that must show a
    client certificate, with ``sslcert`` and ``sslkey`` too."""
    assert tls_postgres.tls is not None
    with tls_postgres.new_database() as plain_url:
        database = plain_url.rsplit("/", 1)[1]
        url = tls_url(tls_postgres, database, tls_postgres.tls.certificate)
        if role == CERTIFIED_ROLE:
            url = certified_url(tls_postgres, database, tls_postgres.tls)
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
                connections = {
                    (row["ssl"], row["client_dn"]): row["count"]
                    for row in await admin.fetch(CONNECTIONS_BY_TLS)
                }
            finally:
                await admin.close()

    assert woken is True
    assert [message.body for message in page] == ["sealed"]
    assert claim is not None
    assert [message.id for message in claim.messages] == [posted]
    assert list(connections) == [(True, client_dn)]
    # a pool of each driver, and the watcher's listening connection
    assert connections[True, client_dn] >= 3


async def test_a_server_whose_certificate_is_not_trusted_is_unavailable(
    tls_postgres: PostgresServer, tmp_path: Path
) -> None:
    stranger = Certificate.create(tmp_path)
    storage = storage_from_url(tls_url(tls_postgres, "postgres", stranger.certificate))

    with pytest.raises(errors.StorageUnavailable):
        await storage.open()
    await storage.close()


@pytest.mark.parametrize("certificate", ["none", "a stranger's"])
async def test_the_role_without_a_certificate_the_server_signed_is_unavailable(
    tls_postgres: PostgresServer, tmp_path: Path, certificate: str
) -> None:
    shown = None if certificate == "none" else Certificate.create(tmp_path)
    storage = storage_from_url(certified_url(tls_postgres, "postgres", shown))

    with pytest.raises(errors.StorageUnavailable):
        await storage.open()
    await storage.close()
