from __future__ import annotations

import httpx

from tests.conftest import ServerProcess


async def test_ping_in_process(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/ping")
    assert response.status_code == 204


def test_ping_real_server(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/", timeout=5)
    assert response.status_code == 300
