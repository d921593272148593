"""The storage contract every backend implements, and the way a backend is chosen by URL.

Every method is atomic on its own. Time is passed in as ``now`` (seconds since the epoch) so
expiry is driven by the caller's clock. Every message and claim lookup is scoped to
``(project, queue)``: an id from another project or queue is simply not found.

Drivers translate their library's exceptions into ``tidings.errors`` at their edge; an
unreachable backend raises ``StorageUnavailable``.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Sequence
from urllib.parse import urlsplit

from tidings import errors
from tidings.models import (
    JSON,
    Claim,
    Message,
    MessageFilter,
    NewMessage,
    QueueRecord,
    QueueStats,
)

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
        self, project: str, queue: str, messages: Sequence[NewMessage], now: float
    ) -> list[str]:
        """Store the batch (all or nothing), creating the queue if absent; return the ids."""

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

    # Housekeeping

    @abc.abstractmethod
    async def gc(self, now: float) -> int:
        """Drop expired messages and claims; return how many records were removed."""


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
    scheme = urlsplit(url).scheme
    module_name = DRIVERS.get(scheme)
    if module_name is None:
        known = ", ".join(sorted(DRIVERS))
        raise ValueError(f"unknown storage URL scheme {scheme!r}; known: {known}")
    module = importlib.import_module(module_name)
    driver: Storage = module.from_url(url)
    return driver


DRIVERS = {
    "sqlite": "tidings.storage.sqlite",
    "redis": "tidings.storage.redis",
    "redis+cluster": "tidings.storage.redis",
    "postgresql": "tidings.storage.postgres",
    "postgres": "tidings.storage.postgres",
}
"""URL scheme to driver module; the module is imported only when used."""
