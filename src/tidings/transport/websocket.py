"""The WebSocket binding: Zaqar's WebSocket API (``zaqar/transport/websocket``) on the HTTP
server's port, at ``/v2/ws`` and at ``/``, bound to the same operation table as HTTP.

Every operation is the action of its name (``transport/actions.py`` reads its parameters and
body from the frame); its answer is the HTTP reply's body, or ``Operation.ws_render`` of it
where Zaqar's WebSocket API answers otherwise. Two actions belong to the socket itself:
``authenticate``, after which the socket's frames act with its credentials (and which, with
Keystone, is needed first; the socket is closed with 4003 when the token expires), and
``subscription_create`` without a ``subscriber``, which pushes every new message of the queue
to the socket until it closes (or ``subscription_delete`` of the id it answered).

A socket handles its frames one at a time, in order: a long poll holds the frames after it,
while pushes flow on, and stops waiting when the socket closes. Text frames are JSON and
binary frames MessagePack; each answer (and each push, like the last subscribe request) has
the encoding of its request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from tidings import api, errors
from tidings.api.operation import Operation, Request
from tidings.api.policy import Policy
from tidings.config import Settings
from tidings.context import RequestContext, anonymous
from tidings.models import JSON, Message
from tidings.observability import Instruments
from tidings.observability.asgi import REQUEST_ID_HEADER, REQUEST_ID_HEADER_NAME, new_request_id
from tidings.service import Service, validate
from tidings.transport import actions, frames
from tidings.transport.actions import Actions
from tidings.transport.auth import Authenticator
from tidings.transport.frames import SCHEMA_FAILED, Frame, Refused
from tidings.transport.push import PushHub
from tidings.transport.signed_url import is_signed
from tidings.transport.status import error_document, status_of

log = logging.getLogger(__name__)

PATHS = ("/v2/ws", "/")
AUTHENTICATE = "authenticate"
SUBSCRIBE = "subscription_create"
UNSUBSCRIBE = "subscription_delete"
REQUIRED_HEADERS = ("client-id", "x-project-id")
BACKLOG = 1000
"""Frames a socket may have waiting to be sent; one that falls further behind is closed."""
EXPIRED = (4003, "Authentication expired.")
TOO_SLOW = (1008, "Too slow to take the pushed messages.")


@dataclass(frozen=True)
class Binding:
    """What the sockets of a server share."""

    service: Service
    authenticator: Authenticator
    policy: Policy
    instruments: Instruments
    keystone: bool
    actions: Actions
    hub: PushHub


def routes(
    service: Service,
    settings: Settings,
    authenticator: Authenticator,
    policy: Policy,
    instruments: Instruments,
) -> list[BaseRoute]:
    binding = Binding(
        service,
        authenticator,
        policy,
        instruments,
        keystone=settings.auth.strategy == "keystone",
        actions=Actions(api.OPERATIONS.values()),
        hub=PushHub(service),
    )

    async def endpoint(websocket: WebSocket) -> None:
        await Socket(binding, websocket).serve()

    return [
        *(WebSocketRoute(path, endpoint) for path in PATHS),
        WebSocketRoute("/{path:path}", _no_endpoint),
    ]


async def _no_endpoint(websocket: WebSocket) -> None:
    """A handshake to a path with no WebSocket endpoint: 404, as over HTTP."""
    error = errors.NotFound()
    headers = {REQUEST_ID_HEADER: new_request_id()}
    refusal = JSONResponse(error_document(error), status_of(error), headers)
    await websocket.send_denial_response(refusal)


@dataclass
class _Subscription:
    queue: tuple[str, str]
    stop: Callable[[], None]


@dataclass
class Socket:
    binding: Binding
    websocket: WebSocket
    inbox: asyncio.Queue[Frame] = field(default_factory=lambda: asyncio.Queue(BACKLOG))
    """Frames received and not answered yet; past BACKLOG the socket is read no further."""
    outbox: asyncio.Queue[Frame | tuple[int, str]] = field(
        default_factory=lambda: asyncio.Queue(BACKLOG)
    )
    credentials: dict[str, str] | None = None
    """What ``authenticate`` established, for the later frames to act with."""
    expiry: asyncio.TimerHandle | None = None
    subscriptions: dict[str, _Subscription] = field(default_factory=dict)
    push_binary: bool = False
    closing: bool = False
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the socket has closed."""

    async def serve(self) -> None:
        """Receive, answer and send in three tasks, so that a closed socket is seen at once,
        even while a long poll is answered (which then stops waiting)."""
        await self.websocket.accept(headers=[(REQUEST_ID_HEADER_NAME, new_request_id().encode())])
        tasks = [
            asyncio.create_task(work()) for work in (self._read, self._answer_all, self._write)
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.gone.set()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for subscription in self.subscriptions.values():
                subscription.stop()
            if self.expiry is not None:
                self.expiry.cancel()

    async def _read(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.gone.set()
                return
            text = message.get("text")
            await self.inbox.put((message.get("bytes") or b"") if text is None else text)

    async def _answer_all(self) -> None:
        while True:
            frame = await self.inbox.get()
            # Shielded: the frame being answered when the socket closes still takes effect
            # (a post is stored, as over HTTP); a long poll in it stops, its caller gone.
            await self.outbox.put(await asyncio.shield(self._answer(frame)))

    async def _write(self) -> None:
        while True:
            frame = await self.outbox.get()
            if isinstance(frame, tuple):
                await self.websocket.close(*frame)
                return
            if isinstance(frame, bytes):
                await self.websocket.send_bytes(frame)
            else:
                await self.websocket.send_text(frame)

    def _close(self, code: int, reason: str) -> None:
        """Close after the frame being sent; frames still waiting are dropped."""
        if self.closing:
            return
        self.closing = True
        while not self.outbox.empty():
            self.outbox.get_nowait()
        self.outbox.put_nowait((code, reason))

    # One frame

    async def _answer(self, frame: Frame) -> Frame:
        binary = isinstance(frame, bytes)
        request: dict[str, JSON] = frames.NO_REQUEST
        request_id = new_request_id()
        started = time.perf_counter()
        name = "other"
        try:
            payload = frames.decode(frame)
            request = frames.echo(payload)
            name = str(payload.get("action"))
            status, body = await self._dispatch(payload, binary, request_id)
        except Refused as exc:
            status, body = exc.status, {"error": exc.message}
        except errors.TidingsError as exc:
            status, body = status_of(exc), {"exception": exc.title, "error": exc.description}
        except Exception:
            extra = {"request_id": request_id, "operation": name}
            log.exception("unexpected error on a WebSocket frame", extra=extra)
            status, body = 500, {"exception": "Internal server error", "error": "Unexpected error."}
        self._record(name, status, time.perf_counter() - started)
        return frames.encode(frames.response(request, status, body, request_id), binary)

    async def _dispatch(
        self, payload: dict[str, Any], binary: bool, request_id: str
    ) -> tuple[int, JSON]:
        body = frames.body(payload)
        headers = frames.headers(payload)
        if payload.get("action") == AUTHENTICATE:
            return await self._authenticate(headers, request_id)
        operation = self.binding.actions.operation(payload.get("action"), body)
        params = actions.params(operation, body)
        context = await self._caller(operation, headers, params, request_id)
        if operation.name == SUBSCRIBE and not body.get("subscriber"):
            return await self._subscribe(operation, context, params, binary)
        if operation.name == UNSUBSCRIBE and params["subscription_id"] in self.subscriptions:
            return self._unsubscribe(operation, context, params["subscription_id"])
        return await self._call(operation, context, params, body)

    async def _caller(
        self,
        operation: Operation,
        headers: dict[str, str],
        params: dict[str, Any],
        request_id: str,
    ) -> RequestContext:
        if not operation.authenticated:
            return anonymous(request_id)
        if any(name not in headers for name in REQUIRED_HEADERS):
            raise Refused(400, SCHEMA_FAILED)
        signed = is_signed(headers)
        if self.credentials is not None and not signed:
            headers = {**self.credentials, **headers}
        elif self.binding.keystone and not signed:
            raise Refused(403, "Not authentified.")
        path = actions.path(operation, params)
        context = await self.binding.authenticator.context(
            headers, operation.method, path, request_id
        )
        if self.binding.keystone and not signed and headers["x-project-id"] != context.project_id:
            raise errors.Forbidden("X-Project-ID is not the project this socket authenticated.")
        return context

    async def _call(
        self,
        operation: Operation,
        context: RequestContext,
        params: dict[str, Any],
        body: dict[str, Any],
    ) -> tuple[int, JSON]:
        document, size = actions.http_body(operation, body)
        request = Request(context, params, document, size, self.gone.wait)
        queue = params.get("queue_name")
        with self.binding.instruments.operation(operation.name, context, queue):
            reply = await api.call(operation, self.binding.service, request, self.binding.policy)
        return reply.status, actions.answer(operation, request, reply)

    def _record(self, name: str, status: int, seconds: float) -> None:
        metrics = self.binding.instruments.metrics
        if metrics is not None:
            metrics.observe(name if name in self.binding.actions else "other", status, seconds)

    # The socket's own actions

    async def _authenticate(self, headers: dict[str, str], request_id: str) -> tuple[int, JSON]:
        authenticator = self.binding.authenticator
        try:
            await authenticator.context(headers, "GET", PATHS[0], request_id)
        except errors.Unauthorized:
            return 401, {"error": "Authentication failed."}
        token = headers.get("x-auth-token")
        self.credentials = {"x-auth-token": token} if token else {}
        self._expire_at(await authenticator.expires(headers))
        return 200, {"message": "Authentified."}

    def _expire_at(self, moment: float | None) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        if moment is not None:
            delay = max(0.0, moment - self.binding.service.clock())
            self.expiry = asyncio.get_running_loop().call_later(delay, self._expire)

    def _expire(self) -> None:
        self.credentials = None
        self._close(*EXPIRED)

    async def _subscribe(
        self,
        operation: Operation,
        context: RequestContext,
        params: dict[str, Any],
        binary: bool,
    ) -> tuple[int, JSON]:
        """Push the queue's new messages to this socket (one subscription per queue)."""
        self.binding.policy.enforce(operation.policy, context)
        queue = (context.project_id, validate.queue_name(params["queue_name"]))
        self.push_binary = binary
        found = [key for key, held in self.subscriptions.items() if held.queue == queue]
        subscription_id = found[0] if found else str(uuid.uuid4())
        if not found:
            stop = await self.binding.hub.subscribe(*queue, self._push)
            if self.gone.is_set():  # closed meanwhile: its subscriptions were already ended
                stop()
            else:
                self.subscriptions[subscription_id] = _Subscription(queue, stop)
        message = f"Subscription {queue[1]} created."
        return 201, {"subscription_id": subscription_id, "message": message}

    def _unsubscribe(
        self, operation: Operation, context: RequestContext, subscription_id: str
    ) -> tuple[int, JSON]:
        self.binding.policy.enforce(operation.policy, context)
        self.subscriptions.pop(subscription_id).stop()
        return 204, f"Subscription {subscription_id} removed."

    def _push(self, queue: str, batch: list[Message]) -> None:
        """Zaqar's notification frames, one a message."""
        for message in batch:
            if self.closing:
                return
            notification = {
                "body": message.body,
                "ttl": message.ttl,
                "queue_name": queue,
                "Message_Type": "Notification",
            }
            try:
                self.outbox.put_nowait(frames.encode(notification, self.push_binary))
            except asyncio.QueueFull:
                self._close(*TOO_SLOW)
