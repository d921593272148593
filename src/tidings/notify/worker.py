"""The delivery worker: it finds outbox queues holding jobs, claims jobs like any consumer,
delivers each to its subscriber, and then deletes it, re-posts it with the retry policy's delay,
or dead-letters it into a queue of the project.

A job is deleted only after its outcome is stored, and re-posted jobs have ids derived from
the attempt, so a crash at any point delivers again (at least once) and never loses a job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from tidings.clock import Clock
from tidings.config import NotificationSettings
from tidings.models import JSON, Message, NewMessage, Subscription
from tidings.notify.sinks import Delivery, Outcome, Sink, failed, retry
from tidings.service import retry_policy
from tidings.service.encryption import BodyCipher
from tidings.service.outbox import (
    NOTIFICATION,
    NOTIFIER,
    Job,
    dead_letter_queue,
    derived_id,
    receives,
)
from tidings.service.scope import kind_of
from tidings.storage.base import Storage

log = logging.getLogger(__name__)

GRACE = 60
CLAIM_MARGIN = 10
"""Seconds a claim outlives the slowest delivery's timeout."""

KINDS = {"http": "webhook", "https": "webhook", "mailto": "mail", "queue": "queue"}
"""The subscriber kind of each scheme, as delivery figures name it."""
DELIVERED, RETRIED, DEAD = "delivered", "retried", "dead"
"""What became of one delivery attempt."""

DeliveryObserver = Callable[[str, str, float], None]
"""Told of each delivery attempt: the subscriber kind, what became of it, its seconds."""


def keep_no_figures(kind: str, result: str, seconds: float) -> None:
    """The observer when metrics are off."""


@dataclasses.dataclass(frozen=True)
class Lease:
    """Where a claimed job lives."""

    space: str
    outbox: str
    claim_id: str


@dataclasses.dataclass(frozen=True)
class DeliverySetup:
    """What the delivery worker works with."""

    storage: Storage
    settings: NotificationSettings
    clock: Clock
    cipher: BodyCipher
    job_ttl: int
    """Seconds a re-posted or dead-lettered job lives."""
    observe: DeliveryObserver = keep_no_figures


class Dispatcher:
    def __init__(self, setup: DeliverySetup, sinks: Mapping[str, Sink]) -> None:
        self._setup = setup
        self._sinks = sinks
        slowest = max(setup.settings.webhook_timeout, setup.settings.smtp_timeout)
        self._claim_ttl = math.ceil(slowest) + CLAIM_MARGIN

    async def run(self) -> None:
        """Deliver until cancelled, resting ``poll_interval`` whenever there is no work."""
        while True:
            try:
                handled = await self.drain()
            except Exception:
                log.exception("notification delivery pass failed")
                handled = 0
            if not handled:
                await asyncio.sleep(self._setup.settings.poll_interval)

    async def drain(self) -> int:
        """One pass over the outboxes with work; the number of jobs handled."""
        handled = 0
        for space, outbox in await self._setup.storage.outboxes(self._setup.clock()):
            handled += await self._drain_outbox(space, outbox)
        return handled

    async def _drain_outbox(self, space: str, outbox: str) -> int:
        claim = await self._setup.storage.claim_create(
            space, outbox, self._claim_ttl, GRACE, self._setup.settings.workers, self._setup.clock()
        )
        if claim is None:
            return 0
        lease = Lease(space, outbox, claim.id)
        await asyncio.gather(*(self._handle(lease, message) for message in claim.messages))
        return len(claim.messages)

    async def _handle(self, lease: Lease, message: Message) -> None:
        job = Job.from_body(message.body)
        subscription = await self._subscription(lease.space, job)
        if job is not None and subscription is not None and self._due(job, subscription):
            delivery = Delivery(subscription, job, self._payload(lease.space, job))
            started = time.perf_counter()
            outcome = await self._deliver(delivery)
            seconds = time.perf_counter() - started
            result = DELIVERED
            if not outcome.delivered:
                result = await self._retry_or_bury(lease, delivery, outcome)
            self._setup.observe(_kind(subscription), result, seconds)
        await self._setup.storage.messages_delete(
            lease.space, lease.outbox, [message.id], [lease.claim_id], self._setup.clock()
        )

    async def _subscription(self, space: str, job: Job | None) -> Subscription | None:
        """The job's subscription, if it still exists."""
        if job is None:
            log.warning("dropping a message of an outbox of %r that is no delivery job", space)
            return None
        return await self._setup.storage.subscription_get(
            space, job.source, job.subscription_id, self._setup.clock()
        )

    def _due(self, job: Job, subscription: Subscription) -> bool:
        """Confirmation requests always go; messages only to those who receive them now."""
        return job.kind != NOTIFICATION or receives(
            subscription, self._setup.settings.require_confirmation
        )

    def _payload(self, space: str, job: Job) -> dict[str, JSON]:
        if job.kind != NOTIFICATION:
            return dict(job.body)
        return {
            "body": self._setup.cipher.open(space, job.body),
            "ttl": job.ttl,
            "queue_name": job.source,
            "Message_Type": NOTIFICATION,
        }

    async def _deliver(self, delivery: Delivery) -> Outcome:
        scheme = urlsplit(delivery.subscription.subscriber).scheme
        sink = self._sinks.get(scheme)
        if sink is None:
            return failed(f"no sink for {scheme}: subscribers")
        try:
            return await sink.deliver(delivery)
        except Exception as exc:
            log.exception("delivery of %s failed", delivery.job.notification_id)
            return retry(f"{type(exc).__name__}: {exc}")

    async def _retry_or_bury(self, lease: Lease, delivery: Delivery, outcome: Outcome) -> str:
        """Post the job again for later, or keep it as dead; which of the two was done."""
        job = delivery.job
        delay = await self._delay(lease.space, delivery) if outcome.retryable else None
        if delay is None:
            await self._bury(lease.space, delivery, outcome)
            return DEAD
        log.info(
            "notification %s attempt %d failed (%s); retrying in %d s",
            job.notification_id,
            job.attempt,
            outcome.error,
            delay,
        )
        again = dataclasses.replace(job, attempt=job.attempt + 1)
        await self._setup.storage.messages_post(
            lease.space,
            lease.outbox,
            [again.message(self._setup.job_ttl, delay)],
            self._setup.clock(),
        )
        return RETRIED

    async def _delay(self, space: str, delivery: Delivery) -> int | None:
        """The retry policy's wait before the next attempt; None when retries ran out."""
        source = delivery.job.source
        queue_meta = await self._setup.storage.queue_get_metadata(space, source) or {}
        policy = retry_policy.effective(
            queue_meta.get("_retry_policy"),
            delivery.subscription.options.get("_retry_policy"),
        )
        return policy.delay_before(delivery.job.attempt)

    async def _bury(self, space: str, delivery: Delivery, outcome: Outcome) -> None:
        """Keep the notification in a queue of the project, where it can be read and
        replayed."""
        job = delivery.job
        subscription = delivery.subscription
        target = dead_letter_queue(subscription)
        record = {
            "notification_id": job.notification_id,
            "subscription_id": subscription.id,
            "subscriber": subscription.subscriber,
            "source": job.source,
            "source_type": kind_of(space)[:-1],
            "attempts": job.attempt,
            "error": outcome.error,
            "notification": delivery.payload,
        }
        log.warning(
            "notification %s to %s failed for good (%s); kept in queue %s",
            job.notification_id,
            subscription.subscriber,
            outcome.error,
            target,
        )
        dead = NewMessage(
            derived_id(f"{job.notification_id}#dead"), record, self._setup.job_ttl, 0, NOTIFIER
        )
        await self._setup.storage.messages_post(job.project, target, [dead], self._setup.clock())


def _kind(subscription: Subscription) -> str:
    return KINDS.get(urlsplit(subscription.subscriber).scheme, "other")
