"""Prometheus metrics at /metrics: requests and latency by operation and status, backlog."""

from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerProcess, caller_headers, eventually, opened
from tests.notify.conftest import post, serving, subscribe
from tests.notify.receivers import Receiver
from tests.observability.conftest import serve
from tests.processes import running
from tests.servers.redis import RedisServer
from tidings.clock import FakeClock
from tidings.config import Settings, StorageSettings
from tidings.observability import Instruments
from tidings.observability.metrics import SHARE_INTERVAL, Metrics
from tidings.observability.storage import timed
from tidings.storage.base import storage_from_url


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Sample name and sorted labels to value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample, 0 when there is none."""
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def requests_of(text: str, operation: str, status: str) -> float:
    return sample(text, "tidings_requests_total", operation=operation, status=status)


async def test_requests_are_counted_by_operation_and_status() -> None:
    async with serve(Instruments(Metrics(), backlog_interval=0)) as api:
        # Given two posts, a missing message and an unknown path
        for _ in range(2):
            await api.post("/v2/queues/q/messages", json={"messages": [{"body": 1}]})
        await api.get("/v2/queues/q/messages/nope")
        await api.get("/nowhere")

        # When Prometheus scrapes
        response = await api.get("/metrics")

    # Then each outcome is a counter, and its latency a histogram
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert requests_of(response.text, "message_post", "201") == 2
    assert requests_of(response.text, "message_get", "404") == 1
    assert requests_of(response.text, "other", "404") == 1
    count = "tidings_request_duration_seconds_count"
    assert sample(response.text, count, operation="message_post", status="201") == 2


def storage_calls_of(text: str, call: str, result: str, pool: str = "") -> float:
    """How many calls the histogram counted (``pool`` empty: the default storage's)."""
    count = "tidings_storage_call_duration_seconds_count"
    return sample(text, count, call=call, result=result, pool=pool)


async def test_storage_calls_are_timed_by_call_and_result() -> None:
    async with serve(Instruments(Metrics(), backlog_interval=0)) as api:
        # Given two posts, a claim, and a delete of the claimed message without its claim
        for _ in range(2):
            await api.post("/v2/queues/q/messages", json={"messages": [{"body": 1}]})
        claimed = await api.post("/v2/queues/q/claims?limit=1", json={"ttl": 60, "grace": 60})
        href = claimed.json()["messages"][0]["href"].partition("?")[0]
        refused = await api.delete(href)

        # When Prometheus scrapes
        text = (await api.get("/metrics")).text

    # Then each storage call is in the histogram of its call and result
    assert refused.status_code == 403
    assert storage_calls_of(text, "messages_post_in_context", "ok") == 2
    assert storage_calls_of(text, "claim_create", "ok") == 1
    assert storage_calls_of(text, "message_delete", "refused") == 1
    seconds = sample(
        text,
        "tidings_storage_call_duration_seconds_sum",
        call="messages_post_in_context",
        result="ok",
        pool="",
    )
    assert 0 < seconds < 1


async def test_a_long_poll_whose_caller_left_is_not_counted() -> None:
    # Given a store whose calls are timed, and two waits for a post: one that ends by itself
    # and one cancelled while it waits, as when a long poll's client disconnects
    metrics = Metrics()
    storage = timed(
        storage_from_url("sqlite:///:memory:"), partial(metrics.observe_storage_call, pool="")
    )
    async with opened(storage):
        await storage.watch("project-a", "q", 0.01)  # its first wait may end at once: a hint
        waiting = asyncio.create_task(storage.watch("project-a", "q", 10.0))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    # Then only the wait that ended is counted
    text = (await metrics.exposition())[0].decode()
    assert storage_calls_of(text, "watch", "ok") == 1
    assert storage_calls_of(text, "watch", "error") == 0


async def test_a_store_that_cannot_be_reached_shows_as_unavailable(tmp_path: Path) -> None:
    # Given a server on a private Redis that stops after the first post
    redis_server = RedisServer(tmp_path)
    with running(redis_server):
        settings = Settings(storage=StorageSettings(url=redis_server.url))
        async with serve(Instruments(Metrics(), backlog_interval=0), settings) as api:
            first = await api.post("/v2/queues/q/messages", json={"messages": [{"body": 1}]})
            redis_server.kill()

            # When a post finds it gone, and Prometheus scrapes
            second = await api.post("/v2/queues/q/messages", json={"messages": [{"body": 2}]})
            text = (await api.get("/metrics")).text

    # Then the post's storage call shows as unavailable, as the request's 503 does, and
    # the backlog, which cannot be read, is left out
    assert (first.status_code, second.status_code) == (201, 503)
    assert "tidings_backlog_messages" not in text
    assert storage_calls_of(text, "messages_post_in_context", "ok") == 1
    assert storage_calls_of(text, "messages_post_in_context", "unavailable") == 1
    assert requests_of(text, "message_post", "503") == 1


async def test_backlog_gauges_sum_the_queues_seen() -> None:
    async with serve(Instruments(Metrics(), backlog_interval=0)) as api:
        await api.post("/v2/queues/a/messages", json={"messages": [{"body": 1}, {"body": 2}]})
        await api.post("/v2/queues/b/messages", json={"messages": [{"body": 3}]})
        await api.post("/v2/queues/b/claims?limit=1")

        text = (await api.get("/metrics")).text

    found = samples(text)
    assert found["tidings_backlog_messages", (("state", "total"),)] == 3
    assert found["tidings_backlog_messages", (("state", "claimed"),)] == 1
    assert found["tidings_backlog_messages", (("state", "free"),)] == 2
    assert found["tidings_backlog_queues", ()] == 2


async def test_metrics_can_be_switched_off() -> None:
    async with serve(Instruments()) as api:
        response = await api.get("/metrics")

    assert response.status_code == 404


def test_workers_share_their_counts(tmp_path: Path) -> None:
    # Given a server with two worker processes
    with running(ServerProcess(database=tmp_path / "tidings.db", workers=2)) as server:
        headers = caller_headers()
        with httpx.Client(base_url=server.url, headers=headers) as http:
            # When requests, each on a connection of its own, land on whichever worker
            # accepts them, until both have answered (by their request ids, a prefix per
            # process; a worker still starting accepts none) and 20 are made
            workers: set[str] = set()
            sent = 0
            deadline = time.monotonic() + 30
            while len(workers) < 2 or sent < 20:
                assert time.monotonic() < deadline, f"{workers} answered all {sent} requests"
                answer = http.put("/v2/queues/shared", headers={"Connection": "close"})
                workers.add(answer.headers["X-OpenStack-Request-Id"][: len("req-") + 18])
                sent += 1
            # Then any worker reports the sum of both, once the other has shared its figures:
            # the requests, and the storage calls they made
            deadline = time.monotonic() + 10 * SHARE_INTERVAL
            while (created := queues_created(text := http.get("/metrics").text)) < sent:
                assert time.monotonic() < deadline, f"{created} of {sent} requests reported"
                time.sleep(SHARE_INTERVAL / 10)

    assert created == sent
    assert storage_calls_of(text, "queue_create", "ok") == sent


def queues_created(text: str) -> float:
    return requests_of(text, "queue_create", "201") + requests_of(text, "queue_create", "204")


def deliveries_of(text: str, kind: str, result: str) -> float:
    return sample(text, "tidings_notification_deliveries_total", kind=kind, result=result)


async def test_notification_deliveries_are_counted_by_kind_and_result(clock: FakeClock) -> None:
    # Given three webhooks: one that takes the notification, one that refuses it (a 4xx: no
    # retry) and one that fails once (a 5xx: retried, at once by the default policy)
    receivers = [Receiver(answers=[answer]) for answer in (200, 400, 500)]
    with contextlib.ExitStack() as stack:
        for receiver in receivers:
            stack.enter_context(receiver)
        async with serving(clock) as api:
            for receiver in receivers:
                await subscribe(api, "/v2/queues/fizbit", receiver.url)
            # When a message is posted and the failing webhook got its second request
            await post(api, "/v2/queues/fizbit", "news")
            await eventually(lambda: len(receivers[2].hits) == 2)
            # Then each attempt is counted by its result once its outcome is stored
            text = ""
            for _ in range(100):
                text = (await api.get("/metrics")).text
                if deliveries_of(text, "webhook", "delivered") == 2:
                    break
                await asyncio.sleep(0.05)

    assert deliveries_of(text, "webhook", "delivered") == 2
    assert deliveries_of(text, "webhook", "dead") == 1
    assert deliveries_of(text, "webhook", "retried") == 1
    count = ("tidings_notification_delivery_duration_seconds_count", (("kind", "webhook"),))
    assert samples(text)[count] == 4
