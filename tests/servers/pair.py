"""Two ``tidings serve`` processes on one store: what a message posted to one of them must
reach through the store alone (no shared memory, as between two API nodes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tests.processes import running
from tests.servers.backends import storage_url

SHARED_BACKENDS = ("sqlite-file", "redis", "redis-cluster", "postgres")
"""The stores several processes can share."""


@pytest.fixture(params=SHARED_BACKENDS)
def two_servers(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    url = storage_url(request, request.param)
    database = tmp_path / "tidings.db"
    with (
        running(ServerProcess(database=database, storage_url=url)) as first,
        running(ServerProcess(database=database, storage_url=url)) as second,
    ):
        yield first, second
