"""With pools, each store's calls are labelled with their pool: in the storage histogram, and
in the storage spans, which carry the pool's own backend."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.observability.conftest import serve
from tests.observability.test_metrics import sample, storage_calls_of
from tidings.config import AuthSettings, NotificationSettings, Settings, StorageSettings
from tidings.observability import Instruments
from tidings.observability.metrics import Metrics
from tidings.observability.tracing import Tracing

ADMIN = {"X-Roles": "admin"}


async def test_calls_to_a_pool_are_labelled_with_it(tmp_path: Path, redis_url: str) -> None:
    # Given a server on SQLite with metrics and tracing on, a queue made before any pool,
    # then a pool on Redis, which takes every new queue
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    settings = Settings(
        storage=StorageSettings(url=f"sqlite:///{tmp_path / 'default.db'}"),
        auth=AuthSettings(trust_role_headers=True),
        notification=NotificationSettings(workers=0),
    )
    instruments = Instruments(Metrics(), Tracing(provider), backlog_interval=0)
    async with serve(instruments, settings) as api:
        assert (await api.put("/v2/queues/before")).status_code == 201
        pool = await api.put("/v2/pools/blue", json={"uri": redis_url, "weight": 1}, headers=ADMIN)
        assert pool.status_code == 201, pool.text
        spans.clear()

        # When a message is posted to that queue and to a new one
        for queue in ("before", "after"):
            posted = await api.post(
                f"/v2/queues/{queue}/messages", json={"messages": [{"body": 1}]}
            )
            assert posted.status_code == 201, posted.text
        text = (await api.get("/metrics")).text

    # Then the histogram counts each post's calls under its store: the default storage (an
    # empty pool) and the pool
    assert storage_calls_of(text, "messages_post", "ok", pool="") == 1
    assert storage_calls_of(text, "messages_post", "ok", pool="blue") == 1

    # And the backlog, read from both stores for the scrape, is not counted as their traffic
    assert sample(text, "tidings_backlog_queues") == 2
    assert storage_calls_of(text, "queue_stats", "ok", pool="") == 0
    assert storage_calls_of(text, "queue_stats", "ok", pool="blue") == 0
    assert not [span for span in spans.get_finished_spans() if "queue_stats" in span.name]

    # And each post's span names the backend that stored it, and the pool when there is one
    posts = [
        span.attributes
        for span in spans.get_finished_spans()
        if span.name == "storage.messages_post"
    ]
    assert [dict(attributes or {}) for attributes in posts] == [
        {
            "db.system.name": "sqlite",
            "db.operation.name": "messages_post",
            "tidings.project": "project-a",
            "tidings.queue": "before",
        },
        {
            "db.system.name": "redis",
            "tidings.pool": "blue",
            "db.operation.name": "messages_post",
            "tidings.project": "project-a",
            "tidings.queue": "after",
        },
    ]
