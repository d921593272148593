"""An oslo.messaging transport driver: ``transport_url = tidings://host:8888/?project=P`` gives
OpenStack services RPC ``call()``/``cast()``/fanout and notifications over tidings queues.

Loaded by oslo.messaging from the ``oslo.messaging.drivers`` entry point ``tidings``; every
``tidings+FLAGS://`` scheme loads it too, FLAGS being ``keystone`` and/or ``https``. The queues
(docs/oslo-messaging.md has the full reference):

===================================  ==========================================================
``rpc.EXCHANGE.TOPIC``               calls and casts to a topic; the topic's servers compete
``rpc-server.EXCHANGE.TOPIC.SERVER`` calls and casts to one server (``prepare(server=...)``)
``rpc-fanout.TOPIC``                 fanout casts, copied by ``queue:`` subscriptions into...
``oslo-tmp.fanout.ID.TOPIC``         ...one queue per listening RPC server
``oslo-tmp.reply.ID``                the replies to one transport's calls
``notify.EXCHANGE.TOPIC.PRIORITY``   notifications: listeners without a pool compete
``notify-pool.EXCHANGE.POOL.TOPIC.PRIORITY``  one copy per pool (a ``queue:`` subscription)
===================================  ==========================================================

A name that would not be a valid queue name (64 characters of ``[a-zA-Z0-9_.-]``), or whose
parts other than the last hold dots, keeps a readable prefix and ends with a digest.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from oslo_messaging import exceptions as oslo_errors
from oslo_messaging._drivers import base, common
from oslo_messaging.transport import InvalidTransportURL
from oslo_serialization import jsonutils

from tidings import errors
from tidings.client import Client, KeepAliveTransport, Transport
from tidings.client.keystone import Credentials, KeystoneTransport
from tidings.config import SHORTEST_TTL
from tidings.integrations.bus import OWNED_PREFIX, Bus, BusOptions, ClaimTerms, Delivery, Inbox
from tidings.models import JSON

LOG = logging.getLogger(__name__)
T = TypeVar("T")

SCHEME = "tidings"
FLAGS = frozenset({"keystone", "https"})
DEFAULT_HOST = "127.0.0.1:8888"
MAX_NAME = 64
DIGEST = 12
RPC_CLAIM = ClaimTerms(ttl=SHORTEST_TTL, grace=SHORTEST_TTL)
"""RPC messages are acknowledged as they are dispatched: a short claim is enough."""
REPLY_RETRIES = 5
ACK_DELAY = 0.05
"""Seconds into its dispatch by which an RPC message is acknowledged, if not replied to yet."""
MAX_CONNECTIONS = 256
_PLAIN = re.compile(r"[A-Za-z0-9_-]+")
_LAST = re.compile(r"[A-Za-z0-9_.-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


# Queue names


def queue_name(kind: str, *parts: str) -> str:
    """``kind.part.part...`` when that is a valid queue name and every part but the last is
    free of dots; otherwise a readable prefix of it, a dot and a digest of kind and parts."""
    plain = ".".join((kind, *parts))
    *head, last = parts
    if (
        len(plain) <= MAX_NAME
        and all(_PLAIN.fullmatch(part) for part in head)
        and _LAST.fullmatch(last)
    ):
        return plain
    digest = hashlib.sha256("\0".join((kind, *parts)).encode()).hexdigest()[:DIGEST]
    return f"{_UNSAFE.sub('_', plain)[: MAX_NAME - DIGEST - 1]}.{digest}"


def rpc_queue(exchange: str, topic: str) -> str:
    return queue_name("rpc", exchange, topic)


def server_queue(exchange: str, topic: str, server: str) -> str:
    return queue_name("rpc-server", exchange, topic, server)


def fanout_source(topic: str) -> str:
    """Fanout ignores the exchange, as with RabbitMQ."""
    return queue_name("rpc-fanout", topic)


def fanout_queue(topic: str) -> str:
    return queue_name(f"{OWNED_PREFIX}fanout", uuid.uuid4().hex[:16], topic)


def notification_queue(exchange: str, topic_priority: str) -> str:
    return queue_name("notify", exchange, topic_priority)


def pool_queue(exchange: str, pool: str, topic_priority: str) -> str:
    return queue_name("notify-pool", exchange, pool, topic_priority)


# Settings from the transport URL


@dataclass(frozen=True)
class DriverSettings:
    endpoint: str
    """The tidings base URL, ``http(s)://host:port``."""
    project: str
    credentials: Credentials | None
    bus: BusOptions
    message_ttl: int = 3600
    """Seconds a cast or a notification waits for a consumer."""
    claim_ttl: int = 300
    """Seconds a notification listener holds a message before it is delivered again."""
    pool_ttl: int = 86400
    """Seconds a pool keeps receiving copies after its last listener stopped."""

    @classmethod
    def from_url(cls, url: Any) -> DriverSettings:
        """From an ``oslo_messaging.TransportURL``; raise ``InvalidTransportURL``."""
        try:
            return cls._parse(url)
        except (KeyError, ValueError) as exc:
            raise InvalidTransportURL(str(url), f"tidings transport URL: {exc}") from exc

    @classmethod
    def _parse(cls, url: Any) -> DriverSettings:
        flags = set(url.transport.split("+")[1:])
        if flags - FLAGS:
            raise ValueError(f"unknown scheme flags {sorted(flags - FLAGS)}")
        query = dict(url.query)
        host = url.hosts[0] if url.hosts else None
        scheme = "https" if "https" in flags else "http"
        endpoint = f"{scheme}://{_netloc(host)}"
        project = query.pop("project", "openstack")
        credentials = _credentials(host, project, query) if "keystone" in flags else None
        numbers = {key: _number(key, query.pop(key)) for key in list(query) if key in _NUMBERS}
        if query:
            raise ValueError(f"unknown options {sorted(query)}")
        bus_keys = {"wait", "lease", "sweep_interval"}
        bus = BusOptions(**{key: value for key, value in numbers.items() if key in bus_keys})
        rest = {key: int(value) for key, value in numbers.items() if key not in bus_keys}
        return cls(endpoint, project, credentials, bus, **rest)


_NUMBERS = {
    "wait": (0, 20),
    "lease": (SHORTEST_TTL, 1209600),
    "sweep_interval": (0, math.inf),
    "message_ttl": (SHORTEST_TTL, 1209600),
    "claim_ttl": (SHORTEST_TTL, 43200),
    "pool_ttl": (SHORTEST_TTL, 1209600),
}


def _number(key: str, text: str) -> int:
    value = int(text)
    low, high = _NUMBERS[key]
    if not low <= value <= high:
        raise ValueError(f"{key} must be between {low} and {high}")
    return value


def _netloc(host: Any) -> str:
    if host is None or not host.hostname:
        return DEFAULT_HOST
    name = f"[{host.hostname}]" if ":" in host.hostname else host.hostname
    return f"{name}:{host.port or 8888}"


def _credentials(host: Any, project: str, query: dict[str, str]) -> Credentials:
    if host is None or not host.username or host.password is None:
        raise ValueError("the keystone form needs user:password@ in the URL")
    auth_url = query.pop("auth_url")
    if urlsplit(auth_url).scheme not in ("http", "https"):
        raise ValueError("auth_url must be an http(s) URL")
    domains = {key: query.pop(key) for key in ("user_domain", "project_domain") if key in query}
    return Credentials(auth_url, host.username, host.password, project, **domains)


# The driver


class TidingsDriver(base.BaseDriver):  # type: ignore[misc]
    """Loaded as ``TidingsDriver(conf, url, default_exchange=..., allowed_remote_exmods=...)``;
    it connects on first use, and again in a forked child."""

    def __init__(
        self,
        conf: Any,
        url: Any,
        default_exchange: str | None = None,
        allowed_remote_exmods: list[str] | None = None,
    ) -> None:
        super().__init__(conf, url, default_exchange, allowed_remote_exmods)
        self.settings = DriverSettings.from_url(url)
        self._lock = threading.Lock()
        self._current: Bus | None = None
        self._pid = 0

    def require_features(self, requeue: bool = False) -> None:
        """Requeue is supported: nothing is missing."""

    # Sending

    def send(
        self,
        target: Any,
        ctxt: Mapping[str, JSON],
        message: Mapping[str, JSON],
        wait_for_reply: bool | None = None,
        timeout: float | None = None,
        call_monitor_timeout: float | None = None,
        retry: int | None = None,
        transport_options: Any = None,
    ) -> JSON:
        destination = self._destination(target)
        if not wait_for_reply:
            envelope = {"ctxt": ctxt, "message": message}
            self._post(destination, envelope, self.settings.message_ttl, retry)
            return None
        return self._call(destination, ctxt, message, timeout, call_monitor_timeout, retry)

    def send_notification(
        self,
        target: Any,
        ctxt: Mapping[str, JSON],
        message: Mapping[str, JSON],
        version: float,
        retry: int | None = None,
    ) -> None:
        wrapped = common.serialize_msg(message) if version >= 2.0 else message
        destination = notification_queue(self._exchange(target), target.topic)
        envelope = {"ctxt": ctxt, "message": wrapped}
        self._post(destination, envelope, self.settings.message_ttl, retry)

    def _destination(self, target: Any) -> str:
        if target.fanout:
            return fanout_source(target.topic)
        if target.server:
            return server_queue(self._exchange(target), target.topic, target.server)
        return rpc_queue(self._exchange(target), target.topic)

    def _call(
        self,
        destination: str,
        ctxt: Mapping[str, JSON],
        message: Mapping[str, JSON],
        timeout: float | None,
        monitor: float | None,
        retry: int | None,
    ) -> JSON:
        replies = self._bus().replies()
        msg_id = uuid.uuid4().hex
        waiter = replies.expect(msg_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        envelope = {
            "ctxt": ctxt,
            "message": message,
            "msg_id": msg_id,
            "reply_to": replies.name,
            "timeout": monitor,
        }
        ttl = (
            self.settings.message_ttl if timeout is None else max(SHORTEST_TTL, math.ceil(timeout))
        )
        try:
            self._post(destination, envelope, ttl, retry, deadline)
            return self._reply(waiter, msg_id, deadline, monitor)
        finally:
            replies.forget(msg_id)

    def _reply(
        self,
        waiter: queue.SimpleQueue[Mapping[str, JSON]],
        msg_id: str,
        deadline: float | None,
        monitor: float | None,
    ) -> JSON:
        """The result of the reply, or its exception raised; call-monitor heartbeats keep the
        wait going until ``deadline``."""
        watchdog = None if not monitor else time.monotonic() + monitor
        while True:
            reply = _next(waiter, _earliest(deadline, watchdog))
            if reply is None:
                raise oslo_errors.MessagingTimeout(
                    f"Timed out waiting for a reply to message ID {msg_id}"
                )
            if reply.get("heartbeat") and monitor:
                watchdog = time.monotonic() + monitor
                continue
            if reply.get("failure"):
                raise common.deserialize_remote_exception(
                    reply["failure"], self._allowed_remote_exmods
                )
            return reply.get("result")

    def _post(
        self,
        destination: str,
        envelope: Mapping[str, object],
        ttl: int,
        retry: int | None,
        deadline: float | None = None,
    ) -> None:
        body = jsonutils.dumps(envelope)
        try:
            self._bus().post(destination, body, ttl, retry=retry, deadline=deadline)
        except TimeoutError as exc:
            if deadline is not None:
                raise oslo_errors.MessagingTimeout(f"could not post to {destination}") from exc
            raise oslo_errors.MessageDeliveryFailure(f"posting to {destination}: {exc}") from exc
        except (ConnectionError, PermissionError, errors.TidingsError) as exc:
            raise oslo_errors.MessageDeliveryFailure(f"posting to {destination}: {exc}") from exc

    def post_reply(self, reply_to: str, body: Mapping[str, object]) -> None:
        """At most once, and never raising: a reply that cannot be posted is logged."""
        try:
            self._post(reply_to, body, SHORTEST_TTL, REPLY_RETRIES)
        except Exception:
            LOG.exception("could not send the reply to %s", body.get("msg_id"))

    # Listening

    def listen(self, target: Any, batch_size: int, batch_timeout: float | None) -> Any:
        bus = self._bus()
        exchange = self._exchange(target)
        fanout = fanout_queue(target.topic)
        _set_up(bus, bus.leases.hold_queue(fanout))
        lease = _set_up(
            bus,
            bus.leases.hold_subscription(
                fanout_source(target.topic), fanout, bus.options.lease, owned=True
            ),
        )
        queues = [rpc_queue(exchange, target.topic), fanout]
        if target.server:
            queues.append(server_queue(exchange, target.topic, target.server))
        listener = _Listener(
            bus.consume(queues, RPC_CLAIM),
            self._rpc_incoming,
            on_stop=lambda: bus.call(bus.leases.drop_subscription(lease)),
            on_cleanup=lambda: bus.call(bus.leases.drop_queue(fanout)),
        )
        return base.PollStyleListenerAdapter(listener, batch_size, batch_timeout)

    def listen_for_notifications(
        self,
        targets_and_priorities: Iterable[tuple[Any, str]],
        pool: str | None,
        batch_size: int,
        batch_timeout: float | None,
    ) -> Any:
        bus = self._bus()
        queues: dict[str, None] = {}
        leases = []
        for target, priority in targets_and_priorities:
            exchange, topic = self._exchange(target), f"{target.topic}.{priority}"
            shared = notification_queue(exchange, topic)
            if pool is None:
                queues[shared] = None
                continue
            member = pool_queue(exchange, pool, topic)
            hold = bus.leases.hold_subscription(shared, member, self.settings.pool_ttl, owned=False)
            leases.append(_set_up(bus, hold))
            queues[member] = None
        terms = ClaimTerms(ttl=self.settings.claim_ttl, grace=SHORTEST_TTL)
        listener = _Listener(
            bus.consume(list(queues), terms),
            _notification_incoming,
            on_stop=lambda: bus.call(bus.leases.drop_subscription(*leases)),
        )
        return base.PollStyleListenerAdapter(listener, batch_size, batch_timeout)

    def _rpc_incoming(self, delivery: Delivery) -> _RpcIncoming | None:
        body = delivery.body
        if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
            return None
        return _RpcIncoming(self, delivery, body)

    # Housekeeping

    def cleanup(self) -> None:
        with self._lock:
            bus, self._current = self._current, None
        if bus is not None and self._pid == os.getpid():
            bus.close()

    def _exchange(self, target: Any) -> str:
        exchange: str = target.exchange or self._default_exchange or "openstack"
        return exchange

    def _bus(self) -> Bus:
        with self._lock:
            if self._current is None or self._pid != os.getpid():
                self._current = Bus(self._client, self.settings.bus)
                self._pid = os.getpid()
            return self._current

    def _client(self) -> Client:
        settings = self.settings
        transport: Transport = KeepAliveTransport(
            settings.endpoint, max_connections=MAX_CONNECTIONS
        )
        if settings.credentials is not None:
            transport = KeystoneTransport(transport, settings.credentials)
        return Client(settings.endpoint, settings.project, transport=transport)


def _set_up(bus: Bus, work: Coroutine[Any, Any, T]) -> T:
    """Run a listener's set-up step; its failure as ``MessageDeliveryFailure``."""
    try:
        return bus.call(work)
    except (ConnectionError, PermissionError, TimeoutError, errors.TidingsError) as exc:
        raise oslo_errors.MessageDeliveryFailure(f"tidings: {exc!r}") from exc


def _next(
    waiter: queue.SimpleQueue[Mapping[str, JSON]], until: float | None
) -> Mapping[str, JSON] | None:
    timeout = None if until is None else max(0.0, until - time.monotonic())
    try:
        return waiter.get(timeout=timeout)
    except queue.Empty:
        return None


def _earliest(*moments: float | None) -> float | None:
    known = [moment for moment in moments if moment is not None]
    return min(known) if known else None


# The listener side


class _Listener(base.PollStyleListener):  # type: ignore[misc]
    def __init__(
        self,
        inbox: Inbox,
        incoming: Callable[[Delivery], base.IncomingMessage | None],
        on_stop: Callable[[], object] = lambda: None,
        on_cleanup: Callable[[], object] = lambda: None,
    ) -> None:
        super().__init__()
        self._inbox = inbox
        self._incoming = incoming
        self._on_stop = on_stop
        self._on_cleanup = on_cleanup

    @base.batch_poll_helper  # type: ignore[untyped-decorator]
    def poll(self, timeout: float | None = None) -> base.IncomingMessage | None:
        """One message, or None after ``timeout`` seconds or once stopped."""
        while (delivery := self._inbox.take(timeout)) is not None:
            incoming = self._incoming(delivery)
            if incoming is not None:
                return incoming
            LOG.warning("dropping a message that is not from oslo.messaging: %r", delivery.body)
            delivery.settle()
        return None

    def stop(self) -> None:
        self._inbox.stop()
        _quietly(self._on_stop)

    def cleanup(self) -> None:
        self._inbox.close()
        _quietly(self._on_cleanup)


def _quietly(step: Callable[[], object]) -> None:
    try:
        step()
    except Exception as exc:
        LOG.warning("tidings listener housekeeping failed: %r", exc)


class _RpcIncoming(base.RpcIncomingMessage):  # type: ignore[misc]
    def __init__(self, driver: TidingsDriver, delivery: Delivery, body: dict[str, Any]) -> None:
        super().__init__(body.get("ctxt") or {}, body["message"], body.get("msg_id"))
        self.client_timeout = body.get("timeout")
        self._driver = driver
        self._delivery = delivery
        self._reply_to = body.get("reply_to")

    def acknowledge(self) -> None:
        """Called before dispatch; the acknowledgement is sent once the reply is posted (so a
        quick call's reply does not queue behind it on the server), or ``ACK_DELAY`` seconds
        into a longer dispatch."""
        self._delivery.settle_later(ACK_DELAY)

    def requeue(self) -> None:
        self._delivery.settle(requeue=True)

    def reply(self, reply: JSON = None, failure: Any = None) -> None:
        """Called after every dispatch, also of a cast (which has nobody to reply to)."""
        if self._reply_to:
            error = common.serialize_remote_exception(failure) if failure else None
            body = {"msg_id": self.msg_id, "result": reply, "failure": error}
            self._driver.post_reply(self._reply_to, body)
        self._delivery.settle()

    def heartbeat(self) -> None:
        if self._reply_to:
            self._driver.post_reply(self._reply_to, {"msg_id": self.msg_id, "heartbeat": True})


class _Notification(base.IncomingMessage):  # type: ignore[misc]
    def __init__(self, delivery: Delivery, body: dict[str, Any]) -> None:
        super().__init__(body.get("ctxt") or {}, common.deserialize_msg(body["message"]))
        self._delivery = delivery

    def acknowledge(self) -> None:
        self._delivery.settle()

    def requeue(self) -> None:
        self._delivery.settle(requeue=True)


def _notification_incoming(delivery: Delivery) -> _Notification | None:
    body = delivery.body
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        return None
    return _Notification(delivery, body)
