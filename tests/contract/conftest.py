"""The storage contract suite: every test here runs once per driver in ``DRIVERS``.

A driver that lacks a behaviour declares it in its ``capabilities``; a test that needs the
behaviour says so with ``@pytest.mark.requires(CAPABILITY)`` (or a module's ``pytestmark``), and
the ``storage`` fixture below is the one place that turns a missing capability into a skip.
Time is a ``FakeClock``: tests pass ``clock()`` as ``now`` and move it with ``advance``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from tests.servers.postgres import postgres_clean_url, postgres_server  # noqa: F401
from tests.servers.redis import redis_cluster, redis_cluster_url, redis_server, redis_url  # noqa: F401

from tidings.clock import FakeClock
from tidings.storage.base import AOD, CLAIMS, DURABILITY, FIFO, HIGH_THROUGHPUT, Storage

KNOWN_CAPABILITIES = frozenset({FIFO, CLAIMS, DURABILITY, AOD, HIGH_THROUGHPUT})


def _sqlite_memory(request: pytest.FixtureRequest) -> Storage:
    from tidings.storage import sqlite

    return sqlite.from_url("sqlite:///:memory:")


def _sqlite_file(request: pytest.FixtureRequest) -> Storage:
    from tidings.storage import sqlite

    tmp_path: Path = request.getfixturevalue("tmp_path")
    return sqlite.from_url(f"sqlite:///{tmp_path / 'tidings.db'}")


def _redis(request: pytest.FixtureRequest) -> Storage:
    from tidings.storage import redis

    return redis.from_url(request.getfixturevalue("redis_url"))


def _redis_cluster(request: pytest.FixtureRequest) -> Storage:
    from tidings.storage import redis

    return redis.from_url(request.getfixturevalue("redis_cluster_url"))


def _postgres(request: pytest.FixtureRequest) -> Storage:
    from tidings.storage import postgres

    return postgres.from_url(request.getfixturevalue("postgres_clean_url"))


DRIVERS: dict[str, Callable[[pytest.FixtureRequest], Storage]] = {
    "sqlite": _sqlite_memory,
    "sqlite-file": _sqlite_file,
    "redis": _redis,
    "redis-cluster": _redis_cluster,
    "postgres": _postgres,
}
"""Driver name to a factory that builds (not opens) a fresh, empty driver for one test.

A factory may ask ``request.getfixturevalue`` for what its backend needs (a temp dir, a private
server started by a session fixture), so backends that are not tested cost nothing.
"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires(*capabilities): run only on storage drivers that declare all these capabilities",
    )


def _required_capabilities(node: pytest.Item) -> set[str]:
    required = {name for marker in node.iter_markers("requires") for name in marker.args}
    unknown = required - KNOWN_CAPABILITIES
    if unknown:
        pytest.fail(f"unknown capabilities in @pytest.mark.requires: {sorted(unknown)}")
    return required


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=list(DRIVERS))
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    driver = DRIVERS[request.param](request)
    missing = _required_capabilities(request.node) - driver.capabilities
    if missing:
        pytest.skip(f"{request.param} lacks {', '.join(sorted(missing))}")
    await driver.open()
    try:
        yield driver
    finally:
        await driver.close()
