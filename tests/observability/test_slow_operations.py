"""An operation slower than ``observability.slow_operation_ms`` is logged at WARNING with its
ids and where its time went; a fast one, or a long poll that only waited, is not."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import threading
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import ServerProcess, caller_headers
from tests.observability.conftest import serve
from tests.processes import running
from tests.servers.redis import RedisServer
from tests.websocket.support import opened, serving
from tidings.clock import FakeClock
from tidings.config import ObservabilitySettings, Settings, StorageSettings
from tidings.models import QueueStats
from tidings.observability import Instruments
from tidings.observability.metrics import Metrics
from tidings.observability.slow import SlowOperations
from tidings.storage.sqlite import SQLiteStorage

SLOW_STORE_SECONDS = 0.3
STALL_SECONDS = 0.8
LOGGER = "tidings.observability.slow"


@pytest.fixture
def slow_queue_stats(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQLite store takes SLOW_STORE_SECONDS longer to count a queue's messages."""
    counted = SQLiteStorage.queue_stats

    async def slowly(self: SQLiteStorage, project: str, name: str, now: float) -> QueueStats:
        await asyncio.sleep(SLOW_STORE_SECONDS)
        return await counted(self, project, name, now)

    monkeypatch.setattr(SQLiteStorage, "queue_stats", slowly)


def _logging_slower_than(milliseconds: float) -> Settings:
    return Settings(
        storage=StorageSettings(url="sqlite:///:memory:"),
        observability=ObservabilitySettings(slow_operation_ms=milliseconds),
    )


def _logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == LOGGER]


@pytest.mark.parametrize("metrics", [Metrics(), None], ids=["with metrics", "without"])
@pytest.mark.usefixtures("slow_queue_stats")
async def test_a_slow_operation_is_logged_with_its_ids_and_its_storage_time(
    caplog: pytest.LogCaptureFixture, metrics: Metrics | None
) -> None:
    async with serve(Instruments(metrics, slow=SlowOperations(100))) as api:
        await api.put("/v2/queues/orders")
        response = await api.get("/v2/queues/orders/stats")

    [record] = _logged(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("slow operation queue_get_stats: ")
    ids = {key: getattr(record, key) for key in ("request_id", "operation", "project", "queue")}
    assert ids == {
        "request_id": response.headers["x-openstack-request-id"],
        "operation": "queue_get_stats",
        "project": "project-a",
        "queue": "orders",
    }
    assert record.__dict__["storage_calls"] >= 1
    assert record.__dict__["storage_ms"] >= SLOW_STORE_SECONDS * 1000
    assert record.__dict__["duration_ms"] >= record.__dict__["storage_ms"]
    assert record.__dict__["waited_ms"] == 0


async def test_a_fast_operation_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with serve(Instruments(Metrics(), slow=SlowOperations(1000))) as api:
        response = await api.post(
            "/v2/queues/orders/messages", json={"messages": [{"body": 1, "ttl": 60}]}
        )

    assert response.status_code == 201
    assert _logged(caplog) == []


async def test_a_long_polls_wait_is_not_counted_against_the_threshold(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serve(Instruments(Metrics(), slow=SlowOperations(300))) as api:
        response = await api.get("/v2/queues/orders/messages", params={"wait": 1})

    assert response.status_code in (200, 204)
    assert _logged(caplog) == []


async def test_a_long_poll_whose_client_left_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with (
        serving(_logging_slower_than(200), FakeClock()) as server,
        httpx.AsyncClient(base_url=server.url, headers=caller_headers()) as client,
    ):
        waiting = asyncio.create_task(client.get("/v2/queues/orders/messages?wait=15"))
        await asyncio.sleep(0.6)
        waiting.cancel()  # the client leaves; the server sees it and stops waiting
        await asyncio.sleep(0.5)

    assert _logged(caplog) == []


async def test_a_slow_long_poll_tells_its_wait_apart(caplog: pytest.LogCaptureFixture) -> None:
    async with serve(Instruments(slow=SlowOperations(1))) as api:
        await api.get("/v2/queues/orders/messages", params={"wait": 1})

    [record] = _logged(caplog)
    assert record.__dict__["waited_ms"] >= 900
    assert record.__dict__["duration_ms"] >= record.__dict__["waited_ms"]
    assert "ms waiting for messages" in record.getMessage()


@pytest.mark.usefixtures("slow_queue_stats")
async def test_a_slow_websocket_frame_is_logged_with_the_id_it_answered_with(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with (
        serving(_logging_slower_than(100), FakeClock()) as server,
        opened(f"ws://127.0.0.1:{server.port}/v2/ws") as ws,
    ):
        await ws.request("queue_create", {"queue_name": "orders"})
        answer = await ws.request("queue_get_stats", {"queue_name": "orders"})

    [record] = _logged(caplog)
    assert record.__dict__["request_id"] == answer["headers"]["X-OpenStack-Request-Id"]
    assert record.__dict__["operation"] == "queue_get_stats"


@pytest.mark.usefixtures("slow_queue_stats")
async def test_no_operation_is_logged_when_the_threshold_is_zero(
    caplog: pytest.LogCaptureFixture,
) -> None:
    instruments = Instruments.from_settings(ObservabilitySettings(slow_operation_ms=0))
    async with serve(instruments) as api:
        await api.put("/v2/queues/orders")
        response = await api.get("/v2/queues/orders/stats")

    assert response.status_code == 200
    assert instruments.slow is None
    assert _logged(caplog) == []


def test_a_store_that_stalls_shows_as_storage_time_in_the_log(
    redis_of_its_own: RedisServer, tmp_path: Path
) -> None:
    server = ServerProcess(
        database=tmp_path / "unused.db",
        storage_url=redis_of_its_own.url,
        env={
            "TIDINGS_OBSERVABILITY_SLOW_OPERATION_MS": "300",
            "TIDINGS_OBSERVABILITY_LOG_FORMAT": "json",
        },
    )
    redis = redis_of_its_own.process
    assert redis is not None
    with running(server), httpx.Client(base_url=server.url, headers=caller_headers()) as client:
        client.put("/v2/queues/orders").raise_for_status()
        # Given Redis stalls for STALL_SECONDS (its process stopped, then continued)
        redis.send_signal(signal.SIGSTOP)
        resume = threading.Timer(STALL_SECONDS, redis.send_signal, (signal.SIGCONT,))
        resume.start()
        try:
            # When a message is posted meanwhile
            posted = client.post("/v2/queues/orders/messages", json={"messages": [{"body": 1}]})
        finally:
            resume.join()

    # Then the post is answered, and logged as slow for the time its storage calls took
    assert posted.status_code == 201, posted.text
    lines = [orjson.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    [slow] = [line for line in lines if line["logger"] == LOGGER]
    assert slow["level"] == "WARNING"
    assert re.fullmatch(
        r"slow operation message_post: [\d.]+ ms, of which [\d.]+ ms in 1 storage call",
        slow["message"],
    ), slow["message"]
    assert slow["request_id"] == posted.headers["x-openstack-request-id"]
    assert (slow["operation"], slow["project"], slow["queue"]) == (
        "message_post",
        "project-a",
        "orders",
    )
    assert slow["storage_ms"] >= STALL_SECONDS * 1000 * 0.9
    assert slow["duration_ms"] - slow["storage_ms"] < 100  # the rest of the post is quick
