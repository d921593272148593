"""Claim operations."""

from __future__ import annotations

from tidings.api import views, ws_views
from tidings.api.operation import Body, Operation, Param, Reply, Request
from tidings.api.params import CLAIM_ID, QUEUE_NAME, WAIT, claim_schema, messages_per_take
from tidings.service import Service


async def claim_create(service: Service, request: Request) -> Reply:
    claim = await service.claims.create(
        request.context.project_id,
        request.params["queue_name"],
        request.params.get("limit"),
        request.body,
        request.params.get("wait"),
        request.caller_gone,
    )
    if claim is None:
        return Reply(204)
    now = service.clock()
    body = {"messages": views.messages(claim.queue, claim.messages, now)}
    return Reply(201, body, location=views.claim_href(claim.queue, claim.id))


async def claim_get(service: Service, request: Request) -> Reply:
    claim = await service.claims.get(
        request.context.project_id, request.params["queue_name"], request.params["claim_id"]
    )
    return Reply(200, views.claim(claim, service.clock()))


async def claim_update(service: Service, request: Request) -> Reply:
    params = request.params
    await service.claims.renew(
        request.context.project_id, params["queue_name"], params["claim_id"], request.body
    )
    return Reply(204)


async def claim_delete(service: Service, request: Request) -> Reply:
    params = request.params
    await service.claims.release(
        request.context.project_id, params["queue_name"], params["claim_id"]
    )
    return Reply(204)


CLAIM_LIMIT = Param(
    "limit",
    "query",
    "integer",
    "How many messages to claim at most",
    bounds=messages_per_take,
)
CLAIMS = "/v2/queues/{queue_name}/claims"
CLAIM = CLAIMS + "/{claim_id}"

OPERATIONS = (
    Operation(
        "claim_create",
        "POST",
        CLAIMS,
        "Claim up to `limit` messages for `ttl` seconds",
        "claims:create",
        claim_create,
        params=(QUEUE_NAME, CLAIM_LIMIT, WAIT),
        body=Body(claim_schema, required=False),
        responses={201: "Claimed messages", 204: "Nothing to claim"},
        ws_render=ws_views.claimed,
    ),
    Operation(
        "claim_get",
        "GET",
        CLAIM,
        "Get a live claim and its messages",
        "claims:get",
        claim_get,
        params=(QUEUE_NAME, CLAIM_ID),
        responses={200: "The claim", 404: "Unknown or expired"},
        ws_render=ws_views.claim,
    ),
    Operation(
        "claim_update",
        "PATCH",
        CLAIM,
        "Renew a claim",
        "claims:update",
        claim_update,
        params=(QUEUE_NAME, CLAIM_ID),
        body=Body(claim_schema, required=False),
        responses={204: "Renewed", 404: "Unknown or expired"},
        ws_render=ws_views.claim_updated,
    ),
    Operation(
        "claim_delete",
        "DELETE",
        CLAIM,
        "Release a claim; its messages become claimable at once",
        "claims:delete",
        claim_delete,
        params=(QUEUE_NAME, CLAIM_ID),
        responses={204: "Released"},
        ws_render=ws_views.claim_deleted,
    ),
)
