"""Posting to a queue with 10 webhook subscribers costs about what posting to a queue with none
does: the post writes its delivery jobs and returns; it never waits for a delivery.

A benchmark, not a test of speed: it prints the p50/p99 latency of both and their ratio (the
target is a p99 within 2x), while the server's own worker delivers to a slow receiver (0.5 s
per request) in the same process. Run it with ``pytest -m bench tests/benchmarks -s``.
"""

from __future__ import annotations

import statistics
import time

import httpx
import pytest

from tests.conftest import caller_headers
from tests.notify.receivers import Receiver
from tests.servers.backends import storage_url
from tidings.app import build_app
from tidings.config import NotificationSettings, Settings, StorageSettings

pytestmark = [pytest.mark.bench, pytest.mark.timeout(900)]

SUBSCRIBERS = 10
ROUNDS = 300


async def timed_post(api: httpx.AsyncClient, queue: str, n: int) -> float:
    started = time.perf_counter()
    response = await api.post(f"/v2/queues/{queue}/messages", json={"messages": [{"body": n}]})
    elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.text
    return elapsed


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


@pytest.mark.parametrize("backend", ["sqlite-file", "redis", "postgres"])
async def test_post_with_ten_subscribers_does_not_wait_for_delivery(
    request: pytest.FixtureRequest, backend: str
) -> None:
    receiver = Receiver(delay=0.5)
    receiver.start()
    settings = Settings(
        storage=StorageSettings(url=storage_url(request, backend)),
        notification=NotificationSettings(poll_interval=0.05),
    )
    app = build_app(settings)
    transport = httpx.ASGITransport(app=app)
    samples: dict[str, list[float]] = {"quiet": [], "busy": []}
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=transport, base_url="http://bench", headers=caller_headers()
            ) as api,
        ):
            for n in range(SUBSCRIBERS):
                subscriber = f"{receiver.url}/{n}"
                response = await api.post(
                    "/v2/queues/busy/subscriptions", json={"subscriber": subscriber}
                )
                assert response.status_code == 201
            for n in range(ROUNDS):
                for queue in ("quiet", "busy"):
                    samples[queue].append(await timed_post(api, queue, n))
    finally:
        receiver.stop()
    quiet, busy = p99(samples["quiet"]), p99(samples["busy"])
    print(
        f"{backend:12} post p50 {statistics.median(samples['quiet']) * 1e3:6.2f} ms"
        f" / {statistics.median(samples['busy']) * 1e3:6.2f} ms with {SUBSCRIBERS} subscribers;"
        f" p99 {quiet * 1e3:6.2f} / {busy * 1e3:6.2f} ms; ratio {busy / quiet:4.2f}"
        f" ({len(receiver.hits)} deliveries meanwhile)"
    )
    assert busy < 0.5, "a post waited for a delivery"
