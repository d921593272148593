"""Pool and flavor operations: the admin API of Zaqar's ``v2_0/pools.py`` and ``flavors.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidings import errors
from tidings.api import views
from tidings.api.operation import Body, Operation, Param, Reply, Request
from tidings.api.params import MARKER, page_size
from tidings.config import Limits
from tidings.models import JSON, Flavor, Pool
from tidings.service import Service
from tidings.service.pools import MAX_URI, MAX_WEIGHT, PoolService

POOLS = "/v2/pools"
FLAVORS = "/v2/flavors"
POOL_NAME = Param("pool_name", "path", "string", "Pool name: letters, digits, _ - . (max 64)")
FLAVOR_NAME = Param("flavor_name", "path", "string", "Flavor name: letters, digits, _ - . (max 64)")
DETAILED = Param("detailed", "query", "boolean", "Include the options (pools) or capabilities")
POOLS_PAGE = page_size(lambda limits: limits.max_pools_per_page)
FLAVORS_PAGE = page_size(lambda limits: limits.max_flavors_per_page)


def _admin(service: Service) -> PoolService:
    if service.pools is None:
        raise errors.NotFound("This server keeps no pool catalog.")
    return service.pools


def _pool(pool: Pool, detailed: bool) -> dict[str, JSON]:
    view: dict[str, JSON] = {
        "name": pool.name,
        "uri": pool.uri,
        "weight": pool.weight,
        "flavor": pool.flavor,
        "href": f"{POOLS}/{pool.name}",
    }
    if detailed:
        view["options"] = pool.options
    return view


def _flavor(flavor: Flavor, capabilities: Mapping[str, list[str]] | None) -> dict[str, JSON]:
    view: dict[str, JSON] = {
        "name": flavor.name,
        "pool_list": list(flavor.pools),
        "href": f"{FLAVORS}/{flavor.name}",
    }
    if capabilities is not None:
        view["capabilities"] = capabilities[flavor.name]
    return view


def _page(path: str, key: str, items: list[dict[str, JSON]], params: Mapping[str, Any]) -> Reply:
    links = views.next_link(path, dict(params), str(items[-1]["name"])) if items else []
    return Reply(200, {key: items, "links": links})


# Pools


async def pool_list(service: Service, request: Request) -> Reply:
    params = request.params
    detailed = bool(params.get("detailed"))
    found = await _admin(service).pools(params.get("marker"), params.get("limit"))
    return _page(POOLS, "pools", [_pool(pool, detailed) for pool in found], params)


async def pool_create(service: Service, request: Request) -> Reply:
    name = request.params["pool_name"]
    await _admin(service).put_pool(name, request.body)
    return Reply(201, location=f"{POOLS}/{name}")


async def pool_get(service: Service, request: Request) -> Reply:
    pool = await _admin(service).pool(request.params["pool_name"])
    return Reply(200, _pool(pool, bool(request.params.get("detailed"))))


async def pool_update(service: Service, request: Request) -> Reply:
    pool = await _admin(service).patch_pool(request.params["pool_name"], request.body)
    return Reply(200, _pool(pool, False))


async def pool_delete(service: Service, request: Request) -> Reply:
    await _admin(service).delete_pool(request.params["pool_name"])
    return Reply(204)


# Flavors


async def flavor_list(service: Service, request: Request) -> Reply:
    params = request.params
    admin = _admin(service)
    found = await admin.flavors(params.get("marker"), params.get("limit"))
    capabilities = await admin.capabilities(found) if params.get("detailed") else None
    return _page(FLAVORS, "flavors", [_flavor(each, capabilities) for each in found], params)


async def flavor_create(service: Service, request: Request) -> Reply:
    name = request.params["flavor_name"]
    await _admin(service).put_flavor(name, request.body)
    return Reply(201, location=f"{FLAVORS}/{name}")


async def flavor_get(service: Service, request: Request) -> Reply:
    admin = _admin(service)
    flavor = await admin.flavor(request.params["flavor_name"])
    return Reply(200, _flavor(flavor, await admin.capabilities([flavor])))


async def flavor_update(service: Service, request: Request) -> Reply:
    admin = _admin(service)
    flavor = await admin.patch_flavor(request.params["flavor_name"], request.body)
    return Reply(200, _flavor(flavor, await admin.capabilities([flavor])))


async def flavor_delete(service: Service, request: Request) -> Reply:
    await _admin(service).delete_flavor(request.params["flavor_name"])
    return Reply(204)


# Body schemas (documentation: the service checks the bodies)


def _pool_schema(limits: Limits) -> dict[str, JSON]:
    return {
        "type": "object",
        "required": ["uri", "weight"],
        "additionalProperties": False,
        "properties": {
            "uri": {"type": "string", "maxLength": MAX_URI, "description": "A storage URL"},
            "weight": {"type": "integer", "minimum": 0, "maximum": MAX_WEIGHT},
            "flavor": {"type": "string"},
            "options": {"type": "object"},
        },
    }


def _pool_patch_schema(limits: Limits) -> dict[str, JSON]:
    schema = _pool_schema(limits)
    return {key: value for key, value in schema.items() if key != "required"}


def _flavor_schema(limits: Limits) -> dict[str, JSON]:
    return {
        "type": "object",
        "required": ["pool_list"],
        "properties": {
            "pool_list": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "capabilities": {"type": "object", "description": "Accepted and ignored"},
        },
    }


POOL = f"{POOLS}/{{pool_name}}"
FLAVOR = f"{FLAVORS}/{{flavor_name}}"

OPERATIONS = (
    Operation(
        "pool_list",
        "GET",
        POOLS,
        "List the pools by name (admin only)",
        "pools:get_all",
        pool_list,
        params=(MARKER, POOLS_PAGE, DETAILED),
        responses={200: "A page of pools"},
    ),
    Operation(
        "pool_create",
        "PUT",
        POOL,
        "Register a pool, or replace one (admin only); its storage must answer",
        "pools:create",
        pool_create,
        params=(POOL_NAME,),
        body=Body(_pool_schema),
        responses={201: "Registered", 400: "Invalid, or cannot connect to the storage"},
    ),
    Operation(
        "pool_get",
        "GET",
        POOL,
        "Get a pool (admin only)",
        "pools:get",
        pool_get,
        params=(POOL_NAME, DETAILED),
        responses={200: "The pool", 404: "No such pool"},
    ),
    Operation(
        "pool_update",
        "PATCH",
        POOL,
        "Change a pool's weight, URI, flavor or options (admin only)",
        "pools:update",
        pool_update,
        params=(POOL_NAME,),
        body=Body(_pool_patch_schema),
        responses={200: "The pool", 404: "No such pool"},
    ),
    Operation(
        "pool_delete",
        "DELETE",
        POOL,
        "Forget a pool that holds no queue and belongs to no flavor (admin only)",
        "pools:delete",
        pool_delete,
        params=(POOL_NAME,),
        responses={204: "Gone", 403: "A flavor uses it", 409: "It holds queues"},
    ),
    Operation(
        "flavor_list",
        "GET",
        FLAVORS,
        "List the flavors by name",
        "flavors:get_all",
        flavor_list,
        params=(MARKER, FLAVORS_PAGE, DETAILED),
        responses={200: "A page of flavors"},
    ),
    Operation(
        "flavor_create",
        "PUT",
        FLAVOR,
        "Create or redefine a flavor from existing pools (admin only)",
        "flavors:create",
        flavor_create,
        params=(FLAVOR_NAME,),
        body=Body(_flavor_schema),
        responses={201: "Created", 400: "Invalid, or an unknown pool"},
    ),
    Operation(
        "flavor_get",
        "GET",
        FLAVOR,
        "Get a flavor with its pools and what all of them can do",
        "flavors:get",
        flavor_get,
        params=(FLAVOR_NAME,),
        responses={200: "The flavor", 404: "No such flavor"},
    ),
    Operation(
        "flavor_update",
        "PATCH",
        FLAVOR,
        "Change a flavor's pools (admin only)",
        "flavors:update",
        flavor_update,
        params=(FLAVOR_NAME,),
        body=Body(_flavor_schema),
        responses={200: "The flavor", 404: "No such flavor"},
    ),
    Operation(
        "flavor_delete",
        "DELETE",
        FLAVOR,
        "Forget a flavor; its pools stay, without a flavor (admin only)",
        "flavors:delete",
        flavor_delete,
        params=(FLAVOR_NAME,),
        responses={204: "Gone"},
    ),
)
