"""Long polling across processes: a request waiting on one server process is answered when a
message is posted through another process on the same store."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.conftest import ServerProcess, caller_headers

PROMPT = 1.5
"""Seconds within which a waiting request answers once a message is posted."""


async def test_a_waiting_claim_is_woken_by_a_post_on_another_process(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    waiter, poster = two_servers
    headers = caller_headers("cross")
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        claiming = asyncio.create_task(
            client.post(f"{waiter.url}/v2/queues/jobs/claims", params={"wait": 15})
        )
        await asyncio.sleep(0.5)  # the claim is waiting
        posted = time.monotonic()
        response = await client.post(
            f"{poster.url}/v2/queues/jobs/messages", json={"messages": [{"body": "wake"}]}
        )
        assert response.status_code == 201

        claimed = await claiming
        woken_after = time.monotonic() - posted

    assert claimed.status_code == 201
    assert [message["body"] for message in claimed.json()["messages"]] == ["wake"]
    assert woken_after < PROMPT


async def test_a_waiting_listing_answers_empty_at_its_deadline(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    waiter, _ = two_servers
    async with httpx.AsyncClient(headers=caller_headers("cross"), timeout=30) as client:
        start = time.monotonic()
        response = await client.get(f"{waiter.url}/v2/queues/jobs/messages", params={"wait": 2})
        waited = time.monotonic() - start

    assert response.json() == {"messages": [], "links": []}
    assert 1.9 < waited < 2 + PROMPT
