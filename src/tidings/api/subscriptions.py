"""Subscription operations, on queues and (the same handlers) on topics."""

from __future__ import annotations

from typing import Any

from tidings.api import views, ws_views
from tidings.api.operation import Body, Operation, Reply, Request
from tidings.api.params import MARKER, QUEUE_NAME, SUBSCRIPTION_ID, or_null, page_size
from tidings.api.source import on_topics, source
from tidings.config import SHORTEST_TTL, Limits
from tidings.service import Service, validate


async def subscription_create(service: Service, request: Request) -> Reply:
    where = source(request)
    created = await service.subscriptions.create(where.space, where.name, request.body)
    body = {"subscription_id": created.id, "secret": created.secret}
    return Reply(201, body, location=f"{where.href}/subscriptions")


async def subscription_list(service: Service, request: Request) -> Reply:
    params = request.params
    where = source(request)
    found = await service.subscriptions.page(
        where.space, where.name, params.get("marker"), params.get("limit")
    )
    now = service.clock()
    links = []
    if found:
        query = {key: params[key] for key in ("limit",) if key in params}
        links = views.next_link(f"{where.href}/subscriptions", query, found[-1].id)
    body = {"subscriptions": [views.subscription(s, now) for s in found], "links": links}
    return Reply(200, body)


async def subscription_get(service: Service, request: Request) -> Reply:
    where = source(request)
    found = await service.subscriptions.get(
        where.space, where.name, request.params["subscription_id"]
    )
    return Reply(200, views.subscription(found, service.clock()))


async def subscription_update(service: Service, request: Request) -> Reply:
    where = source(request)
    subscription_id = request.params["subscription_id"]
    await service.subscriptions.update(where.space, where.name, subscription_id, request.body)
    return Reply(204, location=f"{where.href}/subscriptions/{subscription_id}")


async def subscription_delete(service: Service, request: Request) -> Reply:
    where = source(request)
    await service.subscriptions.delete(where.space, where.name, request.params["subscription_id"])
    return Reply(204)


async def subscription_confirm(service: Service, request: Request) -> Reply:
    where = source(request)
    subscription_id = request.params["subscription_id"]
    await service.subscriptions.confirm(where.space, where.name, subscription_id, request.body)
    return Reply(204, location=f"{where.href}/subscriptions/{subscription_id}")


WEB = r"://([^/?#@\[\]]*@)?[^/?#@:\[\]][^/?#\[\]]*([/?#].*)?$"
"""After the scheme: a host (a bracketed IPv6 address is taken by the server, not described)."""
SHAPES = {
    "http": "http" + WEB,
    "https": "https" + WEB,
    "mailto": r"mailto:[^,?#]*@[^,?#]*(,[^,?#]*@[^,?#]*)*([?#].*)?$",
    "queue": f"queue:{validate.NAME}$",
}
"""The subscribers the server takes, by scheme, as the document describes them."""


def _subscription_schema(limits: Limits) -> dict[str, Any]:
    """The subscriber, and the others or null for their defaults."""
    fields = _subscription_fields(limits)
    subscriber = fields.pop("subscriber")
    optional = {name: or_null(schema) for name, schema in fields.items()}
    return {
        "type": "object",
        "required": ["subscriber"],
        "properties": {"subscriber": subscriber, **optional},
    }


def _subscription_change_schema(limits: Limits) -> dict[str, Any]:
    """Any of the fields; a null one is left unchanged, so one at least is not null."""
    fields = _subscription_fields(limits)
    return {
        "type": "object",
        "properties": {name: or_null(schema) for name, schema in fields.items()},
        "anyOf": [
            {"required": [name], "properties": {name: {"not": {"type": "null"}}}} for name in fields
        ],
    }


def _subscription_fields(limits: Limits) -> dict[str, Any]:
    return {
        "subscriber": {
            "type": "string",
            "pattern": "^(" + "|".join(SHAPES[kind] for kind in limits.subscriber_types) + ")",
            "description": "http(s)://..., mailto:address or queue:NAME "
            f"(accepted here: {', '.join(limits.subscriber_types)})",
        },
        "ttl": {"type": "integer", "minimum": SHORTEST_TTL},
        "options": {
            "type": "object",
            "description": "post_headers, post_data, from, subject, _retry_policy, "
            "dead_letter_queue; other keys are kept",
        },
    }


def _confirm_schema(limits: Limits) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["confirmed"],
        "properties": {"confirmed": {"type": "boolean"}},
    }


SUBSCRIPTIONS = "/v2/queues/{queue_name}/subscriptions"
SUBSCRIPTIONS_PAGE = page_size(lambda limits: limits.max_subscriptions_per_page)
SUBSCRIPTION = SUBSCRIPTIONS + "/{subscription_id}"

QUEUE_OPERATIONS = (
    Operation(
        "subscription_create",
        "POST",
        SUBSCRIPTIONS,
        "Subscribe a webhook, a mail address or another queue to the queue's messages",
        "subscription:create",
        subscription_create,
        params=(QUEUE_NAME,),
        body=Body(_subscription_schema),
        responses={
            201: "Subscribed; the body has the id and the secret signing the notifications",
            409: "This subscriber is already subscribed and confirmed",
        },
        ws_render=ws_views.subscribed,
    ),
    Operation(
        "subscription_list",
        "GET",
        SUBSCRIPTIONS,
        "List the queue's subscriptions",
        "subscription:get_all",
        subscription_list,
        params=(QUEUE_NAME, MARKER, SUBSCRIPTIONS_PAGE),
        responses={200: "A page of subscriptions"},
        ws_render=ws_views.subscriptions,
    ),
    Operation(
        "subscription_get",
        "GET",
        SUBSCRIPTION,
        "Get one subscription of the queue",
        "subscription:get",
        subscription_get,
        params=(QUEUE_NAME, SUBSCRIPTION_ID),
        responses={200: "The subscription", 404: "No such subscription"},
    ),
    Operation(
        "subscription_update",
        "PATCH",
        SUBSCRIPTION,
        "Change a subscription of the queue (options are replaced whole)",
        "subscription:update",
        subscription_update,
        params=(QUEUE_NAME, SUBSCRIPTION_ID),
        body=Body(_subscription_change_schema),
        responses={204: "Updated", 404: "No such subscription", 409: "Subscriber taken"},
    ),
    Operation(
        "subscription_delete",
        "DELETE",
        SUBSCRIPTION,
        "Delete a subscription of the queue",
        "subscription:delete",
        subscription_delete,
        params=(QUEUE_NAME, SUBSCRIPTION_ID),
        responses={204: "Deleted (or never existed)"},
        ws_render=ws_views.unsubscribed,
    ),
    Operation(
        "subscription_confirm",
        "PUT",
        SUBSCRIPTION + "/confirm",
        "Confirm (or, with false, cancel) a subscription of the queue; usually called with "
        "the pre-signed headers of its confirmation request",
        "subscription:confirm",
        subscription_confirm,
        params=(QUEUE_NAME, SUBSCRIPTION_ID),
        body=Body(_confirm_schema),
        responses={204: "Done", 404: "No such subscription"},
    ),
)

OPERATIONS = (
    *QUEUE_OPERATIONS,
    *(on_topics(op, f"topic_{op.name}") for op in QUEUE_OPERATIONS),
)
