"""How the client reaches a server: one request in, one ``Response`` out.

``HttpxTransport`` (the default) is a general HTTP client: TLS, proxies, timeouts.
``KeepAliveTransport`` (in ``keepalive.py``) speaks HTTP/1.1, with or without TLS, over pooled
asyncio streams with a fraction of the CPU per request; the bench uses it so the load generator
is not what it measures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx


class ConnectFailed(ConnectionError):
    """The server could not be reached: the request was never sent, so sending it again
    cannot duplicate it."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]
    """Header names in lower case."""
    body: bytes


class Transport(Protocol):
    async def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> Response:
        """Send one request; ``target`` is the path with its query string. Raise
        ``ConnectFailed`` when the server cannot be reached, ``ConnectionError`` when it drops
        the connection."""
        ...

    async def aclose(self) -> None: ...


class HttpxTransport:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        max_connections: int = 100,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = http or httpx.AsyncClient(
            base_url=url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections),
        )

    async def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> Response:
        try:
            reply = await self._http.request(method, target, headers=headers, content=body)
        except httpx.ConnectError as exc:
            raise ConnectFailed(f"{method} {target}: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise ConnectionError(f"{method} {target}: {exc!r}") from exc
        return Response(reply.status_code, reply.headers, reply.content)

    async def aclose(self) -> None:
        await self._http.aclose()
