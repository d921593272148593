"""The storage contract every backend implements, and the way a backend is chosen by URL.

Every method is atomic on its own. Time is passed in as ``now`` (seconds since the epoch) so
expiry is driven by the caller's clock. Every message and claim lookup is scoped to
``(project, queue)``: an id from another project or queue is simply not found.

Drivers translate their library's exceptions into ``tidings.errors`` at their edge; an
unreachable backend raises ``StorageUnavailable``.

Subscriptions are scoped to ``(project, source)`` where ``source`` is a queue name; an expired
subscription (``expires <= now``) is invisible and removed by ``gc``. Deleting a queue keeps its
subscriptions (as Zaqar does); ``subscriptions_purge`` removes them.

The outbox: ``messages_post`` takes extra ``(target queue, messages)`` pairs written in the same
atomic write as the post. The service uses it for delivery jobs (target ``outbox_queue(queue)``)
and for ``queue:`` fan-out (target another queue of the same project). Queues whose name holds a
``#`` are internal: ``queue_list`` and ``queue_count`` never show them, and user queue names can
never contain ``#``. ``outboxes`` finds the outbox queues holding claimable messages; workers then
use the ordinary claim, delete, post and move methods on them.

Topics need no storage of their own: the service keeps a topic as a queue of the project
``topic_space(project)``.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from tidings import errors
from tidings.models import (
    JSON,
    Claim,
    Message,
    MessageFilter,
    NewMessage,
    PostContext,
    PreparePost,
    QueueRecord,
    QueueStats,
    Subscription,
)

OUTBOX_SUFFIX = "#outbox"


def outbox_queue(queue: str) -> str:
    """The internal queue holding the delivery jobs of ``queue``'s subscriptions.

    ``#`` is never valid in a user queue name, so users cannot reach it; it is hidden from
    ``queue_list`` and ``queue_count``."""
    return f"{queue}{OUTBOX_SUFFIX}"


def is_internal_queue(name: str) -> bool:
    """True for queues users never see (outboxes and any other name holding ``#``)."""
    return "#" in name


def topic_space(project: str) -> str:
    """The project under which the topics of ``project`` are stored as queues.

    Project ids come from a header, and header values cannot contain a newline, so no real
    project collides with a topic space."""
    return project + "\n#topics"


Capabilities = frozenset[str]

FIFO = "FIFO"
CLAIMS = "CLAIMS"
DURABILITY = "DURABILITY"
AOD = "AOD"
HIGH_THROUGHPUT = "HIGH_THROUGHPUT"


class Storage(abc.ABC):
    """One backend holding queues, messages and claims for every project."""

    capabilities: Capabilities = frozenset()

    async def open(self) -> None:  # noqa: B027 - drivers that need no set-up keep this
        """Connect and create the schema if needed."""

    async def close(self) -> None:  # noqa: B027
        """Release connections; the driver is unusable afterwards."""

    async def migrate(self) -> list[str]:
        """Bring the backend's schema up to date, without opening the driver for traffic;
        return the names of the migrations applied (none when up to date, or when the backend
        keeps no versioned schema)."""
        return []

    @abc.abstractmethod
    async def is_alive(self) -> bool: ...

    # Queues

    @abc.abstractmethod
    async def queue_create(
        self, project: str, name: str, metadata: dict[str, JSON], now: float
    ) -> bool:
        """Create the queue; return False (and change nothing) if it already exists."""

    @abc.abstractmethod
    async def queue_get_metadata(self, project: str, name: str) -> dict[str, JSON] | None:
        """The queue's metadata, or None when the queue does not exist."""

    @abc.abstractmethod
    async def queue_set_metadata(self, project: str, name: str, metadata: dict[str, JSON]) -> None:
        """Replace the metadata; raise QueueNotFound when the queue does not exist."""

    @abc.abstractmethod
    async def queue_list(self, project: str, marker: str | None, limit: int) -> list[QueueRecord]:
        """Queues sorted by name, those after ``marker`` first."""

    @abc.abstractmethod
    async def queue_count(self, project: str) -> int: ...

    @abc.abstractmethod
    async def queue_delete(self, project: str, name: str) -> None:
        """Delete the queue with its messages and claims; no error when absent."""

    @abc.abstractmethod
    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats: ...

    @abc.abstractmethod
    async def queue_purge(self, project: str, name: str) -> None:
        """Remove the queue's messages and claims present now, keeping the queue itself."""

    # Messages

    @abc.abstractmethod
    async def messages_post(
        self,
        project: str,
        queue: str,
        messages: Sequence[NewMessage],
        now: float,
        outbox: Sequence[tuple[str, Sequence[NewMessage]]] = (),
    ) -> list[str]:
        """Store the batch (all or nothing), creating the queue if absent; return the ids.

        Each message is stored under its given ``id``, which must be unique in the whole store
        (uuid4 or derived from one); a message whose id is already stored is skipped, so a
        retried post stores nothing twice. (SQL backends skip an id stored in any queue, Redis
        one stored in the same queue.) ``outbox`` holds ``(target queue,
        messages)`` pairs of the same project (targets created if absent), written in the same
        atomic write as the post: either everything is stored or nothing is. Exception: on
        Redis Cluster a target whose slot differs from ``queue``'s (fan-out to an unrelated
        queue) is written right after the post, at least once but not atomically;
        ``outbox_queue(queue)`` always shares ``queue``'s slot."""

    @abc.abstractmethod
    async def messages_list(
        self, project: str, queue: str, query: MessageFilter, now: float
    ) -> tuple[list[Message], str | None]:
        """Live messages in post order after ``query.marker``, and the marker of the last one."""

    @abc.abstractmethod
    async def messages_get(
        self, project: str, queue: str, ids: Sequence[str], now: float
    ) -> list[Message]:
        """The live messages among ``ids``, in post order."""

    @abc.abstractmethod
    async def message_delete(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> None:
        """Delete one message, checking the claim.

        Absent message: no error. Claimed and no ``claim_id``: MessageIsClaimed. ``claim_id``
        given and the message not claimed: MessageNotClaimed. ``claim_id`` unknown or expired:
        ClaimExpired. Claimed under another live claim: MessageIsClaimed.
        """

    @abc.abstractmethod
    async def messages_delete(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        claim_ids: Sequence[str] | None,
        now: float,
    ) -> None:
        """Delete the given messages; with ``claim_ids``, only those held by one of them."""

    @abc.abstractmethod
    async def messages_pop(self, project: str, queue: str, limit: int, now: float) -> list[Message]:
        """Remove and return up to ``limit`` claimable messages in one step."""

    @abc.abstractmethod
    async def messages_move(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        target: str,
        ttl: int | None,
        now: float,
    ) -> None:
        """Move messages to queue ``target`` of the same project (created if absent), unclaimed,
        with their claim count reset and, when ``ttl`` is given, a new expiry of now + ttl."""

    # Claims

    @abc.abstractmethod
    async def claim_create(
        self, project: str, queue: str, ttl: int, grace: int, limit: int, now: float
    ) -> Claim | None:
        """Claim up to ``limit`` claimable messages, oldest first, or return None if there are
        none. Each claimed message's claim count goes up by one and it lives at least until
        the claim expires plus ``grace``."""

    @abc.abstractmethod
    async def claim_get(
        self, project: str, queue: str, claim_id: str, now: float
    ) -> Claim | None: ...

    @abc.abstractmethod
    async def claim_renew(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        """Set the claim to expire at now + ``ttl`` (messages living at least ``grace`` more);
        False when the claim is unknown or expired."""

    @abc.abstractmethod
    async def claim_release(self, project: str, queue: str, claim_id: str) -> None:
        """Release the claim; its messages become claimable at once. No error when absent."""

    @abc.abstractmethod
    async def outboxes(self, now: float) -> list[tuple[str, str]]:
        """The ``(project, queue)`` pairs of outbox queues (names ending in ``#outbox``) that
        hold claimable messages (live, unclaimed, not delayed), so delivery workers find work.
        May include a pair whose messages were just taken; never misses one with work."""

    # Subscriptions

    @abc.abstractmethod
    async def subscription_create(
        self,
        project: str,
        source: str,
        subscriber: str,
        ttl: int,
        options: dict[str, JSON],
        secret: str,
        now: float,
    ) -> tuple[Subscription, bool]:
        """Subscribe ``subscriber`` to queue ``source`` until now + ``ttl``, unconfirmed, with a
        new uuid4 id; return it and True. When a live subscription of the same subscriber to
        the same source exists, return it unchanged and False."""

    @abc.abstractmethod
    async def subscription_get(
        self, project: str, source: str, subscription_id: str, now: float
    ) -> Subscription | None:
        """The live subscription, or None."""

    @abc.abstractmethod
    async def subscription_list(
        self, project: str, source: str, marker: str | None, limit: int, now: float
    ) -> list[Subscription]:
        """Up to ``limit`` live subscriptions of ``source`` sorted by id, ids after ``marker``."""

    @abc.abstractmethod
    async def subscription_update(
        self,
        project: str,
        source: str,
        subscription_id: str,
        now: float,
        *,
        subscriber: str | None = None,
        ttl: int | None = None,
        options: dict[str, JSON] | None = None,
    ) -> Subscription | None:
        """Change the given fields of a live subscription and return it; None when absent.

        ``ttl`` sets expires = now + ``ttl`` (``created`` is kept); ``options`` replaces the
        options (no merge). Raise Conflict when the new ``subscriber`` already has another
        live subscription to ``source``."""

    @abc.abstractmethod
    async def subscription_confirm(
        self, project: str, source: str, subscription_id: str, confirmed: bool, now: float
    ) -> Subscription | None:
        """Set ``confirmed`` on a live subscription and return it; None when absent."""

    @abc.abstractmethod
    async def subscription_delete(self, project: str, source: str, subscription_id: str) -> None:
        """Delete the subscription; no error when absent."""

    @abc.abstractmethod
    async def subscriptions_purge(self, project: str, source: str) -> None:
        """Delete every subscription of ``source``."""

    @abc.abstractmethod
    async def subscribers(self, project: str, source: str, now: float) -> list[Subscription]:
        """Every live subscription of ``source``, confirmed or not, sorted by id."""

    async def post_context(self, project: str, queue: str, now: float) -> PostContext:
        """The queue's metadata and ``subscribers``, read together: a driver that can answers
        both in one round trip (a post reads them before every write)."""
        metadata = await self.queue_get_metadata(project, queue)
        return PostContext(metadata, await self.subscribers(project, queue, now))

    async def messages_post_in_context(
        self, project: str, queue: str, now: float, prepare: PreparePost
    ) -> list[str]:
        """Read the queue's ``post_context``, let ``prepare`` turn it into messages and their
        fan-out, and store those as ``messages_post`` does; return the ids. An error raised by
        ``prepare`` stores nothing and is raised here. ``prepare`` only computes (no I/O), so a
        driver may call it on a thread of its own, or more than once (a post whose context
        changed before it was written is prepared again), and do the read and the write in
        one round trip."""
        post = prepare(await self.post_context(project, queue, now))
        return await self.messages_post(project, queue, post.messages, now, outbox=post.outbox)

    # Housekeeping

    @abc.abstractmethod
    async def gc(self, now: float) -> int:
        """Drop expired messages, claims and subscriptions (and, on Redis, prune empty
        outboxes from the outbox index); return how many records were removed."""

    # Waiting for posts (long polling, live push)

    @abc.abstractmethod
    async def watch(self, project: str, queue: str, seconds: float) -> bool:
        """Return True when a message may have been posted to the queue by any process since
        the call, or False after ``seconds``: a hint, never a guarantee. The wait is
        registered before the coroutine first suspends, so a caller may start it as a task,
        let it take one step, then look for messages without missing a post meanwhile. It
        holds no connection and no thread while it waits."""

    @abc.abstractmethod
    async def newest_marker(self, project: str, queue: str) -> str | None:
        """A marker from which ``messages_list`` shows only messages posted after this call
        (None when the queue never held a message)."""


MAX_SEQUENCE = 2**53 - 1
"""Markers are message sequence numbers; this bound fits every backend's number type."""


def sequence_of(marker: str | None) -> int:
    """The sequence number an opaque message marker stands for (0: from the start)."""
    if marker is None:
        return 0
    if not (marker.isascii() and marker.isdigit() and len(marker) <= 16):
        raise errors.InvalidParameter('The "marker" parameter is not a valid marker.')
    sequence = int(marker)
    if sequence > MAX_SEQUENCE:
        raise errors.InvalidParameter('The "marker" parameter is not a valid marker.')
    return sequence


def storage_from_url(url: str) -> Storage:
    """Build (but do not open) the driver named by the URL's scheme."""
    driver: Storage = built_from_url(url, DRIVERS, "unknown storage URL scheme {scheme!r}")
    return driver


def built_from_url(url: str, modules: Mapping[str, str], unknown: str) -> Any:
    """What ``from_url(url)`` builds in the module ``modules`` names for the URL's scheme;
    else ValueError: ``unknown`` (formatted with ``scheme``) and the schemes known."""
    scheme = urlsplit(url).scheme
    module_name = modules.get(scheme)
    if module_name is None:
        known = ", ".join(sorted(modules))
        raise ValueError(f"{unknown.format(scheme=scheme)}; known: {known}")
    return importlib.import_module(module_name).from_url(url)


DRIVERS = {
    "sqlite": "tidings.storage.sqlite",
    "redis": "tidings.storage.redis",
    "rediss": "tidings.storage.redis",
    "rediss+cluster": "tidings.storage.redis",
    "redis+cluster": "tidings.storage.redis",
    "postgresql": "tidings.storage.postgres",
    "postgres": "tidings.storage.postgres",
    "swift": "tidings.storage.swift",
    "swift+keystone": "tidings.storage.swift",
}
"""URL scheme to driver module; the module is imported only when used."""
