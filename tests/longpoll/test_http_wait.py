"""Long polling over HTTP: ``wait`` on GET /messages and POST /claims, and the queue default
``_default_wait_seconds``; on every backend, in-process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
import pytest

from tests.api.support import JSON_PATCH, another_client, assert_error, post_bodies
from tests.conftest import caller_headers

T = TypeVar("T")

QUEUE = "/v2/queues/waiting"
PROMPT = 1.5
"""Seconds within which a waiting request answers once a message is there."""


async def timed(call: Awaitable[T]) -> tuple[T, float]:
    start = time.monotonic()
    result = await call
    return result, time.monotonic() - start


async def post_later(api: httpx.AsyncClient, body: Any, delay: float = 0.3) -> None:
    await asyncio.sleep(delay)
    await post_bodies(api, "waiting", body)


async def test_a_waiting_listing_answers_as_soon_as_a_message_is_posted(
    api: httpx.AsyncClient,
) -> None:
    listing = api.get(f"{QUEUE}/messages", params={"wait": 10}, headers=another_client())

    (response, seconds), _ = await asyncio.gather(timed(listing), post_later(api, "hello"))

    assert response.status_code == 200
    assert [message["body"] for message in response.json()["messages"]] == ["hello"]
    assert seconds < PROMPT


async def test_a_waiting_claim_answers_as_soon_as_a_message_is_posted(
    api: httpx.AsyncClient,
) -> None:
    claiming = api.post(f"{QUEUE}/claims", params={"wait": 10}, json={"ttl": 60})

    (response, seconds), _ = await asyncio.gather(timed(claiming), post_later(api, "job"))

    assert response.status_code == 201
    assert [message["body"] for message in response.json()["messages"]] == ["job"]
    assert seconds < PROMPT


async def test_a_listing_waits_until_its_deadline_then_answers_empty(
    api: httpx.AsyncClient,
) -> None:
    response, seconds = await timed(api.get(f"{QUEUE}/messages", params={"wait": 1}))

    assert response.status_code == 200
    assert response.json() == {"messages": [], "links": []}
    assert 0.9 < seconds < 1 + PROMPT


async def test_a_claim_waits_until_its_deadline_then_answers_204(api: httpx.AsyncClient) -> None:
    response, seconds = await timed(api.post(f"{QUEUE}/claims", params={"wait": 1}))

    assert response.status_code == 204
    assert response.content == b""
    assert 0.9 < seconds < 1 + PROMPT


async def test_messages_already_there_are_answered_at_once(api: httpx.AsyncClient) -> None:
    await post_bodies(api, "waiting", "ready")

    response, seconds = await timed(api.post(f"{QUEUE}/claims", params={"wait": 20}))

    assert response.status_code == 201
    assert seconds < PROMPT


async def test_a_listing_ignores_the_callers_own_posts_while_waiting(
    api: httpx.AsyncClient,
) -> None:
    """Without echo, a message posted by the same client does not end the wait."""
    me = caller_headers()
    listing = api.get(f"{QUEUE}/messages", params={"wait": 1}, headers=me)

    async def post_mine() -> None:
        await asyncio.sleep(0.2)
        await api.post(f"{QUEUE}/messages", json={"messages": [{"body": 1}]}, headers=me)

    (response, seconds), _ = await asyncio.gather(timed(listing), post_mine())

    assert response.json()["messages"] == []
    assert seconds > 0.9


async def test_each_waiting_consumer_gets_its_own_message(api: httpx.AsyncClient) -> None:
    claims = [api.post(f"{QUEUE}/claims", params={"wait": 10, "limit": 1}) for _ in range(3)]

    async def post_three() -> None:
        await asyncio.sleep(0.3)
        await post_bodies(api, "waiting", 1, 2, 3)

    responses, _ = await asyncio.gather(asyncio.gather(*claims), post_three())

    assert [response.status_code for response in responses] == [201] * 3
    bodies = sorted(response.json()["messages"][0]["body"] for response in responses)
    assert bodies == [1, 2, 3]


# The queue's default


async def test_the_queue_default_wait_applies_when_wait_is_absent(api: httpx.AsyncClient) -> None:
    await api.put(QUEUE, json={"_default_wait_seconds": 1})

    response, seconds = await timed(api.post(f"{QUEUE}/claims"))

    assert response.status_code == 204
    assert 0.9 < seconds < 1 + PROMPT


async def test_wait_zero_overrides_the_queue_default(api: httpx.AsyncClient) -> None:
    await api.put(QUEUE, json={"_default_wait_seconds": 20})

    response, seconds = await timed(api.get(f"{QUEUE}/messages", params={"wait": 0}))

    assert response.json()["messages"] == []
    assert seconds < PROMPT


async def test_the_default_wait_is_shown_with_the_queue(api: httpx.AsyncClient) -> None:
    await api.put(QUEUE, json={})
    assert (await api.get(QUEUE)).json()["_default_wait_seconds"] == 0

    patch = [{"op": "add", "path": "/metadata/_default_wait_seconds", "value": 5}]
    response = await api.patch(QUEUE, json=patch, headers={"Content-Type": JSON_PATCH})

    assert response.json()["_default_wait_seconds"] == 5


# Validation


@pytest.mark.parametrize("path", ["messages", "claims"])
@pytest.mark.parametrize(
    ("wait", "text"),
    [
        (21, 'The "wait" parameter must be at least 0 and no greater than 20 seconds.'),
        (-1, 'The "wait" parameter must be at least 0 and no greater than 20 seconds.'),
        ("soon", 'The "wait" parameter is invalid. The value must be an integer.'),
    ],
)
async def test_a_wait_out_of_range_is_400(
    api: httpx.AsyncClient, path: str, wait: Any, text: str
) -> None:
    method = "GET" if path == "messages" else "POST"

    response = await api.request(method, f"{QUEUE}/{path}", params={"wait": wait})

    assert_error(response, 400, None, text)


@pytest.mark.parametrize("value", [21, -1, "5", 2.5, True])
async def test_a_bad_default_wait_is_400(api: httpx.AsyncClient, value: Any) -> None:
    response = await api.put(QUEUE, json={"_default_wait_seconds": value})

    assert response.status_code == 400
    assert (await api.get(QUEUE)).json()["_default_wait_seconds"] == 0


async def test_a_crowd_of_waiting_consumers_shares_the_posts(api: httpx.AsyncClient) -> None:
    """A post wakes every waiter; they look again a few at a time, one claims, the others
    wait on (no 5xx from a storm of looks)."""
    claims = []
    for n in range(50):
        claims.append(
            asyncio.create_task(api.post(f"{QUEUE}/claims", params={"wait": 3, "limit": 1}))
        )
        if n % 20 == 19:
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)

    await post_bodies(api, "waiting", *range(5))
    responses = await asyncio.gather(*claims)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * 5 + [204] * 45
    claimed = [r.json()["messages"][0]["body"] for r in responses if r.status_code == 201]
    assert sorted(claimed) == [0, 1, 2, 3, 4]
