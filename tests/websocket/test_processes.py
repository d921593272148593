"""Across processes: a socket held by one server process receives the messages posted over
HTTP to another process on the same store, and its long polls are woken by them."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.conftest import ServerProcess, caller_headers
from tests.websocket.support import opened

PROMPT = 1.5
"""Seconds within which a push or a woken long poll follows a post."""


async def post(server: ServerProcess, queue: str, body: object) -> float:
    """Post one message through ``server``; when it was posted."""
    async with httpx.AsyncClient(headers=caller_headers("cross")) as client:
        response = await client.post(
            f"{server.url}/v2/queues/{queue}/messages", json={"messages": [{"body": body}]}
        )
    assert response.status_code == 201
    return time.monotonic()


async def test_a_post_on_another_process_is_pushed_to_the_socket(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    holder, poster = two_servers
    ws_url = holder.url.replace("http", "ws") + "/v2/ws"
    async with opened(ws_url, headers=caller_headers("cross")) as ws:
        status, _ = await ws.call("subscription_create", queue_name="feed")
        assert status == 201

        posted = await post(poster, "feed", "from afar")
        pushed = await ws.pushed()

    assert pushed["body"] == "from afar"
    assert time.monotonic() - posted < PROMPT


async def test_a_socket_long_poll_is_woken_by_a_post_on_another_process(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    holder, poster = two_servers
    ws_url = holder.url.replace("http", "ws") + "/v2/ws"
    async with opened(ws_url, headers=caller_headers("cross")) as ws:
        claiming = asyncio.create_task(ws.call("claim_create", queue_name="jobs", wait=15))
        await asyncio.sleep(0.5)
        posted = await post(poster, "jobs", "work")
        status, body = await claiming

    assert status == 201
    assert [message["body"] for message in body["messages"]] == ["work"]
    assert time.monotonic() - posted < PROMPT
