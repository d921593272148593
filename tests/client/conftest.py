"""A client of a real ``tidings serve`` process, over each transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tests.processes import running
from tidings.client import Client, HttpxTransport, KeepAliveTransport, Transport


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module; each test works in its own project."""
    directory: Path = tmp_path_factory.mktemp("client")
    with running(ServerProcess(database=directory / "tidings.db")) as process:
        yield process


def _transport(kind: str, url: str) -> Transport:
    if kind == "httpx":
        return HttpxTransport(url)
    return KeepAliveTransport(url)


@pytest.fixture(params=["httpx", "keepalive"])
async def client(
    request: pytest.FixtureRequest, live_server: ServerProcess
) -> AsyncIterator[Client]:
    project = f"client-{request.node.name}"[:200]
    transport = _transport(request.param, live_server.url)
    async with Client(live_server.url, project, transport=transport) as tidings:
        yield tidings
