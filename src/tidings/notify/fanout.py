"""``queue:NAME`` subscribers of a topic: the message goes into the project's queue NAME.

(A queue's own ``queue:`` subscribers need no worker: the post writes their copies itself.)
The copy's id is derived from the notification id, so delivering twice stores it once.
"""

from __future__ import annotations

from tidings.clock import Clock
from tidings.models import NewMessage
from tidings.notify.sinks import DELIVERED, Delivery, Outcome
from tidings.service.outbox import NOTIFIER, derived_id, queue_sink
from tidings.storage.base import Storage


class QueueSink:
    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    async def deliver(self, delivery: Delivery) -> Outcome:
        job = delivery.job
        target = queue_sink(delivery.subscription.subscriber)
        assert target is not None, "only queue: subscribers come here (never asked to confirm)"
        copy = NewMessage(
            derived_id(job.notification_id), delivery.payload["body"], job.ttl, 0, NOTIFIER
        )
        await self._storage.messages_post(job.project, target, [copy], self._clock())
        return DELIVERED
