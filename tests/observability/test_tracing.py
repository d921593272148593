"""Spans for the request, the operation and every storage call, with their attributes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.api.support import JSON_PATCH
from tests.observability.conftest import serve
from tests.websocket.support import opened, serving
from tidings.clock import FakeClock
from tidings.config import ObservabilitySettings, Settings, StorageSettings
from tidings.context import anonymous
from tidings.observability import Instruments
from tidings.observability.tracing import Tracing
from tidings.storage.base import storage_from_url


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    yield memory
    memory.clear()


def tracing(exporter: InMemorySpanExporter) -> Instruments:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Instruments(tracing=Tracing(provider))


def named(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [span] = [span for span in spans if span.name == name]
    return span


async def test_a_post_makes_request_operation_and_storage_spans(
    exporter: InMemorySpanExporter,
) -> None:
    async with serve(tracing(exporter)) as api:
        exporter.clear()  # forget the start-up
        response = await api.post("/v2/queues/orders/messages", json={"messages": [{"body": 1}]})

    spans = exporter.get_finished_spans()
    request = next(span for span in spans if span.kind == SpanKind.SERVER)
    operation = named(spans, "message_post")
    storage = named(spans, "storage.messages_post_in_context")

    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 201
    assert request.attributes["tidings.request_id"] == response.headers["x-openstack-request-id"]
    assert operation.attributes == {
        "tidings.operation": "message_post",
        "tidings.project": "project-a",
        "tidings.queue": "orders",
        "tidings.request_id": response.headers["x-openstack-request-id"],
    }
    assert storage.attributes is not None
    assert storage.attributes["tidings.project"] == "project-a"
    assert storage.attributes["tidings.queue"] == "orders"
    assert storage.attributes["db.system.name"] == "sqlite"
    assert storage.kind == SpanKind.CLIENT
    # One trace: request > operation > storage calls
    assert operation.parent is not None
    assert request.context is not None
    assert operation.parent.span_id == request.context.span_id
    assert storage.parent is not None
    assert operation.context is not None
    assert storage.parent.span_id == operation.context.span_id


async def test_a_websocket_frame_is_traced_under_the_request_id_of_its_answer(
    exporter: InMemorySpanExporter,
) -> None:
    settings = Settings(storage=StorageSettings(url="sqlite:///:memory:"))
    async with (
        serving(settings, FakeClock(), tracing(exporter)) as server,
        opened(f"ws://127.0.0.1:{server.port}/v2/ws") as ws,
    ):
        exporter.clear()  # forget the start-up
        answer = await ws.request(
            "message_post", {"queue_name": "orders", "messages": [{"body": 1}]}
        )

    spans = exporter.get_finished_spans()
    operation = named(spans, "message_post")
    storage = named(spans, "storage.messages_post_in_context")

    assert answer["headers"]["status"] == 201
    assert operation.attributes is not None
    assert operation.attributes["tidings.request_id"] == answer["headers"]["X-OpenStack-Request-Id"]
    assert operation.attributes["tidings.queue"] == "orders"
    assert storage.parent is not None
    assert operation.context is not None
    assert storage.parent.span_id == operation.context.span_id


async def test_every_storage_call_of_an_operation_is_traced(
    exporter: InMemorySpanExporter,
) -> None:
    async with serve(tracing(exporter)) as api:
        await api.put("/v2/queues/q")
        exporter.clear()
        patch = [{"op": "add", "path": "/metadata/a", "value": 1}]
        response = await api.patch("/v2/queues/q", json=patch, headers={"Content-Type": JSON_PATCH})

    assert response.status_code == 200
    names = [span.name for span in exporter.get_finished_spans()]
    assert "storage.queue_get_metadata" in names
    assert "storage.queue_set_metadata" in names


async def test_a_caller_trace_is_continued(exporter: InMemorySpanExporter) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with serve(tracing(exporter)) as api:
        exporter.clear()
        await api.get("/v2/ping", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})

    request = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER)
    assert request.context is not None
    assert f"{request.context.trace_id:032x}" == trace_id


async def test_a_failing_storage_call_records_its_error(exporter: InMemorySpanExporter) -> None:
    async with serve(tracing(exporter)) as api:
        posted = await api.post("/v2/queues/q/messages", json={"messages": [{"body": 1}]})
        message_id = posted.json()["resources"][0].rsplit("/", 1)[1]
        await api.post("/v2/queues/q/claims")
        exporter.clear()
        response = await api.delete(f"/v2/queues/q/messages/{message_id}")  # no claim id

    assert response.status_code == 403
    storage = named(exporter.get_finished_spans(), "storage.message_delete")
    assert storage.status.status_code == StatusCode.ERROR
    assert [event.name for event in storage.events] == ["exception"]


def test_tracing_metrics_and_slow_operations_off_leave_the_storage_unwrapped() -> None:
    storage = storage_from_url("sqlite:///:memory:")

    instruments = Instruments.from_settings(
        ObservabilitySettings(metrics=False, slow_operation_ms=0)
    )

    assert instruments.watch(storage, "sqlite:///:memory:", "") is storage
    spans = (
        instruments.operation("message_post", anonymous("req-1"), "q"),
        instruments.operation("x", anonymous("req-2"), None),
    )
    assert spans[0] is spans[1]
