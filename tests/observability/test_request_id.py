"""Every response carries an X-OpenStack-Request-Id, errors and crashes included."""

from __future__ import annotations

import httpx
import pytest

from tests.observability.conftest import serve
from tests.websocket.support import opened, serving
from tidings.clock import FakeClock
from tidings.config import Settings, StorageSettings
from tidings.observability import Instruments
from tidings.service.queues import QueueService


def _request_id(headers: httpx.Headers) -> str:
    return headers["x-openstack-request-id"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v2/ping", 204),
        ("GET", "/v2/queues/bad name!/stats", 400),
        ("GET", "/v2/queues/q/messages/nope", 404),
        ("GET", "/nowhere", 404),
        ("PUT", "/v2/queues", 405),
    ],
)
async def test_responses_carry_a_request_id(method: str, path: str, status: int) -> None:
    async with serve(Instruments()) as api:
        response = await api.request(method, path)

    assert response.status_code == status
    assert _request_id(response.headers).startswith("req-")


async def test_each_request_gets_its_own_id() -> None:
    async with serve(Instruments()) as api:
        first = await api.get("/v2/ping")
        second = await api.get("/v2/ping")

    assert _request_id(first.headers) != _request_id(second.headers)


@pytest.fixture
def crashing_queue_delete(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting a queue raises an error no layer expects."""

    async def crash(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(QueueService, "delete", crash)


@pytest.mark.usefixtures("crashing_queue_delete")
async def test_a_crash_carries_the_id_it_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with serve(Instruments()) as api:
        response = await api.delete("/v2/queues/q")

    assert response.status_code == 500
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.request_id == _request_id(response.headers)  # type: ignore[attr-defined]
    assert (record.project, record.queue) == ("project-a", "q")  # type: ignore[attr-defined]


@pytest.mark.usefixtures("crashing_queue_delete")
async def test_a_websocket_crash_carries_the_id_it_logged(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(storage=StorageSettings(url="sqlite:///:memory:"))
    async with (
        serving(settings, FakeClock()) as server,
        opened(f"ws://127.0.0.1:{server.port}/v2/ws") as ws,
    ):
        answer = await ws.request("queue_delete", {"queue_name": "q"})

    assert answer["headers"]["status"] == 500
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.request_id == answer["headers"]["X-OpenStack-Request-Id"]  # type: ignore[attr-defined]
    assert record.operation == "queue_delete"  # type: ignore[attr-defined]
