"""``tidings serve`` with tracing on sends its spans over OTLP/HTTP: a receiver on a loopback
port decodes what arrives as the OpenTelemetry protocol's own ``ExportTraceServiceRequest``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.conftest import ServerProcess, caller_headers

PROJECT = "traced-project"


class Receiver(ThreadingHTTPServer):
    """Keeps the service name and spans of every export request posted to /v1/traces."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ExportHandler)
        self.spans: list[tuple[str, Span]] = []
        self.received = threading.Condition()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/traces"

    def keep(self, request: ExportTraceServiceRequest) -> None:
        with self.received:
            for resource_spans in request.resource_spans:
                service = _attributes(resource_spans.resource.attributes)["service.name"]
                for scope_spans in resource_spans.scope_spans:
                    self.spans += [(service, span) for span in scope_spans.spans]
            self.received.notify_all()

    def wait_for(self, name: str, timeout: float) -> None:
        with self.received:
            if not self.received.wait_for(lambda: name in self.names(), timeout):
                pytest.fail(f"no span {name!r} exported; got {sorted(self.names())}")

    def names(self) -> set[str]:
        return {span.name for _, span in self.spans}

    def named(self, name: str) -> Span:
        [span] = [span for _, span in self.spans if span.name == name]
        return span


class _ExportHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/traces" or self.headers["Content-Type"] != "application/x-protobuf":
            self.send_error(415)
            return
        self.server.keep(ExportTraceServiceRequest.FromString(body))
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _attributes(pairs: list[KeyValue]) -> dict[str, str]:
    return {pair.key: pair.value.string_value for pair in pairs}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_post_is_exported_as_one_trace_of_request_operation_and_storage_spans(
    tmp_path: Path, receiver: Receiver
) -> None:
    server = ServerProcess(
        database=tmp_path / "traced.db",
        env={
            "TIDINGS_OBSERVABILITY_TRACING": "true",
            "TIDINGS_OBSERVABILITY_OTLP_ENDPOINT": receiver.endpoint,
            "TIDINGS_OBSERVABILITY_SERVICE_NAME": "tidings-under-test",
        },
    )
    server.start()
    try:
        # Given a server with tracing on, When a message is posted
        response = httpx.post(
            f"{server.url}/v2/queues/orders/messages",
            json={"messages": [{"body": "traced"}]},
            headers=caller_headers(PROJECT),
            timeout=10,
        )
        assert response.status_code == 201
    finally:
        server.stop()  # a worker exports what it still holds as it stops

    # Then its spans reach the receiver, under the configured service name
    receiver.wait_for("message_post", timeout=10)
    operation = receiver.named("message_post")
    request = receiver.named("POST /v2/queues/orders/messages")
    storage = receiver.named("storage.messages_post_in_context")
    assert {service for service, _ in receiver.spans} == {"tidings-under-test"}

    # With the operation's attributes, and all three in one trace, each inside the one before
    assert request.kind == Span.SpanKind.SPAN_KIND_SERVER
    assert _attributes(list(operation.attributes)) == {
        "tidings.operation": "message_post",
        "tidings.project": PROJECT,
        "tidings.queue": "orders",
    }
    assert request.trace_id == operation.trace_id == storage.trace_id
    assert operation.parent_span_id == request.span_id
    assert storage.parent_span_id == operation.span_id
