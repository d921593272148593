"""A server killed with SIGKILL mid-stream, and its store crashed with it, loses no
acknowledged message, on every backend."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, caller_headers
from tests.processes import running
from tests.reliability.support import private_backend

PROJECT = "crash-project"
QUEUE = "durable"
PRODUCERS = 4
ACKNOWLEDGED_BEFORE_KILL = 300
PAGE = 20


@dataclass
class Stream:
    """Producers posting one message per request until the server goes away."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    acknowledged: dict[str, str] = field(default_factory=dict)
    refused: list[int] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for producer in range(PRODUCERS):
            thread = threading.Thread(target=self._produce, args=(producer,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)
            assert not thread.is_alive()

    def _produce(self, producer: int) -> None:
        headers = caller_headers(PROJECT)
        with httpx.Client(base_url=self.url, headers=headers, timeout=5) as client:
            for sequence in range(1_000_000):
                if self.stop.is_set():
                    return
                body = f"producer-{producer}-message-{sequence}"
                try:
                    response = client.post(
                        f"/v2/queues/{QUEUE}/messages", json={"messages": [{"body": body}]}
                    )
                except httpx.TransportError:
                    return
                if response.status_code != 201:
                    self.refused.append(response.status_code)
                    continue
                message_id = response.json()["resources"][0].rsplit("/", 1)[1]
                self.acknowledged[message_id] = body


def listed_messages(client: httpx.Client) -> Iterator[dict[str, object]]:
    """Every message of the queue, page by page, following the next links."""
    href = f"/v2/queues/{QUEUE}/messages?echo=true&limit={PAGE}"
    while True:
        page = client.get(href)
        assert page.status_code == 200, page.text
        messages = page.json()["messages"]
        if not messages:
            return
        yield from messages
        (link,) = page.json()["links"]
        href = link["href"]


@pytest.mark.parametrize("backend", ["sqlite-file", "redis", "redis-cluster", "postgres"])
def test_sigkill_mid_stream_loses_no_acknowledged_message(tmp_path: Path, backend: str) -> None:
    with private_backend(backend, tmp_path) as store:
        # Given a single-process server and producers streaming one message per POST
        first = ServerProcess(database=tmp_path / "server.db", storage_url=store.url)
        first.start()
        stream = Stream(first.url)
        try:
            stream.start()
            deadline = time.monotonic() + 30
            while len(stream.acknowledged) < ACKNOWLEDGED_BEFORE_KILL:
                assert time.monotonic() < deadline, "producers too slow"
                time.sleep(0.01)

            # When the server is killed with SIGKILL while they are still posting, and its
            # store crashes too
            first.kill()
            stream.join()
            store.crash()
        finally:
            first.kill()
            stream.stop.set()
        acknowledged = dict(stream.acknowledged)
        assert first.process is not None
        assert first.process.returncode == -9
        assert stream.refused == []
        assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL

        # And both come back
        store.restart()
        second = ServerProcess(database=tmp_path / "server.db", storage_url=store.url)
        with running(second):
            assert_all_there(second.url, acknowledged)

    if backend == "sqlite-file":
        # And the database file is consistent
        with contextlib.closing(sqlite3.connect(tmp_path / "tidings.db")) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def assert_all_there(url: str, acknowledged: dict[str, str]) -> None:
    with httpx.Client(base_url=url, headers=caller_headers(PROJECT), timeout=10) as client:
        # Then every acknowledged message is there, fetched by id, with its body
        ids = list(acknowledged)
        found: dict[str, object] = {}
        for start in range(0, len(ids), PAGE):
            chunk = ids[start : start + PAGE]
            response = client.get(f"/v2/queues/{QUEUE}/messages", params={"ids": ",".join(chunk)})
            assert response.status_code == 200, response.text
            found.update((m["id"], m["body"]) for m in response.json()["messages"])
        assert found == acknowledged

        # And listing the queue shows each of them once; at most the requests in flight
        # at the kill may have been stored without their 201 reaching the producer
        listed = [(m["id"], m["body"]) for m in listed_messages(client)]
        listed_ids = [message_id for message_id, _ in listed]
        assert len(listed_ids) == len(set(listed_ids))
        assert set(acknowledged.items()) <= set(listed)
        assert len(listed) - len(acknowledged) <= PRODUCERS
