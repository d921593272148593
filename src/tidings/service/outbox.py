"""What a post writes besides its messages: a delivery job per (message, subscriber) into the
source's outbox queue, and the copies for ``queue:`` subscribers, all in the post's atomic write.

A job is an ordinary message of the outbox queue; the delivery workers claim it, deliver it,
and delete it, re-post it with a delay (retry) or dead-letter it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tidings.models import JSON, NewMessage, Subscription
from tidings.service.scope import kind_of, owner_of
from tidings.storage.base import outbox_queue

NOTIFICATION = "Notification"
SUBSCRIBE = "SubscriptionConfirmation"
UNSUBSCRIBE = "UnsubscribeConfirmation"
KINDS = frozenset({NOTIFICATION, SUBSCRIBE, UNSUBSCRIBE})

QUEUE_SCHEME = "queue:"
NOTIFIER = "tidings-notifier"
"""The client id of the messages the notifier writes."""
DEAD_SUFFIX = ".dead-notifications"
_IDS = uuid.UUID("5b1f6c2e-8c0a-4a55-9d0e-7f1b8e8f4a11")

Outbox = list[tuple[str, list[NewMessage]]]
"""``(target queue, messages)`` pairs for ``Storage.messages_post``."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One notification to one subscriber, as stored in an outbox queue."""

    kind: str
    """``Notification``, ``SubscriptionConfirmation`` or ``UnsubscribeConfirmation``."""
    project: str
    """The project owning the source (for a topic, not its topic space)."""
    source: str
    subscription_id: str
    notification_id: str
    """The same for every attempt, so receivers can drop duplicates."""
    body: JSON
    """The message body (as stored), or the confirmation document."""
    ttl: int
    message_id: str | None = None
    attempt: int = 1

    def as_body(self) -> dict[str, JSON]:
        return dataclasses.asdict(self)

    @classmethod
    def from_body(cls, body: Any) -> Job | None:
        """The job a stored body holds; None when it is not one."""
        names = {field.name for field in dataclasses.fields(cls)}
        if not isinstance(body, dict) or set(body) != names or body["kind"] not in KINDS:
            return None
        return cls(**body)

    def message(self, ttl: int, delay: int = 0) -> NewMessage:
        """The outbox message holding this job; its id is derived from the notification and
        the attempt, so writing it twice stores it once."""
        job_id = derived_id(f"{self.notification_id}#{self.attempt}")
        return NewMessage(job_id, self.as_body(), ttl, delay, NOTIFIER)


def derived_id(name: str) -> str:
    """A message id that is the same whenever ``name`` is."""
    return str(uuid.uuid5(_IDS, name))


def notification_id(message_id: str, subscription_id: str) -> str:
    return f"{message_id}/{subscription_id}"


def queue_sink(subscriber: str) -> str | None:
    """The target queue of a ``queue:NAME`` subscriber; None for other subscribers."""
    return subscriber[len(QUEUE_SCHEME) :] if subscriber.startswith(QUEUE_SCHEME) else None


def receives(subscription: Subscription, require_confirmation: bool) -> bool:
    """Whether messages reach the subscriber: confirmed, or no confirmation asked (a queue of
    the same project never needs one)."""
    return (
        subscription.confirmed
        or not require_confirmation
        or queue_sink(subscription.subscriber) is not None
    )


def dead_letter_queue(subscription: Subscription) -> str:
    """Where notifications go when retries run out: the ``dead_letter_queue`` option, else
    the source's name (cut to fit) followed by ``.dead-notifications``."""
    chosen = subscription.options.get("dead_letter_queue")
    if isinstance(chosen, str):
        return chosen
    return subscription.source[: 64 - len(DEAD_SUFFIX)] + DEAD_SUFFIX


class OutboxRules:
    """Builds the outbox entries of posts and confirmations."""

    def __init__(self, require_confirmation: bool, job_ttl: int) -> None:
        self.require_confirmation = require_confirmation
        self.job_ttl = job_ttl

    def for_post(
        self,
        space: str,
        queue: str,
        messages: Sequence[NewMessage],
        subscriptions: Iterable[Subscription],
    ) -> Outbox:
        """Entries for posting ``messages`` to ``queue`` of ``space``: copies into the queues
        of ``queue:`` subscribers (same project), one job per message for the others."""
        outbox: Outbox = []
        jobs: list[NewMessage] = []
        for subscription in subscriptions:
            if not receives(subscription, self.require_confirmation):
                continue
            target = queue_sink(subscription.subscriber)
            if target is not None and kind_of(space) == "queues":
                outbox.append((target, [_copy(message, subscription) for message in messages]))
            else:
                jobs += [self._job(space, queue, message, subscription) for message in messages]
        if jobs:
            outbox.append((outbox_queue(queue), jobs))
        return outbox

    def confirmation(
        self, space: str, subscription: Subscription, kind: str, document: Mapping[str, JSON]
    ) -> NewMessage:
        """The job sending ``document`` (a confirmation request) to the subscriber."""
        job = Job(
            kind=kind,
            project=owner_of(space),
            source=subscription.source,
            subscription_id=subscription.id,
            notification_id=f"{subscription.id}/{uuid.uuid4()}",
            body=dict(document),
            ttl=subscription.ttl,
        )
        return job.message(self.job_ttl)

    def _job(
        self, space: str, queue: str, message: NewMessage, subscription: Subscription
    ) -> NewMessage:
        job = Job(
            kind=NOTIFICATION,
            project=owner_of(space),
            source=queue,
            subscription_id=subscription.id,
            notification_id=notification_id(message.id, subscription.id),
            body=message.body,
            ttl=message.ttl,
            message_id=message.id,
        )
        return job.message(self.job_ttl, message.delay)


def _copy(message: NewMessage, subscription: Subscription) -> NewMessage:
    copy_id = derived_id(notification_id(message.id, subscription.id))
    return dataclasses.replace(message, id=copy_id, client_id=NOTIFIER)
