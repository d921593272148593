"""Structured logs: the request's ids travel in ``extra``; JSON output shows them."""

from __future__ import annotations

import logging

import orjson
import pytest

from tests.observability.conftest import serve
from tidings.config import ConfigError, load_settings
from tidings.observability import Instruments
from tidings.observability.logs import JsonFormatter


async def test_each_request_is_logged_with_its_ids(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tidings.observability")
    async with serve(Instruments()) as api:
        response = await api.put("/v2/queues/orders")

    [record] = [r for r in caplog.records if r.name == "tidings.observability.asgi"]
    extra = {key: getattr(record, key) for key in ("request_id", "project", "queue", "status")}
    assert extra == {
        "request_id": response.headers["x-openstack-request-id"],
        "project": "project-a",
        "queue": "orders",
        "status": 201,
    }


def test_json_lines_carry_the_extra_fields() -> None:
    record = logging.LogRecord("tidings", logging.WARNING, __file__, 1, "slow %s", ("call",), None)
    record.request_id = "req-1"
    record.queue = "orders"

    line = orjson.loads(JsonFormatter().format(record))

    assert line["message"] == "slow call"
    assert line["level"] == "WARNING"
    assert (line["request_id"], line["queue"]) == ("req-1", "orders")
    assert "project" not in line


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ConfigError, match="log_format"):
        load_settings(None, {"TIDINGS_OBSERVABILITY_LOG_FORMAT": "xml"})
