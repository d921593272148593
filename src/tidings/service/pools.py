"""Pool and flavor administration: Zaqar's checks on the admin API's documents, a probe of each
new pool's storage, flavor capabilities, and health by pool."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from tidings import errors
from tidings.config import Limits
from tidings.models import JSON, Flavor, Pool
from tidings.service import validate
from tidings.storage.base import (
    AOD,
    CLAIMS,
    DURABILITY,
    FIFO,
    HIGH_THROUGHPUT,
    storage_from_url,
)
from tidings.storage.pooled import PooledStorage

log = logging.getLogger(__name__)

POOL_FIELDS = ("weight", "uri", "flavor", "options")
MAX_WEIGHT = 2**32 - 1
MAX_URI = 255
CAPABILITIES = (FIFO, CLAIMS, DURABILITY, AOD, HIGH_THROUGHPUT)
"""Every capability, in the order Zaqar lists them."""
PROBE_SECONDS = 5.0
"""How long a new pool's storage has to answer."""

Check = Callable[[Any], bool]
FIELD_CHECKS: dict[str, tuple[Check, str]] = {
    "weight": (
        lambda value: type(value) is int and 0 <= value <= MAX_WEIGHT,
        f"an integer from 0 to {MAX_WEIGHT}",
    ),
    "uri": (
        lambda value: isinstance(value, str) and 0 < len(value) <= MAX_URI,
        f"a storage URL of at most {MAX_URI} characters",
    ),
    "flavor": (lambda value: isinstance(value, str), "a string"),
    "options": (lambda value: isinstance(value, dict), "an object"),
}


class PoolService:
    def __init__(self, router: PooledStorage, limits: Limits) -> None:
        self.router = router
        self.catalog = router.catalog
        self.limits = limits

    # Pools

    async def pools(self, marker: str | None, limit: int | None) -> list[Pool]:
        size = validate.limit(limit, self.limits.max_pools_per_page)
        return await self.catalog.pool_list(marker, size)

    async def pool(self, name: str) -> Pool:
        pool = await self._pool_named(name)
        if pool is None:
            raise errors.PoolNotFound(f"Pool {name} does not exist")
        return pool

    async def put_pool(self, name: str, document: Any) -> bool:
        """Register (or replace) the pool; True when it is new."""
        _check_name(name, "Pool")
        fields = _pool_fields(document, required=("uri", "weight"))
        pool = Pool(
            name, fields["uri"], fields["weight"], fields.get("flavor"), fields.get("options", {})
        )
        await self._check_pool(pool)
        created = await self.catalog.pool_put(pool)
        self.router.invalidate()
        return created

    async def patch_pool(self, name: str, document: Any) -> Pool:
        fields = _pool_fields(document, required=())
        if not fields:
            raise errors.InvalidBody(
                "One of `uri`, `weight`, `flavor`, or `options` needs to be specified"
            )
        current = await self.pool(name)
        pool = Pool(
            name,
            fields.get("uri", current.uri),
            fields.get("weight", current.weight),
            fields.get("flavor", current.flavor),
            fields.get("options", current.options),
        )
        await self._check_pool(pool, probe="uri" in fields)
        await self.catalog.pool_put(pool)
        self.router.invalidate()
        return pool

    async def delete_pool(self, name: str) -> bool:
        """Forget the pool: refused while a flavor uses it or it holds queues. False when
        there was no such pool."""
        pool = await self._pool_named(name)
        if pool is None:
            return False
        if pool.flavor is not None:
            raise errors.PoolInFlavor(
                f"This pool is used by flavors {pool.flavor}; It cannot be deleted."
            )
        await self.router.release(name)
        await self.catalog.pool_delete(name)
        self.router.invalidate()
        return True

    async def _check_pool(self, pool: Pool, probe: bool = True) -> None:
        if pool.flavor is not None and await self._flavor_named(pool.flavor) is None:
            raise errors.InvalidRequest(f"Flavor {pool.flavor} does not exist")
        if probe:
            await self._probe(pool.uri)

    async def _probe(self, uri: str) -> None:
        """Refuse a URI whose storage does not answer (or that no process could share)."""
        if uri.endswith(":memory:"):
            raise errors.InvalidRequest(f"cannot connect to {uri}: memory cannot be shared")
        try:
            driver = storage_from_url(uri)
        except ValueError as exc:
            raise errors.InvalidRequest(f"cannot connect to {uri}: {exc}") from None
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                await driver.open()
                alive = await driver.is_alive()
        except Exception as exc:  # whatever the driver met on the way: the pool is unusable
            log.info("probe of a new pool failed: %r", exc)
            alive = False
        finally:
            await driver.close()
        if not alive:
            raise errors.InvalidRequest(f"cannot connect to {uri}")

    # Flavors

    async def flavors(self, marker: str | None, limit: int | None) -> list[Flavor]:
        size = validate.limit(limit, self.limits.max_flavors_per_page)
        return await self.catalog.flavor_list(marker, size)

    async def flavor(self, name: str) -> Flavor:
        flavor = await self._flavor_named(name)
        if flavor is None:
            raise errors.FlavorNotFound(f"Flavor {name} does not exist")
        return flavor

    async def capabilities(self, flavors: Collection[Flavor]) -> dict[str, list[str]]:
        """What each flavor's queues can count on: what all its pools' drivers can do."""
        uris = {pool.name: pool.uri for pool in await self.catalog.pool_list(None, None)}
        found = {}
        for flavor in flavors:
            common = set(CAPABILITIES)
            for name in flavor.pools:
                common &= await self.router.capabilities_of(uris[name])
            found[flavor.name] = [each for each in CAPABILITIES if each in common]
        return found

    async def put_flavor(self, name: str, document: Any) -> bool:
        """Create (or redefine) the flavor; True when it is new."""
        _check_name(name, "Flavor")
        created = await self.catalog.flavor_put(name, await self._pool_list(document))
        self.router.invalidate()
        return created

    async def patch_flavor(self, name: str, document: Any) -> Flavor:
        await self.flavor(name)
        if "pool_list" not in validate.document(document):
            raise errors.InvalidBody("`pool_list` needs to be specified")
        pools = await self._pool_list(document)
        await self.catalog.flavor_put(name, pools)
        self.router.invalidate()
        return Flavor(name, tuple(sorted(pools)))

    async def delete_flavor(self, name: str) -> bool:
        """Forget the flavor; its pools stay, without a flavor. False when there was no such
        flavor."""
        if await self._flavor_named(name) is None:
            return False
        await self.catalog.flavor_delete(name)
        self.router.invalidate()
        return True

    async def _pool_named(self, name: str) -> Pool | None:
        """None when there is no such pool, or no pool can have the name (PostgreSQL cannot
        even look up a name with a NUL in it)."""
        return await self.catalog.pool_get(name) if validate.NAMED.match(name) else None

    async def _flavor_named(self, name: str) -> Flavor | None:
        """As ``_pool_named``, for flavors."""
        return await self.catalog.flavor_get(name) if validate.NAMED.match(name) else None

    async def _pool_list(self, document: Any) -> list[str]:
        document = validate.document(document)
        if "pool_list" not in document:
            raise errors.InvalidBody("'pool_list' is a required property")
        pools = document["pool_list"]
        capabilities = document.get("capabilities", {})
        if not isinstance(pools, list) or not all(isinstance(pool, str) for pool in pools):
            raise errors.InvalidBody('"pool_list" must be a list of pool names.')
        if not isinstance(capabilities, dict):
            raise errors.InvalidBody('"capabilities" must be an object.')
        if not pools:
            raise errors.InvalidRequest("A flavor needs at least one pool in its pool_list.")
        known = {pool.name for pool in await self.catalog.pool_list(None, None)}
        for pool in pools:
            if pool not in known:
                raise errors.InvalidRequest(f"Pool {pool} does not exist")
        return list(dict.fromkeys(pools))

    # Health

    async def health(self) -> tuple[bool, dict[str, JSON]]:
        """Whether the catalog answers, and a report of it, the default storage and each
        pool (Zaqar's pooled shape, pools by name)."""
        catalog = await _answers(self.catalog.version())
        report: dict[str, JSON] = {
            "catalog_reachable": catalog,
            "storage_reachable": await self.router.is_alive(),
        }
        if catalog:
            pools = await self.router.health()
            report |= {name: {"storage_reachable": alive} for name, alive in pools.items()}
        return catalog, report


def _check_name(name: str, kind: str) -> None:
    if not validate.NAMED.match(name):
        raise errors.InvalidRequest(
            f"{kind} names may only contain ASCII letters, digits, underscores, dashes and"
            " periods, and may not be more than 64 characters long."
        )


def _pool_fields(document: Any, required: Collection[str]) -> Mapping[str, Any]:
    """The fields of a pool document, checked as Zaqar's JSON schema does."""
    fields: dict[str, Any] = validate.document(document)
    unexpected = sorted(set(fields) - set(POOL_FIELDS))
    if unexpected:
        raise errors.InvalidBody(
            f"Additional properties are not allowed ({', '.join(map(repr, unexpected))} unexpected)"
        )
    for name in required:
        if name not in fields:
            raise errors.InvalidBody(f"'{name}' is a required property")
    for name, value in fields.items():
        check, expected = FIELD_CHECKS[name]
        if not check(value):
            raise errors.InvalidBody(f'"{name}" must be {expected}.')
    return fields


async def _answers(call: Awaitable[object]) -> bool:
    try:
        await call
    except errors.StorageUnavailable:
        return False
    return True
