"""Two server processes on one store, eight consumers: each message is delivered exactly once."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, caller_headers
from tests.processes import running
from tests.servers.backends import storage_url

PROJECT = "busy-project"
QUEUE = "work"
MESSAGES = 10_000
BATCH = 10
PRODUCERS = 8
CONSUMERS = 8
CLAIM_TTL = 300
"""Far longer than the test: a message seen twice was handed to two live claims."""


async def produce(clients: list[httpx.AsyncClient], batches: list[list[int]]) -> None:
    async def producer(number: int) -> None:
        client = clients[number % len(clients)]
        for batch in batches[number::PRODUCERS]:
            messages = [{"body": sequence, "ttl": 3600} for sequence in batch]
            response = await client.post(
                f"/v2/queues/{QUEUE}/messages", json={"messages": messages}
            )
            assert response.status_code == 201, response.text

    await asyncio.gather(*(producer(number) for number in range(PRODUCERS)))


async def consume(clients: list[httpx.AsyncClient]) -> Counter[int]:
    """Claim and delete until the queue is empty; count how often each body was handed out."""
    seen: Counter[int] = Counter()

    async def consumer(number: int) -> None:
        client = clients[number % len(clients)]
        while True:
            response = await client.post(
                f"/v2/queues/{QUEUE}/claims",
                params={"limit": BATCH},
                json={"ttl": CLAIM_TTL, "grace": 60},
            )
            if response.status_code == 204:
                return
            assert response.status_code == 201, response.text
            claim_id = response.headers["location"].rsplit("/", 1)[1]
            messages = response.json()["messages"]
            seen.update(message["body"] for message in messages)
            ids = ",".join(message["id"] for message in messages)
            deleted = await client.delete(
                f"/v2/queues/{QUEUE}/messages", params={"ids": ids, "claim_ids": claim_id}
            )
            assert deleted.status_code == 204, deleted.text

    await asyncio.gather(*(consumer(number) for number in range(CONSUMERS)))
    return seen


@pytest.mark.parametrize("backend", ["sqlite-file", "redis", "redis-cluster", "postgres"])
async def test_each_message_is_delivered_once_across_processes(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    # Given two server processes sharing one store
    url = storage_url(request, backend)
    servers = [ServerProcess(database=tmp_path / "server.db", storage_url=url) for _ in range(2)]
    with contextlib.ExitStack() as started:
        for server in servers:
            started.enter_context(running(server))
        clients = [
            httpx.AsyncClient(base_url=server.url, headers=caller_headers(PROJECT), timeout=30)
            for server in servers
        ]
        try:
            # When producers post 10,000 messages through both, and then eight consumers
            # claim and delete through both until nothing is left
            sequences = list(range(MESSAGES))
            await produce(clients, [sequences[i : i + BATCH] for i in range(0, MESSAGES, BATCH)])
            seen = await consume(clients)

            # Then every message was handed out exactly once, and none is left
            assert set(seen) == set(sequences)
            assert [body for body, times in seen.items() if times > 1] == []
            stats = await clients[0].get(f"/v2/queues/{QUEUE}/stats")
            assert stats.json()["messages"]["total"] == 0
        finally:
            for client in clients:
                await client.aclose()
