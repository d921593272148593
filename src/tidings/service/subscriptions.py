"""Subscription rules: creation (idempotent for an unconfirmed subscriber), paging, update,
confirmation, and the confirmation requests that go out through the outbox.

Every method takes the storage project ``space`` (the project for a queue, its topic space for
a topic) and the name of the queue or topic.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from tidings import errors
from tidings.clock import Clock
from tidings.config import Limits
from tidings.models import JSON, Subscription
from tidings.service import confirmation, subscribers, validate
from tidings.service.outbox import SUBSCRIBE, UNSUBSCRIBE, OutboxRules, queue_sink
from tidings.service.scope import kind_of
from tidings.storage.base import Storage, outbox_queue


class SubscriptionService:
    def __init__(
        self,
        storage: Storage,
        limits: Limits,
        clock: Clock,
        outbox: OutboxRules,
        signing_key: str = "",
        public_url: str = "",
    ) -> None:
        self.storage = storage
        self.limits = limits
        self.clock = clock
        self.outbox = outbox
        self.signing_key = signing_key
        self.public_url = public_url

    async def create(self, space: str, source: str, document: Any) -> Subscription:
        """Subscribe; an unconfirmed subscription of the same subscriber is returned again
        (and asked to confirm again), a confirmed one is a conflict."""
        validate.queue_name(source)
        fields = self._fields(space, source, document)
        if "subscriber" not in fields:
            raise errors.InvalidRequest("Missing parameter subscriber in body.")
        now = self.clock()
        ttl = fields.get("ttl", self.limits.default_subscription_ttl)
        await self.storage.queue_create(space, source, {}, now)
        subscription, created = await self.storage.subscription_create(
            space,
            source,
            fields["subscriber"],
            ttl,
            fields.get("options", {}),
            secrets.token_hex(32),
            now,
        )
        if not created and subscription.confirmed:
            raise errors.SubscriptionExists()
        await self._ask(space, subscription, SUBSCRIBE)
        return subscription

    async def page(
        self, space: str, source: str, marker: str | None, limit: int | None
    ) -> list[Subscription]:
        validate.queue_name(source)
        size = validate.limit(limit, self.limits.max_subscriptions_per_page)
        return await self.storage.subscription_list(space, source, marker, size, self.clock())

    async def get(self, space: str, source: str, subscription_id: str) -> Subscription:
        validate.queue_name(source)
        found = await self.storage.subscription_get(space, source, subscription_id, self.clock())
        if found is None:
            raise errors.SubscriptionNotFound()
        return found

    async def update(self, space: str, source: str, subscription_id: str, document: Any) -> None:
        """Change the subscriber, ttl or options (replaced whole). A new subscriber must
        confirm again when confirmation is required."""
        validate.queue_name(source)
        fields = self._fields(space, source, document)
        before = await self.get(space, source, subscription_id)
        updated = await self.storage.subscription_update(
            space, source, subscription_id, self.clock(), **fields
        )
        if updated is None:
            raise errors.SubscriptionNotFound()
        if updated.subscriber != before.subscriber and self._needs_confirmation(updated):
            now = self.clock()
            await self.storage.subscription_confirm(space, source, subscription_id, False, now)
            await self._ask(space, dataclasses.replace(updated, confirmed=False), SUBSCRIBE)

    async def confirm(self, space: str, source: str, subscription_id: str, document: Any) -> None:
        """Set the confirmed flag; ``false`` sends an ``UnsubscribeConfirmation``."""
        validate.queue_name(source)
        confirmed = validate.document(document).get("confirmed")
        if not isinstance(confirmed, bool):
            raise errors.InvalidRequest("The 'confirmed' should be boolean.")
        found = await self.storage.subscription_confirm(
            space, source, subscription_id, confirmed, self.clock()
        )
        if found is None:
            raise errors.SubscriptionNotFound()
        if not confirmed:
            await self._ask(space, found, UNSUBSCRIBE)

    async def delete(self, space: str, source: str, subscription_id: str) -> None:
        validate.queue_name(source)
        await self.storage.subscription_delete(space, source, subscription_id)

    def _fields(self, space: str, source: str, document: Any) -> dict[str, Any]:
        if not document:
            raise errors.InvalidRequest("No subscription to create.")
        document = validate.document(document, "Subscription")
        fields: dict[str, Any] = {}
        if document.get("subscriber") is not None:
            is_queue = kind_of(space) == "queues"
            fields["subscriber"] = subscribers.subscriber(
                document["subscriber"], self.limits, source, is_queue
            )
        if document.get("ttl") is not None:
            fields["ttl"] = subscribers.ttl(document["ttl"], self.clock())
        if document.get("options") is not None:
            fields["options"] = subscribers.options(document["options"])
        if not fields:
            raise errors.InvalidRequest("No subscription to create.")
        return fields

    def _needs_confirmation(self, subscription: Subscription) -> bool:
        return self.outbox.require_confirmation and queue_sink(subscription.subscriber) is None

    async def _ask(self, space: str, subscription: Subscription, kind: str) -> None:
        """Queue a confirmation request (or notice) for the subscriber, when one is due."""
        if not self._needs_confirmation(subscription):
            return
        if kind == SUBSCRIBE and subscription.confirmed:
            return
        document: dict[str, JSON] = confirmation.document(
            space, subscription, kind, self.signing_key, self.public_url
        )
        job = self.outbox.confirmation(space, subscription, kind, document)
        await self.storage.messages_post(
            space, outbox_queue(subscription.source), [job], self.clock()
        )
