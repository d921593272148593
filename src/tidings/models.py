"""Plain records passed between the service and the storage drivers (and used by the client)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

JSON = Any
"""Any value that round-trips through JSON."""


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message as posted, after the service applied defaults and limits.

    The service generates ``id`` (a uuid4 string) so that outbox jobs written with the post can
    name the message; drivers store it as given."""

    id: str
    body: JSON
    ttl: int
    delay: int
    client_id: str


def lifetime(created: float, expires: float) -> int:
    """Whole seconds from ``created`` to ``expires``."""
    return round(expires - created)


class Aged:
    """A record made at ``created`` (a time of the clock)."""

    __slots__ = ()
    created: float

    def age(self, now: float) -> int:
        return max(0, int(now - self.created))


class Lived(Aged):
    """A record that lives from ``created`` until ``expires``: its TTL is that span."""

    __slots__ = ()
    expires: float

    @property
    def ttl(self) -> int:
        return lifetime(self.created, self.expires)


@dataclass(frozen=True, slots=True)
class Message(Lived):
    """A stored message as seen at one instant."""

    id: str
    body: JSON
    created: float
    expires: float
    visible_at: float
    client_id: str
    claim_id: str | None
    claim_expires: float
    claim_count: int

    def is_claimed(self, now: float) -> bool:
        return self.claim_id is not None and self.claim_expires > now


@dataclass(frozen=True, slots=True)
class Claim(Lived):
    """A live claim and the messages it holds."""

    id: str
    queue: str
    created: float
    expires: float
    messages: list[Message] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Subscription(Aged):
    """A live subscription of ``subscriber`` (a URI) to the queue or topic ``source``."""

    id: str
    source: str
    subscriber: str
    created: float
    expires: float
    ttl: int
    """The TTL last given. An update's counts from the update, not from ``created`` (which
    the age still counts from)."""
    options: dict[str, JSON]
    confirmed: bool
    secret: str


@dataclass(frozen=True, slots=True)
class PostContext:
    """What a post needs to know of its queue before it writes."""

    metadata: dict[str, JSON] | None
    """None when the queue does not exist (yet)."""
    subscribers: list[Subscription]
    """Every live subscription of the queue, as ``Storage.subscribers``."""


@dataclass(frozen=True, slots=True)
class PreparedPost:
    """A post ready to be written: its messages and their fan-out, as ``Storage.messages_post``
    takes them."""

    messages: Sequence[NewMessage]
    outbox: Sequence[tuple[str, Sequence[NewMessage]]] = ()


PreparePost = Callable[[PostContext], PreparedPost]
"""Turns what a post reads of its queue into what it writes; raises to refuse the post."""


@dataclass(frozen=True, slots=True)
class QueueRecord:
    name: str
    metadata: dict[str, JSON]


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Counts of the live messages of one queue; ``free`` excludes claimed and delayed ones."""

    claimed: int = 0
    delayed: int = 0
    total: int = 0
    oldest: Message | None = None
    newest: Message | None = None

    @property
    def free(self) -> int:
        return self.total - self.claimed - self.delayed


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """Which messages a listing shows, and from where."""

    client_id: str
    echo: bool = False
    include_claimed: bool = False
    include_delayed: bool = False
    marker: str | None = None
    limit: int = 10


@dataclass(frozen=True, slots=True)
class Pool:
    """A storage backend queues can be placed in, as registered by an operator."""

    name: str
    uri: str
    weight: int
    """Relative chance of receiving a new queue; 0 takes none."""
    flavor: str | None = None
    options: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Flavor:
    """A named group of pools; a queue created with ``_flavor`` goes to one of them."""

    name: str
    pools: tuple[str, ...] = ()
