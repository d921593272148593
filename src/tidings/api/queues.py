"""Queue operations."""

from __future__ import annotations

from typing import Any

from tidings.api import views, ws_views
from tidings.api.operation import Body, Operation, Param, Reply, Request
from tidings.api.params import MARKER, QUEUE_NAME, QUEUES_PAGE, or_null, queue_metadata_schema
from tidings.api.source import source
from tidings.config import Limits
from tidings.models import JSON
from tidings.service import Service
from tidings.service.queues import PATCH_OPS, RESOURCE_TYPES
from tidings.service.share import PATHS

JSON_PATCH = "application/openstack-messaging-v2.0-json-patch"


async def queue_list(service: Service, request: Request) -> Reply:
    params = request.params
    detailed = params.get("detailed") or False
    page = await service.queues.page(
        request.context.project_id,
        params.get("marker"),
        params.get("limit"),
        params.get("with_count") or False,
    )
    body: dict[str, JSON] = {
        "queues": [views.queue(record, detailed, service.limits) for record in page.queues],
        "links": [],
    }
    if page.queues:
        body["links"] = views.next_link("/v2/queues", dict(params), page.queues[-1].name)
    if page.count is not None:
        body["count"] = page.count
    return Reply(200, body)


async def queue_create(service: Service, request: Request) -> Reply:
    where = source(request)
    created = await service.queues.create(where.space, where.name, request.body)
    return Reply(201 if created else 204, location=where.href)


async def queue_get(service: Service, request: Request) -> Reply:
    where = source(request)
    meta = await service.queues.get(where.space, where.name)
    return Reply(200, views.reserved(meta, where.kind))


async def queue_update(service: Service, request: Request) -> Reply:
    where = source(request)
    meta = await service.queues.patch(where.space, where.name, request.body)
    return Reply(200, views.reserved(meta, where.kind))


async def queue_delete(service: Service, request: Request) -> Reply:
    where = source(request)
    await service.queues.delete(where.space, where.name)
    return Reply(204)


async def queue_get_stats(service: Service, request: Request) -> Reply:
    where = source(request)
    stats = await service.queues.stats(where.space, where.name)
    return Reply(200, views.stats(where.name, stats, service.clock(), where.kind))


async def queue_purge(service: Service, request: Request) -> Reply:
    where = source(request)
    await service.queues.purge(where.space, where.name, request.body)
    return Reply(204)


async def queue_share(service: Service, request: Request) -> Reply:
    share = service.shares.create(
        request.context.project_id, request.params["queue_name"], request.body
    )
    return Reply(200, share)


def patch_schema(limits: Limits) -> dict[str, Any]:
    return {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["op", "path"],
            "properties": {
                "op": {"enum": list(PATCH_OPS)},
                "path": {"type": "string", "pattern": "^/metadata/[^/]+$"},
                "value": {},
            },
            "anyOf": [{"properties": {"op": {"const": "remove"}}}, {"required": ["value"]}],
        },
    }


def purge_schema(limits: Limits) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "resource_types": or_null(
                {"type": "array", "minItems": 1, "items": {"enum": list(RESOURCE_TYPES)}}
            )
        },
    }


def _share_schema(limits: Limits) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "paths": or_null(
                {
                    "type": "array",
                    "items": {"enum": sorted(PATHS)},
                    "description": "What the URL grants, under the queue; default messages",
                }
            ),
            "methods": or_null(
                {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "HTTP methods the URL grants; default GET",
                }
            ),
            "expires": or_null(
                {
                    "type": "string",
                    "format": "date-time",
                    "description": "ISO-8601 expiry; default one day from now",
                }
            ),
        },
    }


QUEUE = "/v2/queues/{queue_name}"

OPERATIONS = (
    Operation(
        "queue_list",
        "GET",
        "/v2/queues",
        "List the project's queues by name",
        "queues:get_all",
        queue_list,
        params=(
            MARKER,
            QUEUES_PAGE,
            Param("detailed", "query", "boolean", "Include each queue's metadata"),
            Param("with_count", "query", "boolean", "Include the number of queues"),
        ),
        responses={200: "A page of queues"},
        ws_render=ws_views.queues,
    ),
    Operation(
        "queue_create",
        "PUT",
        QUEUE,
        "Create a queue (idempotent; metadata of an existing queue is left unchanged)",
        "queues:create",
        queue_create,
        params=(QUEUE_NAME,),
        body=Body(queue_metadata_schema, required=False, ws_field="metadata"),
        responses={201: "Created", 204: "Already existed"},
        ws_render=ws_views.created,
    ),
    Operation(
        "queue_get",
        "GET",
        QUEUE,
        "Get a queue's metadata, reserved keys filled with their defaults",
        "queues:get",
        queue_get,
        params=(QUEUE_NAME,),
        responses={200: "The metadata"},
    ),
    Operation(
        "queue_update",
        "PATCH",
        QUEUE,
        "Change a queue's metadata with a JSON patch on /metadata/<key>",
        "queues:update",
        queue_update,
        params=(QUEUE_NAME,),
        body=Body(patch_schema, media_type=JSON_PATCH, ws_field="patch"),
        responses={200: "The new metadata", 404: "No such queue", 409: "Key absent"},
    ),
    Operation(
        "queue_delete",
        "DELETE",
        QUEUE,
        "Delete a queue with its messages and claims",
        "queues:delete",
        queue_delete,
        params=(QUEUE_NAME,),
        responses={204: "Deleted (or never existed)"},
        ws_render=ws_views.removed,
    ),
    Operation(
        "queue_get_stats",
        "GET",
        f"{QUEUE}/stats",
        "Message counts of a queue",
        "queues:stats",
        queue_get_stats,
        params=(QUEUE_NAME,),
        responses={200: "The counts"},
    ),
    Operation(
        "queue_purge",
        "POST",
        f"{QUEUE}/purge",
        "Remove a queue's messages and/or subscriptions, keeping the queue",
        "queues:purge",
        queue_purge,
        params=(QUEUE_NAME,),
        body=Body(purge_schema, required=False),
        responses={204: "Purged"},
    ),
    Operation(
        "queue_share",
        "POST",
        f"{QUEUE}/share",
        "Sign a URL that grants the given methods on the queue's messages, claims or "
        "subscriptions until it expires, without a token",
        "queues:share",
        queue_share,
        params=(QUEUE_NAME,),
        body=Body(_share_schema),
        responses={200: "The signed URL's headers", 400: "Invalid request or no signing key"},
    ),
)
