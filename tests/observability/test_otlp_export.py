"""``tidings serve`` with tracing on sends its spans over OTLP/HTTP: a receiver on a loopback
port decodes what arrives as the OpenTelemetry protocol's own ``ExportTraceServiceRequest``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.conftest import ServerProcess, caller_headers
from tests.notify.receivers import Receiver
from tests.processes import running

PROJECT = "traced-project"


@pytest.fixture
def collector() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def _exported(collector: Receiver) -> list[tuple[str, Span]]:
    """Every span the collector received, with the service name it came under."""
    spans = []
    for hit in collector.hits:
        assert hit.headers["content-type"] == "application/x-protobuf"
        for resource_spans in ExportTraceServiceRequest.FromString(hit.body).resource_spans:
            service = _attributes(list(resource_spans.resource.attributes))["service.name"]
            for scope_spans in resource_spans.scope_spans:
                spans += [(service, span) for span in scope_spans.spans]
    return spans


def _attributes(pairs: list[KeyValue]) -> dict[str, str]:
    return {pair.key: pair.value.string_value for pair in pairs}


def _named(spans: list[tuple[str, Span]], name: str) -> Span:
    found = [span for _, span in spans if span.name == name]
    assert len(found) == 1, f"{name!r} among {sorted(span.name for _, span in spans)}"
    return found[0]


def test_a_post_is_exported_as_one_trace_of_request_operation_and_storage_spans(
    tmp_path: Path, collector: Receiver
) -> None:
    server = ServerProcess(
        database=tmp_path / "traced.db",
        env={
            "TIDINGS_OBSERVABILITY_TRACING": "true",
            "TIDINGS_OBSERVABILITY_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.port}/v1/traces",
            "TIDINGS_OBSERVABILITY_SERVICE_NAME": "tidings-under-test",
        },
    )
    with running(server):
        # Given a server with tracing on, When a message is posted
        response = httpx.post(
            f"{server.url}/v2/queues/orders/messages",
            json={"messages": [{"body": "traced"}]},
            headers=caller_headers(PROJECT),
            timeout=10,
        )
        assert response.status_code == 201

    # Then, once it stopped (a worker exports what it still holds as it exits), its spans
    # reached the collector, under the configured service name
    spans = _exported(collector)
    assert {service for service, _ in spans} == {"tidings-under-test"}
    request = _named(spans, "POST /v2/queues/orders/messages")
    operation = _named(spans, "message_post")
    storage = _named(spans, "storage.messages_post_in_context")

    # With the operation's attributes, and all three in one trace, each inside the one before
    assert request.kind == Span.SpanKind.SPAN_KIND_SERVER
    assert _attributes(list(operation.attributes)) == {
        "tidings.operation": "message_post",
        "tidings.project": PROJECT,
        "tidings.queue": "orders",
        "tidings.request_id": response.headers["x-openstack-request-id"],
    }
    assert request.trace_id == operation.trace_id == storage.trace_id
    assert operation.parent_span_id == request.span_id
    assert storage.parent_span_id == operation.span_id
