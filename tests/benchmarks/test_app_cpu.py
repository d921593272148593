"""The CPU one post costs the app itself: the whole ASGI app (transport, api, service, SQLite
driver) called in this process by 8 concurrent tasks, without a server, sockets or a load
generator, whose costs would hide a change of a few microseconds.

A benchmark: it prints the CPU (user + system) per `POST .../messages` of one message, and
per claim of 10 with the bulk delete that follows it; docs/performance.md records the
figures. Run it with ``pytest -m bench tests/benchmarks/test_app_cpu.py -s``.
"""

from __future__ import annotations

import asyncio
import resource
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.types import Message, Scope

from tidings.app import build_app
from tidings.config import load_settings

pytestmark = [pytest.mark.bench, pytest.mark.timeout(600)]

TASKS = 8
POSTS = 20_000
WARM_UP = 1_600
BODY = b'{"messages": [{"ttl": 300, "body": "' + b"x" * 100 + b'"}]}'
HEADERS = [
    (b"host", b"127.0.0.1:8888"),
    (b"client-id", b"3f8e5c0a-8c6f-4f53-9a53-5cb1f6b8f3aa"),
    (b"x-project-id", b"bench"),
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
]


async def test_cpu_per_post(tmp_path: Path) -> None:
    database = tmp_path / "cpu.db"
    settings = load_settings(None, {"TIDINGS_STORAGE_URL": f"sqlite:///{database}"})
    app = build_app(settings)
    answered: list[int] = []

    async def post(queue: str) -> None:
        path = f"/v2/queues/{queue}/messages"
        scope: Scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": HEADERS,
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8888),
        }

        async def receive() -> Message:
            return {"type": "http.request", "body": BODY, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered.append(message["status"])

        await app(scope, receive, send)

    async def posting(task: int, posts: int) -> None:
        for _ in range(posts):
            await post(f"q{task % 4}")

    async with _started(app):
        await asyncio.gather(*(posting(task, WARM_UP // TASKS) for task in range(TASKS)))
        before = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.gather(*(posting(task, POSTS // TASKS) for task in range(TASKS)))
        after = resource.getrusage(resource.RUSAGE_SELF)

    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"\n{POSTS} posts by {TASKS} tasks: {cpu / POSTS * 1e6:.1f} µs of CPU per post")
    assert answered == [201] * (WARM_UP + POSTS)
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == WARM_UP + POSTS


CLAIMS = 2_000
"""Claims of 10 (each followed by a bulk delete of what it took) per task."""
CLAIM_BODY = b'{"ttl": 300, "grace": 200}'
POST_10 = orjson.dumps({"messages": [{"ttl": 3000, "body": {"text": "x" * 100}}] * 10})


async def test_cpu_per_claim_and_bulk_delete(tmp_path: Path) -> None:
    """The CPU of ``claim-10-bulk-delete``'s two requests, the app alone: 8 tasks, each
    claiming 10 messages from one of 4 queues and deleting them by their ids."""
    settings = load_settings(None, {"TIDINGS_STORAGE_URL": f"sqlite:///{tmp_path / 'cpu.db'}"})
    app = build_app(settings)

    async def call(method: str, path: str, query: bytes = b"", body: bytes = b"") -> Message:
        headers = [*HEADERS[:-1], (b"content-length", str(len(body)).encode())]
        scope: Scope = {
            "type": "http",
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8888),
        }
        answer: Message = {"body": b""}

        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            else:
                answer["body"] += message.get("body", b"")

        await app(scope, receive, send)
        return answer

    async def filling(queue: str, messages: int) -> None:
        for _ in range(messages // 10):
            posted = await call("POST", f"/v2/queues/{queue}/messages", body=POST_10)
            assert posted["status"] == 201

    async def consuming(task: int, claims: int) -> None:
        queue = f"/v2/queues/q{task % 4}"
        for _ in range(claims):
            claimed = await call("POST", f"{queue}/claims", b"limit=10", CLAIM_BODY)
            assert claimed["status"] == 201
            ids = [item["id"] for item in orjson.loads(claimed["body"])["messages"]]
            assert len(ids) == 10
            deleted = await call("DELETE", f"{queue}/messages", f"ids={','.join(ids)}".encode())
            assert deleted["status"] == 204

    warm_up = CLAIMS // 10
    async with _started(app):
        per_queue = (CLAIMS + warm_up) * 10 * TASKS // 4
        await asyncio.gather(*(filling(f"q{queue}", per_queue) for queue in range(4)))
        await asyncio.gather(*(consuming(task, warm_up) for task in range(TASKS)))
        before = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.gather(*(consuming(task, CLAIMS) for task in range(TASKS)))
        after = resource.getrusage(resource.RUSAGE_SELF)

    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    pairs = CLAIMS * TASKS
    print(f"\n{pairs} claims of 10 and bulk deletes by {TASKS} tasks:", end=" ")
    print(f"{cpu / pairs * 1e6:.1f} µs of CPU per claim and delete")


class _started:
    """The app's lifespan, started and stopped as a server would."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._messages: asyncio.Queue[Message] = asyncio.Queue()
        self._answers: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.create_task(self._app(scope, self._messages.get, self._answers.put))
        await self._messages.put({"type": "lifespan.startup"})
        assert (await self._answers.get())["type"] == "lifespan.startup.complete"

    async def __aexit__(self, *exc: object) -> None:
        await self._messages.put({"type": "lifespan.shutdown"})
        assert (await self._answers.get())["type"] == "lifespan.shutdown.complete"
        assert self._task is not None
        await self._task
