"""A lean HTTP/1.1 transport for ``http://`` and ``https://`` servers: a pool of keep-alive
asyncio streams, requests written in one piece, responses framed by Content-Length or chunks.
TLS verifies the server against the system's authorities (``SSL_CERT_FILE`` names others).

It exists for load generation: on a 2-core machine httpx spends several times the CPU per
request of this transport, so a bench built on it measures httpx rather than the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

from tidings.client.transport import ConnectFailed, Response

_DROPPED = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)
DEFAULT_PORTS = {"http": 80, "https": 443}
CLOSE_SECONDS = 5.0
"""How long ``aclose`` waits for the connections to close (TLS ones exchange a goodbye)."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = False

    def close(self) -> None:
        self.writer.close()


def server_address(url: str) -> tuple[str, int]:
    """The host and port of an ``http://`` or ``https://`` URL; ValueError, saying why, for
    any other (``tidings bench`` refuses its URL argument with it)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a URL: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
    return parts.hostname, port or DEFAULT_PORTS[parts.scheme]


class KeepAliveTransport:
    def __init__(self, url: str, *, timeout: float = 30.0, max_connections: int = 100) -> None:
        self._host, self._port = server_address(url)
        parts = urlsplit(url)
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._host_header = parts.netloc
        self._timeout = timeout
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        """Every connection not known to be closed, in use or idle."""

    async def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> Response:
        head = self._head(method, target, headers, body)
        payload = head if body is None else head + body
        async with self._slots, asyncio.timeout(self._timeout):
            connection = self._idle.pop() if self._idle else await self._connect()
            while True:
                try:
                    response = await self._send(connection, payload)
                except _DROPPED as exc:
                    if not connection.used:
                        raise ConnectionError(f"{method} {target}: {exc!r}") from exc
                    # The server had closed this idle connection: retry once on a fresh one.
                    connection = await self._connect()
                    continue
                self._release(connection, response)
                return response

    async def aclose(self) -> None:
        """Close every connection, those in use too, and wait until they are closed: a TLS
        connection needs the event loop to finish closing, and its loop may end next."""
        self._idle.clear()
        connections, self._open = self._open, set()
        for connection in connections:
            connection.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_SECONDS):
                await asyncio.gather(*(_closed(connection) for connection in connections))

    def _head(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> bytes:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host_header}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port, ssl=self._tls)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {self._host_header}: {exc!r}") from exc
        connection = _Connection(reader, writer)
        self._open = {each for each in self._open if not each.writer.is_closing()}
        self._open.add(connection)
        return connection

    async def _send(self, connection: _Connection, payload: bytes) -> Response:
        """One exchange; the connection is closed if it fails or is cancelled half-way."""
        try:
            return await self._exchange(connection, payload)
        except BaseException:
            connection.close()
            raise

    async def _exchange(self, connection: _Connection, payload: bytes) -> Response:
        connection.writer.write(payload)
        head = await connection.reader.readuntil(b"\r\n\r\n")
        status, headers = _parse_head(head)
        body = await _read_body(connection.reader, headers, status)
        return Response(status, headers, body)

    def _release(self, connection: _Connection, response: Response) -> None:
        if response.headers.get("connection", "").lower() == "close":
            connection.close()
            return
        connection.used = True
        self._idle.append(connection)


async def _closed(connection: _Connection) -> None:
    with contextlib.suppress(*_DROPPED):
        await connection.writer.wait_closed()


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ", 2)[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str], status: int) -> bytes:
    if status in (204, 304) or 100 <= status < 200:
        return b""
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return await _read_chunks(reader)
    headers["connection"] = "close"  # framed by the end of the stream
    return await reader.read()


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # the empty trailer
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)
