"""The Redis driver sends the script calls of a few event-loop turns together, in one
pipeline: each call still gets its own answer or its own error, and a script the server lost
is loaded and run again."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.messages import new
from tests.servers.redis import RedisServer
from tidings import errors
from tidings.storage.redis import DEADLINE, RedisStorage, parse_url

PROJECT = "project-a"
NOW = 1_700_000_000.0


async def test_calls_made_together_each_get_their_own_answer(redis_storage: RedisStorage) -> None:
    queues = [f"q{n}" for n in range(20)]
    posted = await asyncio.gather(
        *(redis_storage.messages_post(PROJECT, queue, new(queue), NOW) for queue in queues)
    )

    pages = await asyncio.gather(
        *(
            redis_storage.messages_get(PROJECT, queue, ids, NOW)
            for queue, ids in zip(queues, posted, strict=True)
        )
    )

    assert [[message.body for message in page] for page in pages] == [[q] for q in queues]


async def test_calls_made_in_two_following_turns_of_the_loop_go_in_one_pipeline(
    redis_storage: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a queue, and the driver's pipelines counted
    await redis_storage.queue_create(PROJECT, "q", {}, NOW)
    pipelines = []
    make = redis_storage._client.pipeline

    def counted(transaction: bool) -> object:
        pipelines.append(transaction)
        return make(transaction=transaction)

    monkeypatch.setattr(redis_storage._client, "pipeline", counted)

    # When a post is made, and another one turn of the loop later
    first = asyncio.ensure_future(redis_storage.messages_post(PROJECT, "q", new(0), NOW))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(redis_storage.messages_post(PROJECT, "q", new(1), NOW))
    await asyncio.gather(first, second)

    # Then they went to Redis together
    assert len(pipelines) == 1
    assert (await redis_storage.queue_stats(PROJECT, "q", NOW)).free == 2


async def test_a_refusal_stays_with_its_own_call(redis_storage: RedisStorage) -> None:
    [message_id] = await redis_storage.messages_post(PROJECT, "q", new("x"), NOW)
    claim = await redis_storage.claim_create(PROJECT, "q", 60, 60, 1, NOW)
    assert claim is not None

    refused, found = await asyncio.gather(
        redis_storage.message_delete(PROJECT, "q", message_id, None, NOW),  # claimed: refused
        redis_storage.messages_get(PROJECT, "q", [message_id], NOW),
        return_exceptions=True,
    )

    assert isinstance(refused, errors.TidingsError)
    assert [message.id for message in found] == [message_id]  # type: ignore[union-attr]


async def test_scripts_the_server_lost_are_loaded_again(
    redis_storage: RedisStorage, redis_url: str
) -> None:
    await redis_storage.messages_post(PROJECT, "q", new("before"), NOW)
    admin = Redis.from_url(redis_url)
    try:
        await admin.script_flush()
    finally:
        await admin.aclose()

    await asyncio.gather(
        *(redis_storage.messages_post(PROJECT, "q", new(n), NOW) for n in range(5))
    )

    stats = await redis_storage.queue_stats(PROJECT, "q", NOW)
    assert stats.free == 6


async def test_calls_made_together_fail_within_the_deadline_when_redis_stops_answering(
    tmp_path: Path,
) -> None:
    # Given the driver on a Redis of its own, holding a message
    server = RedisServer(tmp_path)
    server.start()
    assert server.process is not None
    storage = RedisStorage(parse_url(server.url))
    await storage.open()
    try:
        [message_id] = await storage.messages_post(PROJECT, "q", new("x"), NOW)

        # When Redis stops answering (paused, its connections left open) and calls are made
        server.process.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(storage.messages_get(PROJECT, "q", [message_id], NOW) for _ in range(3)),
            storage.messages_post(PROJECT, "q", new("y"), NOW),
            return_exceptions=True,
        )
        waited = time.monotonic() - started

        # Then each fails as unavailable once the deadline has passed, not later
        assert [type(outcome) for outcome in outcomes] == [errors.StorageUnavailable] * 4
        assert DEADLINE <= waited < DEADLINE + 1.0
    finally:
        server.process.send_signal(signal.SIGCONT)
        await storage.close()
        server.stop()
