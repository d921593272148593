"""Message rules: batch posts with per-queue defaults and limits, listing, deletion, pop."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from tidings import errors
from tidings.clock import Clock
from tidings.config import SHORTEST_TTL, Limits
from tidings.ids import unique_id
from tidings.models import JSON, Message, MessageFilter, NewMessage, PostContext, PreparedPost
from tidings.service import metadata, validate, waiting
from tidings.service.encryption import BodyCipher
from tidings.service.outbox import OutboxRules
from tidings.service.waiting import CallerGone, LongPoll
from tidings.storage.base import Storage

FOLLOW_SECONDS = 60.0
"""Seconds a follower waits for news of a post before it looks anyway."""
FOLLOW_RETRY = 1.0
"""Seconds a follower waits before it looks again after the store failed to answer."""


class MessageService:
    def __init__(
        self,
        storage: Storage,
        limits: Limits,
        clock: Clock,
        cipher: BodyCipher,
        outbox: OutboxRules,
    ) -> None:
        self.storage = storage
        self.limits = limits
        self.clock = clock
        self.cipher = cipher
        self.outbox = outbox
        self.long_poll = LongPoll(storage, limits)

    async def post(
        self, project: str, queue: str, client_id: str, document: Any, size: int
    ) -> list[str]:
        """Store a batch of messages, with their notifications in the same write; ``size`` is
        the request body's length in bytes."""
        validate.queue_name(queue)
        batch = _batch(document)
        prepare = functools.partial(self._prepare_post, project, queue, client_id, batch, size)
        return await self.storage.messages_post_in_context(project, queue, self.clock(), prepare)

    def _prepare_post(
        self,
        project: str,
        queue: str,
        client_id: str,
        batch: list[Any],
        size: int,
        context: PostContext,
    ) -> PreparedPost:
        """The messages of the batch, with the queue's defaults, limits and encryption, and
        their notifications; only computes, as the store may call it from a thread."""
        queue_meta = metadata.with_defaults(context.metadata, self.limits)
        self._check_size(size, queue_meta)
        messages = [self._new_message(item, client_id, queue_meta) for item in batch]
        if queue_meta["_enable_encrypt_messages"]:
            messages = [
                dataclasses.replace(message, body=self.cipher.seal(project, message.body))
                for message in messages
            ]
        outbox = self.outbox.for_post(project, queue, messages, context.subscribers)
        return PreparedPost(messages, outbox)

    async def page(
        self,
        project: str,
        queue: str,
        query: MessageFilter,
        limit: int | None,
        wait: int | None = 0,
        caller_gone: CallerGone | None = None,
    ) -> tuple[list[Message], str | None]:
        """A page of up to ``limit`` messages (None: the default page); when there is none,
        wait up to ``wait`` seconds (None: the queue's default) for one, unless the caller
        goes."""
        validate.queue_name(queue)
        size = validate.limit(limit, self.limits.max_messages_per_page)
        query = dataclasses.replace(query, limit=size)
        self.long_poll.check(wait)
        look = functools.partial(self._page, project, queue, query)
        return await self.long_poll.until_found(
            project, queue, wait, look, _has_messages, caller_gone
        )

    async def newest_marker(self, project: str, queue: str) -> str | None:
        """Where the queue's messages end now: ``follow`` from here yields every message
        posted after this returned."""
        validate.queue_name(queue)
        return await self.storage.newest_marker(project, queue)

    async def follow(
        self, project: str, queue: str, marker: str | None
    ) -> AsyncGenerator[tuple[list[Message], str | None], None]:
        """Every message posted to the queue after ``marker`` (see ``newest_marker``), by any
        process, batch after batch as they come (delayed and claimed ones too), each with
        the marker to follow on from; it never ends by itself."""
        query = MessageFilter(
            client_id="",
            echo=True,
            include_claimed=True,
            include_delayed=True,
            marker=marker,
            limit=self.limits.max_messages_per_page,
        )
        while True:
            look = self.long_poll.gated(functools.partial(self._page, project, queue, query))
            try:
                found, after = await waiting.watching(
                    self.storage, project, queue, FOLLOW_SECONDS, look, _has_messages
                )
            except errors.StorageUnavailable:
                await asyncio.sleep(FOLLOW_RETRY)  # keep the place: nothing posted is skipped
                continue
            if found:
                query = dataclasses.replace(query, marker=after)
                yield found, after

    async def _page(
        self, project: str, queue: str, query: MessageFilter
    ) -> tuple[list[Message], str | None]:
        found, marker = await self.storage.messages_list(project, queue, query, self.clock())
        return self.cipher.open_all(project, found), marker

    async def get(self, project: str, queue: str, message_id: str) -> Message:
        validate.queue_name(queue)
        found = await self.storage.messages_get(project, queue, [message_id], self.clock())
        if not found:
            raise errors.MessageNotFound()
        return self.cipher.open_all(project, found)[0]

    async def get_many(self, project: str, queue: str, ids: Sequence[str]) -> list[Message]:
        validate.queue_name(queue)
        self._check_ids(ids)
        found = await self.storage.messages_get(project, queue, ids, self.clock())
        if not found:
            raise errors.MessageNotFound("None of the requested messages exist.")
        return self.cipher.open_all(project, found)

    async def delete(self, project: str, queue: str, message_id: str, claim_id: str | None) -> None:
        validate.queue_name(queue)
        await self.storage.message_delete(project, queue, message_id, claim_id, self.clock())

    async def delete_many(
        self, project: str, queue: str, ids: Sequence[str], claim_ids: Sequence[str] | None
    ) -> None:
        validate.queue_name(queue)
        self._check_ids(ids)
        if self.limits.message_delete_with_claim_id and not claim_ids:
            raise errors.InvalidRequest("claim_ids are required when deleting messages by id.")
        if claim_ids is not None:
            self._check_ids(claim_ids, "claim")
        await self.storage.messages_delete(project, queue, ids, claim_ids, self.clock())

    async def pop(self, project: str, queue: str, count: int) -> list[Message]:
        validate.queue_name(queue)
        validate.in_range(
            count,
            1,
            self.limits.max_messages_per_claim_or_pop,
            "Pop value must be at least {low} and may not be greater than {high}.",
        )
        popped = await self.storage.messages_pop(project, queue, count, self.clock())
        return self.cipher.open_all(project, popped)

    def _check_ids(self, ids: Sequence[str], kind: str = "message") -> None:
        validate.in_range(
            len(ids),
            1,
            self.limits.max_messages_per_page,
            f"The number of {kind} ids must be at least {{low}} and no greater than {{high}}.",
        )

    def _check_size(self, size: int, queue_meta: Mapping[str, JSON]) -> None:
        allowed = min(queue_meta["_max_messages_post_size"], self.limits.max_messages_post_size)
        if size > allowed:
            raise errors.InvalidRequest(f"Message collection size is too large. Max size {allowed}")

    def _new_message(self, item: Any, client_id: str, queue_meta: Mapping[str, JSON]) -> NewMessage:
        item = validate.document(item, "Message")
        if "body" not in item:
            raise errors.InvalidRequest('Missing "body" field.')
        ttl = validate.field(item, "ttl", int, queue_meta["_default_message_ttl"])
        delay = validate.field(item, "delay", int, queue_meta["_default_message_delay"])
        validate.in_range(ttl, SHORTEST_TTL, self.limits.max_message_ttl, metadata.MESSAGE_TTL)
        validate.in_range(delay, 0, self.limits.max_message_delay, metadata.MESSAGE_DELAY)
        return NewMessage(unique_id(), item["body"], ttl, delay, client_id)


def _batch(document: Any) -> list[Any]:
    document = validate.document(document)
    if "messages" not in document:
        raise errors.InvalidRequest("No messages were found in the request body.")
    batch = document["messages"]
    if not isinstance(batch, list):
        raise errors.InvalidBody("Document type not supported.")
    if not batch:
        raise errors.InvalidRequest("No messages to enqueue.")
    return batch


def _has_messages(page: tuple[list[Message], str | None]) -> bool:
    return bool(page[0])
