"""Claim rules: ttl and grace limits, and dead-lettering after ``_max_claim_count`` claims."""

from __future__ import annotations

import dataclasses
from typing import Any

from tidings import errors
from tidings.clock import Clock
from tidings.config import SHORTEST_TTL, Limits
from tidings.models import Claim
from tidings.service import validate
from tidings.service.encryption import BodyCipher
from tidings.service.metadata import LOWEST_MAX_CLAIM_COUNT
from tidings.service.waiting import CallerGone, LongPoll
from tidings.storage.base import Storage

CLAIM_TTL = (
    "The TTL for a claim may not exceed {high} seconds, and must be at least {low} seconds long."
)
CLAIM_GRACE = (
    "The grace for a claim may not exceed {high} seconds, and must be at least {low} seconds long."
)


class ClaimService:
    def __init__(self, storage: Storage, limits: Limits, clock: Clock, cipher: BodyCipher) -> None:
        self.storage = storage
        self.limits = limits
        self.clock = clock
        self.cipher = cipher
        self.long_poll = LongPoll(storage, limits)

    async def create(
        self,
        project: str,
        queue: str,
        limit: int | None,
        document: Any,
        wait: int | None = 0,
        caller_gone: CallerGone | None = None,
    ) -> Claim | None:
        """Claim up to ``limit`` messages; when none is claimable, wait up to ``wait`` seconds
        (None: the queue's default) for some, unless the caller goes. None when there is
        still none."""
        validate.queue_name(queue)
        count = validate.limit(limit, self.limits.max_messages_per_claim_or_pop)
        ttl, grace = self._ttl_and_grace(document)
        self.long_poll.check(wait)
        return await self.long_poll.until_found(
            project,
            queue,
            wait,
            lambda: self._claim(project, queue, ttl, grace, count),
            lambda claim: claim is not None,
            caller_gone,
        )

    async def _claim(
        self, project: str, queue: str, ttl: int, grace: int, count: int
    ) -> Claim | None:
        now = self.clock()
        claim = await self.storage.claim_create(project, queue, ttl, grace, count, now)
        if claim is None:
            return None
        kept = await self._dead_letter(project, claim, now)
        return None if kept is None else self._opened(project, kept)

    async def get(self, project: str, queue: str, claim_id: str) -> Claim:
        validate.queue_name(queue)
        claim = await self.storage.claim_get(project, queue, claim_id, self.clock())
        if claim is None:
            raise errors.ClaimNotFound()
        return self._opened(project, claim)

    async def renew(self, project: str, queue: str, claim_id: str, document: Any) -> None:
        validate.queue_name(queue)
        ttl, grace = self._ttl_and_grace(document)
        renewed = await self.storage.claim_renew(project, queue, claim_id, ttl, grace, self.clock())
        if not renewed:
            raise errors.ClaimNotFound()

    async def release(self, project: str, queue: str, claim_id: str) -> None:
        validate.queue_name(queue)
        await self.storage.claim_release(project, queue, claim_id)

    def _opened(self, project: str, claim: Claim) -> Claim:
        return dataclasses.replace(claim, messages=self.cipher.open_all(project, claim.messages))

    def _ttl_and_grace(self, document: Any) -> tuple[int, int]:
        document = {} if document is None else validate.document(document)
        ttl = validate.field(document, "ttl", int, self.limits.default_claim_ttl)
        grace = validate.field(document, "grace", int, self.limits.default_claim_grace)
        validate.in_range(ttl, SHORTEST_TTL, self.limits.max_claim_ttl, CLAIM_TTL)
        validate.in_range(grace, SHORTEST_TTL, self.limits.max_claim_grace, CLAIM_GRACE)
        return ttl, grace

    async def _dead_letter(self, project: str, claim: Claim, now: float) -> Claim | None:
        """Move the messages claimed more than ``_max_claim_count`` times to the queue's
        dead-letter queue; the claim keeps the others."""
        if max(message.claim_count for message in claim.messages) <= LOWEST_MAX_CLAIM_COUNT:
            return claim  # none can be spent: the queue's metadata need not be read
        queue_meta = await self.storage.queue_get_metadata(project, claim.queue) or {}
        target = queue_meta.get("_dead_letter_queue")
        most = queue_meta.get("_max_claim_count")
        if target is None or most is None:
            return claim
        spent = [message for message in claim.messages if message.claim_count > most]
        if not spent:
            return claim
        ttl = queue_meta.get("_dead_letter_queue_messages_ttl")
        await self.storage.messages_move(
            project, claim.queue, [message.id for message in spent], target, ttl, now
        )
        kept = [message for message in claim.messages if message not in spent]
        if not kept:
            await self.storage.claim_release(project, claim.queue, claim.id)
            return None
        return dataclasses.replace(claim, messages=kept)
