"""Notifications through the driver with real oslo.messaging: Notifier and
NotificationListener, with priorities, pools, store-and-forward and requeue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import oslo_messaging as om

from tests.oslo.conftest import eventually, stays

CTXT = {"user": "alice"}


class Inbox:
    """A notification endpoint that keeps what it handled, and requeues each event type in
    ``requeue_once`` the first time it sees it."""

    def __init__(self, requeue_once: frozenset[str] = frozenset()) -> None:
        self.seen: list[tuple[str, str, Any]] = []
        self.requeued: list[str] = []
        self._requeue_once = set(requeue_once)

    def info(self, *args: Any) -> Any:
        return self._handle("info", *args)

    def error(self, *args: Any) -> Any:
        return self._handle("error", *args)

    def _handle(
        self, priority: str, ctxt: Any, publisher: str, event: str, payload: Any, meta: Any
    ) -> Any:
        if event in self._requeue_once:
            self._requeue_once.discard(event)
            self.requeued.append(event)
            return om.NotificationResult.REQUEUE
        self.seen.append((priority, event, payload))
        return om.NotificationResult.HANDLED

    def events(self) -> list[str]:
        return sorted(event for _, event, _ in self.seen)


def notifier(transport: Any, driver: str = "messagingv2") -> Any:
    return om.Notifier(transport, "tidings.tests", driver=driver, topics=["notifications"])


def listen(
    transport: Any,
    started: Callable[[Any], Any],
    endpoint: Inbox,
    pool: str | None = None,
    **options: Any,
) -> Any:
    targets = [om.Target(topic="notifications")]
    return started(
        om.get_notification_listener(transport, targets, [endpoint], pool=pool, **options)
    )


def test_a_listener_gets_each_notification_with_its_priority(
    transports: Callable[..., Any], started: Callable[[Any], Any]
) -> None:
    transport = transports(notification=True)
    endpoint = Inbox()
    listen(transport, started, endpoint)

    notifier(transport).info(CTXT, "volume.create", {"size": 1})
    notifier(transport).error(CTXT, "volume.fail", {"size": 2})

    eventually(lambda: len(endpoint.seen) == 2)
    assert sorted(endpoint.seen) == [
        ("error", "volume.fail", {"size": 2}),
        ("info", "volume.create", {"size": 1}),
    ]


def test_version_1_notifications_arrive_too(
    transports: Callable[..., Any], started: Callable[[Any], Any]
) -> None:
    transport = transports(notification=True)
    endpoint = Inbox()
    listen(transport, started, endpoint)

    notifier(transport, driver="messaging").info(CTXT, "volume.create", {"v": 1})

    eventually(lambda: endpoint.seen == [("info", "volume.create", {"v": 1})])


def test_a_notification_sent_before_any_listener_is_kept_for_it(
    transports: Callable[..., Any], started: Callable[[Any], Any]
) -> None:
    transport = transports(notification=True)
    notifier(transport).info(CTXT, "early", {})

    endpoint = Inbox()
    listen(transport, started, endpoint)

    eventually(lambda: endpoint.events() == ["early"])


def test_listeners_without_a_pool_share_one_copy(
    transports: Callable[..., Any], started: Callable[[Any], Any]
) -> None:
    transport = transports(notification=True)
    first, second = Inbox(), Inbox()
    listen(transport, started, first)
    listen(transports(notification=True), started, second)

    for n in range(10):
        notifier(transport).info(CTXT, f"event-{n}", {})

    def handled() -> int:
        return len(first.seen) + len(second.seen)

    eventually(lambda: handled() == 10)
    assert stays(lambda: handled() == 10)


def test_each_pool_gets_its_copy_shared_by_its_listeners(
    transports: Callable[..., Any], started: Callable[[Any], Any]
) -> None:
    # Given two listeners in pool "audit", one in pool "billing", one in no pool
    transport = transports(notification=True)
    audit = [Inbox(), Inbox()]
    billing, default = Inbox(), Inbox()
    for endpoint in audit:
        listen(transports(notification=True), started, endpoint, pool="audit")
    listen(transport, started, billing, pool="billing")
    listen(transport, started, default)

    # When six notifications are sent
    for n in range(6):
        notifier(transport).info(CTXT, f"event-{n}", {})

    # Then each pool (and the listeners without one) handles each notification once
    every = [f"event-{n}" for n in range(6)]
    eventually(lambda: sorted(audit[0].events() + audit[1].events()) == every)
    eventually(lambda: billing.events() == every)
    eventually(lambda: default.events() == every)
    assert stays(lambda: len(audit[0].seen) + len(audit[1].seen) == 6)


def test_a_requeued_notification_is_delivered_again(
    transports: Callable[..., Any], started: Callable[[Any], Any]
) -> None:
    transport = transports(notification=True)
    endpoint = Inbox(requeue_once=frozenset({"retry-me"}))
    listen(transport, started, endpoint, allow_requeue=True)

    notifier(transport).info(CTXT, "retry-me", {"n": 1})
    notifier(transport).info(CTXT, "plain", {"n": 2})

    eventually(lambda: endpoint.events() == ["plain", "retry-me"])
    assert endpoint.requeued == ["retry-me"]


def test_a_batch_listener_gets_notifications_in_batches(
    transports: Callable[..., Any], started: Callable[[Any], Any]
) -> None:
    transport = transports(notification=True)
    batches: list[list[str]] = []

    class Batches:
        def info(self, messages: list[dict[str, Any]]) -> None:
            batches.append([message["event_type"] for message in messages])

    for n in range(5):
        notifier(transport).info(CTXT, f"event-{n}", {})
    targets = [om.Target(topic="notifications")]
    listener = om.get_batch_notification_listener(
        transport, targets, [Batches()], batch_size=5, batch_timeout=2
    )
    started(listener)

    eventually(lambda: sum(len(batch) for batch in batches) == 5)
    assert max(len(batch) for batch in batches) > 1
