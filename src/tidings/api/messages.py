"""Message operations."""

from __future__ import annotations

from typing import Any

from tidings.api import views, ws_views
from tidings.api.operation import Body, Operation, Param, Reply, Request
from tidings.api.params import (
    MARKER,
    MESSAGE_ID,
    QUEUE_NAME,
    WAIT,
    messages_per_page,
    messages_per_take,
    or_null,
    page_size,
)
from tidings.api.source import Source, source
from tidings.config import SHORTEST_TTL, Limits
from tidings.models import JSON, Message, MessageFilter
from tidings.service import Service

IDS = Param(
    "ids",
    "query",
    "list",
    "Comma-separated message ids",
    required=True,
    ws_name="message_ids",
    bounds=messages_per_page,
)
CLAIM_IDS = Param(
    "claim_ids",
    "query",
    "list",
    "Comma-separated claim ids holding them",
    bounds=messages_per_page,
)
MESSAGES_PAGE = page_size(lambda limits: limits.max_messages_per_page)


async def message_post(service: Service, request: Request) -> Reply:
    where = source(request)
    ids = await service.messages.post(
        where.space, where.name, request.context.client_id, request.body, request.body_size
    )
    hrefs = [f"{where.href}/messages/{message_id}" for message_id in ids]
    location = f"{where.href}/messages?ids={','.join(ids)}"
    return Reply(201, {"resources": hrefs}, location=location)


async def message_list(service: Service, request: Request) -> Reply:
    params = request.params
    where = source(request)
    query = MessageFilter(
        client_id=request.context.client_id,
        echo=params.get("echo") or False,
        include_claimed=params.get("include_claimed") or False,
        include_delayed=params.get("include_delayed") or False,
        marker=params.get("marker"),
    )
    found, marker = await service.messages.page(
        where.space, where.name, query, params.get("limit"), params.get("wait"), request.caller_gone
    )
    links = []
    if marker is not None:
        path_params = ("queue_name", "topic_name")
        query_params = {key: value for key, value in params.items() if key not in path_params}
        links = views.next_link(f"{where.href}/messages", query_params, marker)
    body = {"messages": _views(where, found, service), "links": links}
    return Reply(200, body)


async def message_get_many(service: Service, request: Request) -> Reply:
    where = source(request)
    found = await service.messages.get_many(where.space, where.name, request.params["ids"])
    return Reply(200, {"messages": _views(where, found, service)})


async def message_get(service: Service, request: Request) -> Reply:
    where = source(request)
    found = await service.messages.get(where.space, where.name, request.params["message_id"])
    return Reply(200, views.message(where.name, found, service.clock(), where.kind))


async def message_delete(service: Service, request: Request) -> Reply:
    params = request.params
    where = source(request)
    await service.messages.delete(
        where.space, where.name, params["message_id"], params.get("claim_id")
    )
    return Reply(204)


async def message_delete_many(service: Service, request: Request) -> Reply:
    params = request.params
    where = source(request)
    await service.messages.delete_many(
        where.space, where.name, params["ids"], params.get("claim_ids")
    )
    return Reply(204)


async def message_pop(service: Service, request: Request) -> Reply:
    where = source(request)
    popped = await service.messages.pop(where.space, where.name, request.params["pop"])
    return Reply(200, {"messages": _views(where, popped, service)})


def _views(where: Source, found: list[Message], service: Service) -> list[dict[str, JSON]]:
    return views.messages(where.name, found, service.clock(), where.kind)


def _post_schema(limits: Limits) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["messages"],
        "properties": {
            "messages": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["body"],
                    "properties": {
                        "body": {},
                        "ttl": or_null(
                            {
                                "type": "integer",
                                "minimum": SHORTEST_TTL,
                                "maximum": limits.max_message_ttl,
                            }
                        ),
                        "delay": or_null(
                            {"type": "integer", "minimum": 0, "maximum": limits.max_message_delay}
                        ),
                    },
                },
            }
        },
    }


MESSAGES = "/v2/queues/{queue_name}/messages"
MESSAGE = MESSAGES + "/{message_id}"

OPERATIONS = (
    Operation(
        "message_post",
        "POST",
        MESSAGES,
        "Post a batch of messages (the queue is created if absent)",
        "messages:create",
        message_post,
        params=(QUEUE_NAME,),
        body=Body(_post_schema),
        responses={201: "Posted; the body lists the new messages' hrefs"},
        ws_render=ws_views.posted,
    ),
    Operation(
        "message_list",
        "GET",
        MESSAGES,
        "List messages in post order",
        "messages:get_all",
        message_list,
        params=(
            QUEUE_NAME,
            MARKER,
            MESSAGES_PAGE,
            Param("echo", "query", "boolean", "Include the caller's own messages"),
            Param("include_claimed", "query", "boolean", "Include claimed messages"),
            Param("include_delayed", "query", "boolean", "Include delayed messages"),
            WAIT,
        ),
        responses={200: "A page of messages"},
        ws_render=ws_views.messages,
    ),
    Operation(
        "message_get_many",
        "GET",
        MESSAGES,
        "Get messages by id",
        "messages:get_all",
        message_get_many,
        params=(QUEUE_NAME, IDS),
        selector="ids",
        responses={200: "The messages found", 404: "None found"},
        ws_render=ws_views.messages,
    ),
    Operation(
        "message_delete_many",
        "DELETE",
        MESSAGES,
        "Delete messages by id",
        "messages:delete_all",
        message_delete_many,
        params=(QUEUE_NAME, IDS, CLAIM_IDS),
        selector="ids",
        responses={204: "Deleted"},
    ),
    Operation(
        "message_pop",
        "DELETE",
        MESSAGES,
        "Claim and delete up to `pop` messages in one step, returning them",
        "messages:delete_all",
        message_pop,
        params=(
            QUEUE_NAME,
            Param(
                "pop",
                "query",
                "integer",
                "How many messages to pop",
                required=True,
                bounds=messages_per_take,
            ),
        ),
        selector="pop",
        responses={200: "The popped messages"},
        ws_render=ws_views.messages,
    ),
    Operation(
        "message_get",
        "GET",
        MESSAGE,
        "Get one message",
        "messages:get",
        message_get,
        params=(QUEUE_NAME, MESSAGE_ID),
        responses={200: "The message", 404: "No such message"},
        ws_render=ws_views.message,
    ),
    Operation(
        "message_delete",
        "DELETE",
        MESSAGE,
        "Delete one message (a claimed one needs its claim id)",
        "messages:delete",
        message_delete,
        params=(
            QUEUE_NAME,
            MESSAGE_ID,
            Param("claim_id", "query", "string", "The claim holding the message"),
        ),
        responses={204: "Deleted", 403: "Claimed by someone else"},
    ),
)
