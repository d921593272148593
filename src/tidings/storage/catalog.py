"""The catalog contract: pools, flavors and where each queue lives, kept in the management
store (the default storage's backend), and the way a catalog is chosen by URL.

A placement maps ``(project, queue)`` to the pool holding the queue; a queue without one lives
in the default storage. ``version`` changes whenever a pool or flavor changes or a placement is
removed, so API nodes may cache what they read and only check the version now and then: a
placement that is added never invalidates anything cached.

A flavor's pools are the pools whose ``flavor`` names it; a pool belongs to one flavor at most.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from tidings.models import Flavor, Pool
from tidings.storage.base import built_from_url


class Catalog(abc.ABC):
    async def open(self) -> None:  # noqa: B027 - catalogs that need no set-up keep this
        """Connect, and create the tables if needed."""

    async def close(self) -> None:  # noqa: B027
        """Release connections."""

    @abc.abstractmethod
    async def version(self) -> int:
        """A number that changes whenever a pool or flavor changes or a placement goes."""

    # Pools

    @abc.abstractmethod
    async def pool_put(self, pool: Pool) -> bool:
        """Register the pool, replacing one of the same name; True when it is new."""

    @abc.abstractmethod
    async def pool_get(self, name: str) -> Pool | None: ...

    @abc.abstractmethod
    async def pool_list(self, marker: str | None, limit: int | None) -> list[Pool]:
        """Pools sorted by name, those after ``marker``; every one when ``limit`` is None."""

    @abc.abstractmethod
    async def pool_delete(self, name: str) -> None:
        """Forget the pool; raise PoolInUse (changing nothing) while a placement names it.
        No error when absent."""

    # Flavors

    @abc.abstractmethod
    async def flavor_put(self, name: str, pools: Sequence[str]) -> bool:
        """Create or redefine the flavor: the named (existing) pools join it and its other
        pools leave it. True when it is new."""

    @abc.abstractmethod
    async def flavor_get(self, name: str) -> Flavor | None: ...

    @abc.abstractmethod
    async def flavor_list(self, marker: str | None, limit: int | None) -> list[Flavor]:
        """Flavors sorted by name, those after ``marker``; every one when ``limit`` is None."""

    @abc.abstractmethod
    async def flavor_delete(self, name: str) -> None:
        """Forget the flavor; its pools leave it. No error when absent."""

    # Placements

    @abc.abstractmethod
    async def placement_get(self, project: str, queue: str) -> str | None:
        """The pool holding the queue, or None (the default storage)."""

    @abc.abstractmethod
    async def placement_add(self, project: str, queue: str, pool: str) -> str | None:
        """Place the queue in ``pool`` unless it is placed already; return the pool it is
        placed in, or None when ``pool`` is not registered (nothing is placed then)."""

    @abc.abstractmethod
    async def placement_remove(self, project: str, queue: str) -> None:
        """Forget where the queue lives (the version changes even when it was not placed)."""

    @abc.abstractmethod
    async def placements_in(self, pool: str, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` ``(project, queue)`` pairs placed in ``pool``."""


def catalog_from_url(url: str) -> Catalog:
    """Build (but do not open) the catalog kept in the store the URL names."""
    catalog: Catalog = built_from_url(url, CATALOGS, "no pool catalog for {scheme!r} storage")
    return catalog


CATALOGS = {
    "sqlite": "tidings.storage.sqlite_catalog",
    "postgresql": "tidings.storage.postgres_catalog",
    "postgres": "tidings.storage.postgres_catalog",
    "redis": "tidings.storage.redis_catalog",
    "rediss": "tidings.storage.redis_catalog",
    "rediss+cluster": "tidings.storage.redis_catalog",
    "redis+cluster": "tidings.storage.redis_catalog",
    "swift": "tidings.storage.swift_catalog",
    "swift+keystone": "tidings.storage.swift_catalog",
}
"""Storage URL scheme to catalog module; the module is imported only when used."""
