"""The server stack that ``tidings serve`` and the bench's reference server both run on:
uvicorn on httptools (and uvloop, which it picks itself), one listening socket per worker
process."""

from __future__ import annotations

import contextlib
import email.utils
import logging
import socket
import sys
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import orjson
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.supervisors import Multiprocess
from websockets.datastructures import Headers
from websockets.http11 import Response

from tidings import errors
from tidings.observability.asgi import REQUEST_ID_HEADER, REQUEST_ID_HEADER_NAME, new_request_id
from tidings.transport.status import error_document, status_of

log = logging.getLogger(__name__)

WORKER_STARTUP_SECONDS = 30
"""How long a worker may take to start (or answer its supervisor) before uvicorn replaces it:
its default of 5 s kills workers that a busy machine is still starting."""


def run_server(app: str, host: str, port: int, workers: int, factory: bool = False) -> None:
    """Serve the ASGI app ``module:name`` with ``workers`` processes."""
    options: dict[str, Any] = {
        "factory": factory,
        "host": host,
        "port": port,
        "workers": workers,
        "timeout_graceful_shutdown": 30,
        "timeout_worker_healthcheck": WORKER_STARTUP_SECONDS,
        "access_log": False,
        "http": HttpProtocol,
        "ws": WebSocketProtocol,
    }
    if workers == 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(app, **options)
        return
    try:
        listener = _WorkersListener.bound(host, port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc)
        sys.exit(STARTUP_FAILURE)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(uvicorn.Config(app, **options), sockets=[listener]).run()


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol on httptools, whose answer to a request it cannot parse (a
    control character in a header, a length that is no number, a bad chunk) is a JSON error
    with a request id, as every other answer is, rather than uvicorn's plain text."""

    def send_400_response(self, msg: str) -> None:
        error = errors.MalformedRequest()
        body = orjson.dumps(error_document(error))
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            (REQUEST_ID_HEADER_NAME, new_request_id().encode()),
            (b"connection", b"close"),
        ]
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(STATUS_LINE[status_of(error)] + head + b"\r\n" + body)
        self.transport.close()


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol on the current websockets API (``auto`` picks the
    deprecated legacy one), whose refusal of a handshake (a missing or bad key, an app that
    fails before it accepts) is a JSON error with a request id rather than plain text."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.reject = _refusal  # type: ignore[method-assign]


def _refusal(status: int, text: str) -> Response:
    phrase = HTTPStatus(status).phrase
    body = orjson.dumps({"title": phrase, "description": text.strip() or phrase})
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "application/json"),
            (REQUEST_ID_HEADER, new_request_id()),
        ]
    )
    return Response(status, phrase, headers, body)


class _WorkersListener(socket.socket):
    """The server's address, held by the supervisor but never listened on: each worker process
    receives it as a listening socket of its own on the same address (``SO_REUSEPORT``), and
    the kernel spreads new connections over the workers.

    Sharing one listening socket, the worker that woke first took every connection waiting:
    the bench's 32 connections went 32 / 0 and 30 / 2 in 2 starts of 10, and a worker runs
    on one core. Spread by the kernel, 21 / 11 was the most uneven of 10."""

    @classmethod
    def bound(cls, host: str, port: int) -> _WorkersListener:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # A port that another program holds, even with SO_REUSEPORT, is refused: a second
        # server started there by mistake would silently share the connections
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        listener = cls(family)
        _share_address(listener)
        listener.bind((host, port))
        log.info("tidings listening on %s:%d", host, listener.getsockname()[1])
        return listener

    def __reduce__(self) -> tuple[Callable[..., socket.socket], tuple[Any, ...]]:
        return _socket_of_its_own, (self.family, self.getsockname())


def _socket_of_its_own(family: socket.AddressFamily, address: Any) -> socket.socket:
    """In a worker: a socket bound to the supervisor's address, for uvicorn to listen on."""
    own = socket.socket(family)
    _share_address(own)
    own.bind(address)
    return own


def _share_address(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
