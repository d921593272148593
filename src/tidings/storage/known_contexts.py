"""The post contexts a process keeps: for each queue it posted to lately, the context it read
(the queue's metadata and live subscriptions) with the version the store gave it, so that a
post need not read the whole context again while the queue stays the same.

A driver keeps a version beside each queue that every change to the queue's existence,
metadata or subscriptions moves. Redis and PostgreSQL post in one round trip (``post``): a
post prepared with a kept context names its version, and the driver's write refuses it,
writing nothing, once the version moved; the context is then read again and the post
prepared anew. An error found with a kept context (a body too large for limits that were
raised since) is checked again with a fresh one. SQLite reads its context clock before a
batch's writes (a counter that every context change of every queue moves): a kept context
confirmed current at that clock is used as it is, another one's version alone is read, and
the whole context only when the version moved (``current``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from tidings import errors
from tidings.models import PostContext, PreparedPost, PreparePost
from tidings.recent import Recent

REMEMBERED = 4096
"""Queues whose post context a process keeps."""
ATTEMPTS = 5
"""Tries of a post whose queue keeps changing under it."""


@dataclass(frozen=True, slots=True)
class VersionedContext:
    context: PostContext
    version: str
    """Of the queue's context when it was read."""
    confirmed_at: int | None = None
    """The store's context clock when this version was last found current (SQLite)."""

    def at(self, now: float) -> PostContext:
        """The context as read at ``now``: without the subscriptions that expired since."""
        subscribers = [s for s in self.context.subscribers if s.expires > now]
        if len(subscribers) == len(self.context.subscribers):
            return self.context
        return PostContext(self.context.metadata, subscribers)


ReadContext = Callable[[], Awaitable[VersionedContext]]
WriteIfCurrent = Callable[[PreparedPost, str, bool], Awaitable[bool]]
"""Write the post unless the queue's context version is no longer the one given (the context
was read for this post when the last argument is True): whether it wrote."""


class KnownContexts:
    """The contexts of the queues a process posted to lately, the oldest forgotten first."""

    def __init__(self) -> None:
        self._kept = Recent[tuple[str, str], VersionedContext](REMEMBERED)

    async def post(
        self,
        project: str,
        queue: str,
        now: float,
        prepare: PreparePost,
        read: ReadContext,
        write: WriteIfCurrent,
    ) -> PreparedPost:
        """Prepare the post with the context kept of the queue (``read`` when none or when it
        changed) and ``write`` it; return what was written."""
        known = self._kept.get((project, queue))
        fresh = False
        for _ in range(ATTEMPTS):
            if known is None:
                known, fresh = self._kept.keep((project, queue), await read()), True
            try:
                post = prepare(known.at(now))
            except errors.TidingsError:
                if fresh:
                    raise
                known = None
                continue
            if await write(post, known.version, fresh):
                return post
            known, fresh = None, False
        raise errors.StorageUnavailable(
            "The queue's settings kept changing during the post. Please try again."
        )

    def current(
        self,
        project: str,
        queue: str,
        clock: int,
        version: Callable[[], str],
        read: Callable[[], PostContext],
    ) -> VersionedContext:
        """The context kept of the queue if it was confirmed current at ``clock`` (the store's
        context clock, which moves with every change of any queue's context) or its version
        is still the one ``version`` reads, else the one ``read`` returns, kept. ``clock`` must
        be read before ``version``, and ``version`` before ``read``: a change made in between
        then only makes the next post read again."""
        known = self._kept.get((project, queue))
        if known is not None and known.confirmed_at == clock:
            return known
        found = version()
        if known is None or known.version != found:
            return self._kept.keep((project, queue), VersionedContext(read(), found, clock))
        return self._kept.keep((project, queue), replace(known, confirmed_at=clock))
