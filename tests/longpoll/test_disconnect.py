"""A long poll whose client disconnects stops waiting, against a real ``tidings serve``: a
claim made for a client that has gone would hide its messages until the claim expired."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import ServerProcess, caller_headers

NOTICE = 0.5
"""Seconds given to the server to see a disconnection, or a waiting claim to take a post."""


async def test_a_waiting_claim_whose_client_disconnected_takes_nothing_posted_later(
    server: ServerProcess,
) -> None:
    headers = caller_headers("gone")
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        # Given a claim waiting for a message, whose client then disconnects
        claiming = asyncio.create_task(
            client.post("/v2/queues/jobs/claims", params={"wait": 15}, json={"ttl": 60})
        )
        await asyncio.sleep(NOTICE)
        claiming.cancel()
        await asyncio.sleep(NOTICE)

        # When a message is posted
        posted = await client.post("/v2/queues/jobs/messages", json={"messages": [{"body": "job"}]})
        assert posted.status_code == 201
        await asyncio.sleep(NOTICE)

        # Then it is still free for the next claim
        stats = (await client.get("/v2/queues/jobs/stats")).json()["messages"]
        claimed = await client.post("/v2/queues/jobs/claims", json={"ttl": 60})

    assert (stats["free"], stats["claimed"]) == (1, 0)
    assert [message["body"] for message in claimed.json()["messages"]] == ["job"]


async def test_a_waiting_listing_whose_client_stays_is_answered(server: ServerProcess) -> None:
    headers = caller_headers("stays")
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        listing = asyncio.create_task(
            client.get("/v2/queues/news/messages", params={"wait": 15, "echo": "true"})
        )
        await asyncio.sleep(NOTICE)
        await client.post("/v2/queues/news/messages", json={"messages": [{"body": "hot"}]})
        response = await listing

    assert [message["body"] for message in response.json()["messages"]] == ["hot"]
