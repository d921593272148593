"""A WebSocket client speaking Zaqar's frames, and an in-process server to talk to."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgpack
import orjson
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import caller_headers, free_port
from tidings.clock import Clock
from tidings.config import Settings
from tidings.observability import Instruments
from tidings.serving import WebSocketProtocol

SECOND = 10.0
"""Seconds an answer or a push may take before a test gives up on it."""


@dataclass
class Served:
    """A tidings served on a loopback port by this process."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v2/ws"


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, clock: Clock, instruments: Instruments | None = None
) -> AsyncIterator[Served]:
    from tidings.app import build_app

    port = free_port()
    app = build_app(settings, clock, instruments)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws=WebSocketProtocol
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield Served(port)
    finally:
        server.should_exit = True
        await task


@dataclass
class Socket:
    """One WebSocket connection: ``call`` sends a request and returns its response frame;
    pushed notifications are kept apart for ``pushed``."""

    connection: ClientConnection
    headers: dict[str, str] = field(default_factory=caller_headers)
    binary: bool = False
    responses: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    pushes: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    kinds: list[type] = field(default_factory=list)
    """The type (str or bytes) of every frame received."""

    def __post_init__(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._receive()

    async def _receive(self) -> None:
        async for frame in self.connection:
            self.kinds.append(type(frame))
            payload = msgpack.unpackb(frame) if isinstance(frame, bytes) else orjson.loads(frame)
            queue = self.pushes if payload.get("Message_Type") == "Notification" else self.responses
            await queue.put(payload)

    async def send(self, frame: Any) -> None:
        await self.connection.send(frame)

    async def request(
        self, action: str, body: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        """Send a request; return the whole response frame."""
        frame: dict[str, Any] = {"action": action, "headers": {**self.headers, **headers}}
        if body is not None:
            frame["body"] = body
        await self.send(msgpack.packb(frame) if self.binary else orjson.dumps(frame).decode())
        return await self.response()

    async def call(self, action: str, **body: Any) -> tuple[int, Any]:
        """Send a request; return its status and body."""
        frame = await self.request(action, body)
        return frame["headers"]["status"], frame["body"]

    async def response(self, within: float = SECOND) -> dict[str, Any]:
        return await asyncio.wait_for(self.responses.get(), within)

    async def pushed(self, within: float = SECOND) -> dict[str, Any]:
        return await asyncio.wait_for(self.pushes.get(), within)

    async def closed(self, within: float = SECOND) -> tuple[int | None, str | None]:
        """Wait for the server to close the socket; its close code and reason."""
        await asyncio.wait_for(asyncio.shield(self._reader), within)
        return self.connection.close_code, self.connection.close_reason

    async def close(self) -> None:
        await self.connection.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


@contextlib.asynccontextmanager
async def opened(url: str, **options: Any) -> AsyncIterator[Socket]:
    async with connect(url) as connection:
        socket = Socket(connection, **options)
        try:
            yield socket
        finally:
            await socket.close()
