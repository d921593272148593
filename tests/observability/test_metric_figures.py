"""The figures behind /metrics: their exposition, and their sharing between processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from tests.conftest import eventually
from tests.observability.test_metrics import samples
from tidings.clock import FakeClock
from tidings.observability import metrics as metrics_module
from tidings.observability.metrics import (
    LATENCY_BUCKETS,
    SHARED_DIR,
    Backlog,
    BacklogReading,
    Figures,
    Metrics,
)
from tidings.storage.base import storage_from_url

LATENCIES = [0.0001, 0.0005, 0.0007, 0.002, 0.0035, 0.5, 10.0, 11.0]
"""Below, on and between bounds, and beyond the last."""


async def test_the_exposition_reads_as_the_prometheus_clients_own() -> None:
    # Given the same requests and storage calls recorded by tidings and by the Prometheus
    # client's metrics
    metrics = Metrics()
    registry = CollectorRegistry()
    counter = Counter("tidings_requests", "", ["operation", "status"], registry=registry)
    histogram = Histogram(
        "tidings_request_duration_seconds",
        "",
        ["operation", "status"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    storage_calls = Histogram(
        "tidings_storage_call_duration_seconds",
        "",
        ["call", "result", "pool"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    for operation, status in (("message_post", 201), ("message_get", 404)):
        for seconds in LATENCIES:
            metrics.observe(operation, status, seconds)
            counter.labels(operation, str(status)).inc()
            histogram.labels(operation, str(status)).observe(seconds)
    for call, result, pool in (
        ("messages_post_in_context", "ok", ""),
        ("message_get", "unavailable", "blue"),
    ):
        for seconds in LATENCIES:
            metrics.observe_storage_call(call, result, seconds, pool)
            storage_calls.labels(call, result, pool).observe(seconds)

    # When both are exposed
    ours = samples((await metrics.exposition())[0].decode())
    theirs = samples(generate_latest(registry).decode())

    # Then the samples are the same (but for the client's creation times)
    assert ours == {key: value for key, value in theirs.items() if "_created" not in key[0]}


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(SHARED_DIR, str(tmp_path))
    return tmp_path


async def shared_once(metrics: Metrics) -> None:
    """One write of the figures, as a stopping process leaves them."""
    sharing = asyncio.create_task(metrics.share())
    await asyncio.sleep(0)
    await stopped(sharing)


async def stopped(sharing: asyncio.Task[None]) -> None:
    sharing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sharing


def requests(text: str, operation: str) -> float:
    labels = (("operation", operation), ("status", "201"))
    return samples(text).get(("tidings_requests_total", labels), 0.0)


async def test_a_scrape_adds_the_figures_the_other_processes_shared(shared: Path) -> None:
    # Given two processes' figures, both shared, and requests since in the scraped one
    scraped, other = Metrics(), Metrics()
    for _ in range(2):
        scraped.observe("queue_create", 201, 0.001)
    for _ in range(3):
        other.observe("queue_create", 201, 0.001)
        other.observe_delivery("webhook", "delivered", 0.01)
        other.observe_storage_call("queue_create", "ok", 0.0002, "")
    await shared_once(scraped)
    await shared_once(other)
    scraped.observe("queue_create", 201, 0.001)

    # When the first is scraped
    text = (await scraped.exposition())[0].decode()

    # Then its own live figures count, and the other's shared ones
    assert len(shared_backlogs(shared)) == 2
    assert requests(text, "queue_create") == 3 + 3
    found = samples(text)
    delivered = (("kind", "webhook"), ("result", "delivered"))
    assert found["tidings_notification_deliveries_total", delivered] == 3
    assert (
        found["tidings_notification_delivery_duration_seconds_count", (("kind", "webhook"),)] == 3
    )
    created = (("call", "queue_create"), ("pool", ""), ("result", "ok"))
    assert found["tidings_storage_call_duration_seconds_count", created] == 3


def with_backlog(metrics: Metrics, free: int, read_at: float) -> Metrics:
    metrics.backlog = Backlog(storage_from_url("sqlite:///:memory:"), FakeClock(), 15.0)
    messages = {"total": free, "claimed": 0, "free": free, "delayed": 0}
    metrics.backlog.reading = BacklogReading(messages, 1.0, 1, read_at)
    return metrics


def shared_backlogs(directory: Path) -> list[BacklogReading | None]:
    return [
        Figures.from_json(orjson.loads(path.read_bytes())).backlog for path in directory.iterdir()
    ]


async def test_a_running_process_shares_its_backlog_and_a_stopped_one_takes_it_back(
    shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_module, "SHARE_INTERVAL", 0.01)
    running = with_backlog(Metrics(), free=2, read_at=200.0)
    sharing = asyncio.create_task(running.share())
    try:
        await eventually(lambda: any(shared.iterdir()))
        assert shared_backlogs(shared) == [running.backlog and running.backlog.reading]
    finally:
        await stopped(sharing)
    assert shared_backlogs(shared) == [None]


async def test_an_idle_process_writes_its_figures_again_only_once_they_change(
    shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_module, "SHARE_INTERVAL", 0.01)
    metrics = Metrics()
    metrics.observe("message_post", 201, 0.001)
    sharing = asyncio.create_task(metrics.share())
    try:
        await eventually(lambda: any(shared.glob("*.json")))
        first = written(shared)
        # When ten intervals pass with no request, the file stays as it was
        await asyncio.sleep(0.1)
        assert written(shared) == first
        # And once a request is recorded, the next write shows it
        metrics.observe("message_post", 201, 0.001)
        await eventually(lambda: written(shared) != first)
        assert requests(written(shared)[1], "message_post") == 2
    finally:
        await stopped(sharing)


def written(shared: Path) -> tuple[int, str]:
    """The one shared file's inode (each write replaces the file) and its exposition."""
    [path] = shared.glob("*.json")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Figures.from_json(orjson.loads(path.read_bytes())))
    return path.stat().st_ino, generate_latest(registry).decode()


def test_the_backlog_shown_is_the_latest_reading() -> None:
    figures = [
        Figures.of(with_backlog(Metrics(), free=free, read_at=read_at))
        for free, read_at in ((1, 100.0), (3, 300.0), (2, 200.0))
    ]

    merged = figures[0].merged(figures[1:])

    assert merged.backlog is not None
    assert merged.backlog.messages["free"] == 3
