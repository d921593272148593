"""A store that goes away: clear 503s within two seconds, then recovery without a restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, caller_headers
from tests.processes import running
from tests.reliability.support import private_backend

QUEUE = "outage"
ANSWER_WITHIN = 2.0
RECOVER_WITHIN = 20.0

Call = Callable[[httpx.Client], httpx.Response]
CALLS: dict[str, Call] = {
    "post": lambda c: c.post(f"/v2/queues/{QUEUE}/messages", json={"messages": [{"body": 1}]}),
    "list": lambda c: c.get(f"/v2/queues/{QUEUE}/messages", params={"echo": "true"}),
    "claim": lambda c: c.post(f"/v2/queues/{QUEUE}/claims", json={"ttl": 60, "grace": 60}),
    "stats": lambda c: c.get(f"/v2/queues/{QUEUE}/stats"),
    "queues": lambda c: c.get("/v2/queues"),
}


def post_until_accepted(client: httpx.Client) -> float:
    """Seconds until a post is accepted again."""
    started = time.monotonic()
    while time.monotonic() - started < RECOVER_WITHIN:
        if CALLS["post"](client).status_code == 201:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"no recovery within {RECOVER_WITHIN} s")


@pytest.mark.parametrize("backend", ["redis", "redis-cluster", "postgres"])
def test_an_outage_answers_503_quickly_and_heals_by_itself(tmp_path: Path, backend: str) -> None:
    with private_backend(backend, tmp_path) as store:
        server = ServerProcess(database=tmp_path / "server.db", storage_url=store.url)
        with (
            running(server),
            httpx.Client(base_url=server.url, headers=caller_headers(), timeout=10) as client,
        ):
            # Given a server that stored a message
            assert CALLS["post"](client).status_code == 201

            # When its store goes away
            store.crash()

            # Then every call answers 503 with a JSON error, quickly
            for name, call in CALLS.items():
                started = time.monotonic()
                response = call(client)
                elapsed = time.monotonic() - started
                assert response.status_code == 503, (name, response.text)
                assert response.json()["title"] == "Service temporarily unavailable"
                assert response.json()["description"]
                assert elapsed < ANSWER_WITHIN, (name, elapsed)

            # And ping says so
            assert client.get("/v2/ping").status_code == 503

            # When the store comes back, the same server recovers by itself
            store.restart()
            post_until_accepted(client)
            assert client.get("/v2/ping").status_code == 204
            listed = CALLS["list"](client).json()["messages"]
            assert len(listed) == 2
