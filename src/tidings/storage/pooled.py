"""Pools: one Storage over the default storage and every registered pool, sending each call for
a queue to the store that holds it.

The catalog (``storage/catalog.py``, kept in the default storage's backend) names the pool of
each placed queue. A queue without a placement lives in the default storage: with no pool
registered that is every queue, and no call ever reads the catalog. A queue is placed the first
time it is written (created, posted to, subscribed to, or the target of a move or fan-out):
``_flavor`` metadata picks a weighted-random pool of that flavor; otherwise a weighted-random
pool without a flavor, or the default storage when none takes new queues (weight 0). Queues
that were in the default storage before any pool existed stay there.

An internal queue (``q#outbox``) lives with ``q``: the part of the name before ``#`` places it.
A dead-letter or ``queue:`` fan-out target that is placed by the move or post that first writes
it goes to the source's pool, so the move or post stays one atomic write; a target already in
another pool is written separately (copied then deleted for a move, written before the post
for a fan-out): at least once, not atomically.

Every process keeps what it read (the pools, the flavors, the placements it looked up) and
checks the catalog's version at most every ``refresh`` seconds; pool and flavor changes and
removed placements change the version, so a node routes by stale knowledge for at most that
long. Each pool's driver is opened the first time a call needs it; a pool that cannot be
reached fails only the calls for its queues (and listings, which span every pool).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from tidings import errors
from tidings.models import (
    JSON,
    Claim,
    Message,
    MessageFilter,
    NewMessage,
    Pool,
    PostContext,
    PreparePost,
    QueueRecord,
    QueueStats,
    Subscription,
)
from tidings.storage.base import (
    Capabilities,
    Storage,
    is_internal_queue,
    outbox_queue,
    storage_from_url,
)
from tidings.storage.catalog import Catalog, catalog_from_url

log = logging.getLogger(__name__)

T = TypeVar("T")
Key = tuple[str, str]

DEFAULT = ""
"""Where a queue without a placement lives: the default storage."""
MAX_CACHED = 100_000
"""Placements one process remembers before it starts over."""
RELEASE_PAGE = 100
EPOCH = 0.0


@dataclass(frozen=True)
class Layout:
    """The pools and flavors as last read from the catalog."""

    version: int = -1
    pools: Mapping[str, Pool] = field(default_factory=dict)
    flavors: frozenset[str] = frozenset()

    def choose(self, flavor: str | None) -> str:
        """A weighted-random pool for a new queue: one of ``flavor`` (raising InvalidRequest
        for an unknown flavor), else one without a flavor, else the default storage."""
        if flavor is not None and flavor not in self.flavors:
            raise errors.InvalidRequest(f"Flavor {flavor} does not exist")
        pools = [pool for pool in self.pools.values() if pool.flavor == flavor and pool.weight]
        if pools:
            weights = [pool.weight for pool in pools]
            return random.choices(pools, weights)[0].name
        if flavor is None:
            return DEFAULT
        raise errors.StorageUnavailable(f"No pool of flavor {flavor} takes new queues.")


Watch = Callable[[Storage, str, str], Storage]
"""Given a driver, its URL and its pool's name (``DEFAULT`` for the default storage), what
to call in its place: the driver itself, or the driver with its calls timed and traced."""


def unwatched(driver: Storage, url: str, pool: str) -> Storage:
    return driver


def pooled_from_url(url: str, refresh: float = 1.0, watch: Watch = unwatched) -> PooledStorage:
    """The default storage at ``url`` with its catalog and pools (nothing opened yet)."""
    return PooledStorage(storage_from_url(url), url, catalog_from_url(url), refresh, watch)


def _key(project: str, queue: str) -> Key:
    """Whose placement a queue follows: its own, or for ``q#...`` that of ``q``."""
    return project, queue.partition("#")[0]


class PooledStorage(Storage):
    def __init__(
        self,
        default: Storage,
        default_url: str,
        catalog: Catalog,
        refresh: float = 1.0,
        watch: Watch = unwatched,
    ) -> None:
        self.default = watch(default, default_url, DEFAULT)
        self.default_url = default_url
        self.catalog = catalog
        self.capabilities = default.capabilities
        self._refresh = refresh
        self._watch = watch
        self._layout = Layout()
        self._fresh_until = 0.0
        self._refreshing = asyncio.Lock()
        self._placed: dict[Key, str] = {}
        self._unplaced: set[Key] = set()
        """Queues found nowhere since the last check of the version (only ``watch`` trusts
        this: another process may have placed them since)."""
        self._drivers: dict[str, Storage] = {default_url: self.default}
        """By URI: pools with the same URI (as each other, or as the default storage) share
        one driver, watched under the name of the pool it was opened for."""
        self._opening: dict[str, asyncio.Lock] = {}

    # Plumbing: what the catalog says, and the driver of each pool

    async def open(self) -> None:
        await self.default.open()
        await self.catalog.open()

    async def close(self) -> None:
        drivers, self._drivers = self._drivers, {}
        for driver in drivers.values():
            await driver.close()
        await self.catalog.close()

    async def migrate(self) -> list[str]:
        return await self.default.migrate()

    def invalidate(self) -> None:
        """Read the catalog again at the next call (after this process changed it)."""
        self._fresh_until = 0.0

    async def layout(self) -> Layout:
        """The pools and flavors, read again when the catalog's version changed."""
        if time.monotonic() >= self._fresh_until:
            async with self._refreshing:
                if time.monotonic() >= self._fresh_until:
                    await self._reload()
        return self._layout

    async def _reload(self) -> None:
        try:
            version = await self.catalog.version()
            if version != self._layout.version:
                pools = await self.catalog.pool_list(None, None)
                flavors = await self.catalog.flavor_list(None, None)
                self._layout = Layout(
                    version,
                    {pool.name: pool for pool in pools},
                    frozenset(flavor.name for flavor in flavors),
                )
                self._placed.clear()
            self._unplaced.clear()
        except errors.StorageUnavailable:
            if self._layout.version < 0:
                raise
            log.warning("the pool catalog is unreachable; routing by what was read before")
        self._fresh_until = time.monotonic() + self._refresh

    async def _lookup(self, key: Key) -> str | None:
        """The placement of a queue (DEFAULT: known to be in the default storage), or None."""
        found = self._placed.get(key)
        if found is None:
            found = await self.catalog.placement_get(*key)
            if found is not None:
                self._remember(key, found)
        return found

    def _remember(self, key: Key, pool: str) -> None:
        if len(self._placed) >= MAX_CACHED:
            self._placed.clear()
        self._placed[key] = pool
        self._unplaced.discard(key)

    async def _pool_of(self, project: str, queue: str) -> str:
        if not (await self.layout()).pools:
            return DEFAULT
        key = _key(project, queue)
        found = await self._lookup(key)
        if found is None:
            self._unplaced.add(key)
            return DEFAULT
        return found

    def _known(self, key: Key) -> Storage | None:
        """The store holding the queue when this process knows it without waiting for
        anything (the version checked recently, the placement and the driver at hand)."""
        if time.monotonic() >= self._fresh_until:
            return None
        if not self._layout.pools:
            return self.default
        pool = self._placed.get(key)
        if pool is None:
            return None
        if pool == DEFAULT:
            return self.default
        registered = self._layout.pools.get(pool)
        return None if registered is None else self._drivers.get(registered.uri)

    async def _place(
        self, project: str, queue: str, flavor: str | None = None, near: str | None = None
    ) -> str:
        """Where the queue lives, placing it first when it is new: near ``near`` when given,
        else by ``flavor``."""
        layout = await self.layout()
        if not layout.pools:
            return DEFAULT
        key = _key(project, queue)
        found = await self._lookup(key)
        if found is not None:
            return found
        if await self.default.queue_get_metadata(*key) is not None:  # from before the pools
            self._remember(key, DEFAULT)
            return DEFAULT
        choice = layout.choose(flavor) if near is None else near
        if choice == DEFAULT:
            return DEFAULT
        placed = await self.catalog.placement_add(*key, choice)
        if placed is None:
            self.invalidate()
            raise errors.StorageUnavailable(f"Pool {choice} was just removed. Please try again.")
        self._remember(key, placed)
        return placed

    async def _storage(self, pool: str) -> Storage:
        if pool == DEFAULT:
            return self.default
        registered = self._layout.pools.get(pool)
        if registered is None:  # placed by another process in a pool this one has not seen
            self.invalidate()
            registered = (await self.layout()).pools.get(pool)
        if registered is None:
            raise errors.StorageUnavailable(f"Pool {pool} is not registered.")
        return await self._driver(registered.uri, pool)

    async def _driver(self, uri: str, pool: str) -> Storage:
        driver = self._drivers.get(uri)
        if driver is not None:
            return driver
        async with self._opening.setdefault(uri, asyncio.Lock()):
            driver = self._drivers.get(uri)
            if driver is None:
                driver = await self._open_driver(uri, pool)
                self._drivers[uri] = driver
        return driver

    async def _open_driver(self, uri: str, pool: str) -> Storage:
        driver = self._watch(storage_from_url(uri), uri, pool)
        try:
            await driver.open()
        except BaseException as exc:
            await driver.close()
            if isinstance(exc, Exception) and not isinstance(exc, errors.TidingsError):
                raise errors.StorageUnavailable(f"A pool cannot be opened: {exc}") from exc
            raise
        return driver

    async def _at(self, project: str, queue: str) -> Storage:
        """The store holding the queue (the default storage when it is nowhere)."""
        return await self._storage(await self._pool_of(project, queue))

    async def _into(
        self, project: str, queue: str, flavor: str | None = None, near: str | None = None
    ) -> Storage:
        """The store holding the queue, placing it when it is new."""
        return await self._storage(await self._place(project, queue, flavor, near))

    async def _places(self) -> list[tuple[str, str]]:
        """``(pool, URI)`` of the default storage and of each pool with a URI of its own."""
        places = {self.default_url: DEFAULT}
        for pool in (await self.layout()).pools.values():
            places.setdefault(pool.uri, pool.name)
        return [(pool, uri) for uri, pool in places.items()]

    async def _across(self, call: Callable[[Storage], Awaitable[T]]) -> list[T]:
        """``call`` on the default storage and on every pool, at once."""
        places = await self._places()
        return list(await asyncio.gather(*(self._on(place, call) for place in places)))

    async def _across_reachable(self, call: Callable[[Storage], Awaitable[T]]) -> list[T]:
        """``call`` everywhere, skipping (with a warning) the stores that cannot be reached."""
        places = await self._places()
        results = await asyncio.gather(
            *(self._on(place, call) for place in places), return_exceptions=True
        )
        reached: list[T] = []
        for (pool, _), result in zip(places, results, strict=True):
            if isinstance(result, errors.StorageUnavailable):
                log.warning("%s skipped: %s", f"pool {pool}" if pool else "default storage", result)
            elif isinstance(result, BaseException):
                raise result
            else:
                reached.append(result)
        return reached

    async def _on(self, place: tuple[str, str], call: Callable[[Storage], Awaitable[T]]) -> T:
        pool, uri = place
        return await call(await self._driver(uri, pool))

    async def _still_used(self, storage: Storage, project: str, queue: str) -> bool:
        """Whether the queue, its subscriptions or its notifications are stored there (expired
        ones too, until gc drops them: seen as of ``EPOCH``, nothing has expired yet)."""
        if await storage.queue_get_metadata(project, queue) is not None:
            return True
        if await storage.subscription_list(project, queue, None, 1, EPOCH):
            return True
        return (await storage.queue_stats(project, outbox_queue(queue), EPOCH)).total > 0

    # What the admin API needs

    async def health(self) -> dict[str, bool]:
        """Whether each pool answers, by name."""
        pools = (await self.layout()).pools.values()
        alive = await asyncio.gather(*(self._answers(pool) for pool in pools))
        return {pool.name: answers for pool, answers in zip(pools, alive, strict=True)}

    async def _answers(self, pool: Pool) -> bool:
        try:
            return await (await self._driver(pool.uri, pool.name)).is_alive()
        except errors.StorageUnavailable:
            return False

    async def capabilities_of(self, uri: str) -> Capabilities:
        """What the driver of ``uri`` can do (it is not opened for this)."""
        driver = self._drivers.get(uri)
        if driver is not None:
            return driver.capabilities
        driver = storage_from_url(uri)
        await driver.close()
        return driver.capabilities

    async def release(self, pool: str) -> None:
        """Forget the placements in ``pool`` whose queue is gone with its subscriptions and
        notifications; raise PoolInUse at the first one that is still there."""
        while placed := await self.catalog.placements_in(pool, RELEASE_PAGE):
            storage = await self._storage(pool)
            for project, queue in placed:
                if await self._still_used(storage, project, queue):
                    raise errors.PoolInUse(
                        f"Pool {pool} still holds queues (such as {queue!r}); it cannot be"
                        " deleted until they are."
                    )
                await self.catalog.placement_remove(project, queue)

    # Queues

    async def is_alive(self) -> bool:
        return await self.default.is_alive()

    async def queue_create(
        self, project: str, name: str, metadata: dict[str, JSON], now: float
    ) -> bool:
        flavor = metadata.get("_flavor")
        storage = await self._into(project, name, flavor if isinstance(flavor, str) else None)
        return await storage.queue_create(project, name, metadata, now)

    async def queue_get_metadata(self, project: str, name: str) -> dict[str, JSON] | None:
        return await (await self._at(project, name)).queue_get_metadata(project, name)

    async def queue_set_metadata(self, project: str, name: str, metadata: dict[str, JSON]) -> None:
        await (await self._at(project, name)).queue_set_metadata(project, name, metadata)

    async def queue_list(self, project: str, marker: str | None, limit: int) -> list[QueueRecord]:
        pages = await self._across(lambda storage: storage.queue_list(project, marker, limit))
        merged = {record.name: record for page in pages for record in page}
        return [merged[name] for name in sorted(merged)[:limit]]

    async def queue_count(self, project: str) -> int:
        return sum(await self._across(lambda storage: storage.queue_count(project)))

    async def queue_delete(self, project: str, name: str) -> None:
        pool = await self._pool_of(project, name)
        storage = await self._storage(pool)
        await storage.queue_delete(project, name)
        if not (await self.layout()).pools or is_internal_queue(name):
            return
        if not await self._still_used(storage, project, name):
            self._placed.pop(_key(project, name), None)
            await self.catalog.placement_remove(project, name)

    async def queue_stats(self, project: str, name: str, now: float) -> QueueStats:
        return await (await self._at(project, name)).queue_stats(project, name, now)

    async def queue_purge(self, project: str, name: str) -> None:
        await (await self._at(project, name)).queue_purge(project, name)

    # Messages

    async def messages_post(
        self,
        project: str,
        queue: str,
        messages: Sequence[NewMessage],
        now: float,
        outbox: Sequence[tuple[str, Sequence[NewMessage]]] = (),
    ) -> list[str]:
        pool = await self._place(project, queue)
        together: list[tuple[str, Sequence[NewMessage]]] = []
        for target, batch in outbox:
            target_pool = await self._place(project, target, near=pool)
            if target_pool == pool:
                together.append((target, batch))
            else:  # written first: a stored post never lacks its fan-out
                target_storage = await self._storage(target_pool)
                await target_storage.messages_post(project, target, batch, now)
        storage = await self._storage(pool)
        return await storage.messages_post(project, queue, messages, now, outbox=together)

    async def messages_list(
        self, project: str, queue: str, query: MessageFilter, now: float
    ) -> tuple[list[Message], str | None]:
        return await (await self._at(project, queue)).messages_list(project, queue, query, now)

    async def messages_get(
        self, project: str, queue: str, ids: Sequence[str], now: float
    ) -> list[Message]:
        return await (await self._at(project, queue)).messages_get(project, queue, ids, now)

    async def message_delete(
        self, project: str, queue: str, message_id: str, claim_id: str | None, now: float
    ) -> None:
        storage = await self._at(project, queue)
        await storage.message_delete(project, queue, message_id, claim_id, now)

    async def messages_delete(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        claim_ids: Sequence[str] | None,
        now: float,
    ) -> None:
        storage = await self._at(project, queue)
        await storage.messages_delete(project, queue, ids, claim_ids, now)

    async def messages_pop(self, project: str, queue: str, limit: int, now: float) -> list[Message]:
        return await (await self._at(project, queue)).messages_pop(project, queue, limit, now)

    async def messages_move(
        self,
        project: str,
        queue: str,
        ids: Sequence[str],
        target: str,
        ttl: int | None,
        now: float,
    ) -> None:
        pool = await self._pool_of(project, queue)
        storage = await self._storage(pool)
        target_pool = await self._place(project, target, near=pool)
        if target_pool == pool:
            await storage.messages_move(project, queue, ids, target, ttl, now)
            return
        found = await storage.messages_get(project, queue, ids, now)
        copies = [_moved(message, ttl, now) for message in found]
        if copies:
            await (await self._storage(target_pool)).messages_post(project, target, copies, now)
        await storage.messages_delete(project, queue, [message.id for message in found], None, now)

    # Claims

    async def claim_create(
        self, project: str, queue: str, ttl: int, grace: int, limit: int, now: float
    ) -> Claim | None:
        storage = await self._at(project, queue)
        return await storage.claim_create(project, queue, ttl, grace, limit, now)

    async def claim_get(self, project: str, queue: str, claim_id: str, now: float) -> Claim | None:
        return await (await self._at(project, queue)).claim_get(project, queue, claim_id, now)

    async def claim_renew(
        self, project: str, queue: str, claim_id: str, ttl: int, grace: int, now: float
    ) -> bool:
        storage = await self._at(project, queue)
        return await storage.claim_renew(project, queue, claim_id, ttl, grace, now)

    async def claim_release(self, project: str, queue: str, claim_id: str) -> None:
        await (await self._at(project, queue)).claim_release(project, queue, claim_id)

    async def outboxes(self, now: float) -> list[tuple[str, str]]:
        found = await self._across_reachable(lambda storage: storage.outboxes(now))
        return [pair for pairs in found for pair in pairs]

    # Subscriptions

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
        storage = await self._into(project, source)
        return await storage.subscription_create(
            project, source, subscriber, ttl, options, secret, now
        )

    async def subscription_get(
        self, project: str, source: str, subscription_id: str, now: float
    ) -> Subscription | None:
        storage = await self._at(project, source)
        return await storage.subscription_get(project, source, subscription_id, now)

    async def subscription_list(
        self, project: str, source: str, marker: str | None, limit: int, now: float
    ) -> list[Subscription]:
        storage = await self._at(project, source)
        return await storage.subscription_list(project, source, marker, limit, now)

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
        storage = await self._at(project, source)
        return await storage.subscription_update(
            project, source, subscription_id, now, subscriber=subscriber, ttl=ttl, options=options
        )

    async def subscription_confirm(
        self, project: str, source: str, subscription_id: str, confirmed: bool, now: float
    ) -> Subscription | None:
        storage = await self._at(project, source)
        return await storage.subscription_confirm(project, source, subscription_id, confirmed, now)

    async def subscription_delete(self, project: str, source: str, subscription_id: str) -> None:
        storage = await self._at(project, source)
        await storage.subscription_delete(project, source, subscription_id)

    async def subscriptions_purge(self, project: str, source: str) -> None:
        await (await self._at(project, source)).subscriptions_purge(project, source)

    async def subscribers(self, project: str, source: str, now: float) -> list[Subscription]:
        return await (await self._at(project, source)).subscribers(project, source, now)

    async def post_context(self, project: str, queue: str, now: float) -> PostContext:
        return await (await self._at(project, queue)).post_context(project, queue, now)

    async def messages_post_in_context(
        self, project: str, queue: str, now: float, prepare: PreparePost
    ) -> list[str]:
        if (await self.layout()).pools:  # its fan-out may go to other pools: messages_post
            return await super().messages_post_in_context(project, queue, now, prepare)
        return await self.default.messages_post_in_context(project, queue, now, prepare)

    # Housekeeping and waiting

    async def gc(self, now: float) -> int:
        return sum(await self._across_reachable(lambda storage: storage.gc(now)))

    async def watch(self, project: str, queue: str, seconds: float) -> bool:
        """The driver's watch registers in this coroutine's first step when the queue's store
        is known at once. Otherwise it is looked up, and True tells the caller to look again
        (and watch again, by then at once). A queue found nowhere may be created in any pool:
        its watch on the default storage wakes the caller every ``refresh`` seconds."""
        if seconds <= 0:
            return False
        key = _key(project, queue)
        if key in self._unplaced and time.monotonic() < self._fresh_until:
            woke = await self.default.watch(project, queue, min(seconds, self._refresh))
            return woke or seconds > self._refresh
        storage = self._known(key)
        if storage is None:
            await self._at(project, queue)
            return True
        return await storage.watch(project, queue, seconds)

    async def newest_marker(self, project: str, queue: str) -> str | None:
        return await (await self._at(project, queue)).newest_marker(project, queue)


def _moved(message: Message, ttl: int | None, now: float) -> NewMessage:
    """A message as moved into another pool: unclaimed, living ``ttl`` more seconds (else what
    it had left); its age starts again there."""
    lifetime = ttl if ttl is not None else max(1, math.ceil(message.expires - now))
    return NewMessage(message.id, message.body, lifetime, 0, message.client_id)
