"""A server that cannot be reached raises ``ConnectFailed``: the request was never sent, so a
caller may send it again without duplicating it."""

from __future__ import annotations

import pytest

from tests.conftest import free_port
from tidings.client import Client, ConnectFailed, HttpxTransport, KeepAliveTransport, Transport


@pytest.mark.parametrize("kind", [HttpxTransport, KeepAliveTransport])
async def test_an_unreachable_server_raises_connect_failed(kind: type[Transport]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with Client(url, "nobody", transport=kind(url)) as client:  # type: ignore[call-arg]
        with pytest.raises(ConnectFailed):
            await client.message_post("q", [{"body": 1}])
