"""Message operations."""

from __future__ import annotations

from typing import Any

from tidings.api import views
from tidings.api.operation import Body, Operation, Param, Reply, Request
from tidings.api.params import LIMIT, MARKER, MESSAGE_ID, QUEUE_NAME
from tidings.config import Limits
from tidings.models import MessageFilter
from tidings.service import Service

IDS = Param("ids", "query", "list", "Comma-separated message ids", required=True)
CLAIM_IDS = Param("claim_ids", "query", "list", "Comma-separated claim ids holding them")


async def message_post(service: Service, request: Request) -> Reply:
    queue = request.params["queue_name"]
    ids = await service.messages.post(
        request.context.project_id,
        queue,
        request.context.client_id,
        request.body,
        request.body_size,
    )
    hrefs = [views.message_href(queue, message_id) for message_id in ids]
    location = f"{views.queue_href(queue)}/messages?ids={','.join(ids)}"
    return Reply(201, {"resources": hrefs}, location=location)


async def message_list(service: Service, request: Request) -> Reply:
    params = request.params
    queue = params["queue_name"]
    query = MessageFilter(
        client_id=request.context.client_id,
        echo=params.get("echo") or False,
        include_claimed=params.get("include_claimed") or False,
        include_delayed=params.get("include_delayed") or False,
        marker=params.get("marker"),
        limit=params.get("limit", 10),
    )
    found, marker = await service.messages.page(request.context.project_id, queue, query)
    links = []
    if marker is not None:
        query_params = {key: value for key, value in params.items() if key != "queue_name"}
        links = views.next_link(f"{views.queue_href(queue)}/messages", query_params, marker)
    body = {"messages": views.messages(queue, found, service.clock()), "links": links}
    return Reply(200, body)


async def message_get_many(service: Service, request: Request) -> Reply:
    queue = request.params["queue_name"]
    found = await service.messages.get_many(
        request.context.project_id, queue, request.params["ids"]
    )
    return Reply(200, {"messages": views.messages(queue, found, service.clock())})


async def message_get(service: Service, request: Request) -> Reply:
    queue = request.params["queue_name"]
    found = await service.messages.get(
        request.context.project_id, queue, request.params["message_id"]
    )
    return Reply(200, views.message(queue, found, service.clock()))


async def message_delete(service: Service, request: Request) -> Reply:
    params = request.params
    await service.messages.delete(
        request.context.project_id,
        params["queue_name"],
        params["message_id"],
        params.get("claim_id"),
    )
    return Reply(204)


async def message_delete_many(service: Service, request: Request) -> Reply:
    params = request.params
    await service.messages.delete_many(
        request.context.project_id, params["queue_name"], params["ids"], params.get("claim_ids")
    )
    return Reply(204)


async def message_pop(service: Service, request: Request) -> Reply:
    queue = request.params["queue_name"]
    popped = await service.messages.pop(request.context.project_id, queue, request.params["pop"])
    return Reply(200, {"messages": views.messages(queue, popped, service.clock())})


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
                        "ttl": {
                            "type": "integer",
                            "minimum": 60,
                            "maximum": limits.max_message_ttl,
                        },
                        "delay": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": limits.max_message_delay,
                        },
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
            LIMIT,
            Param("echo", "query", "boolean", "Include the caller's own messages"),
            Param("include_claimed", "query", "boolean", "Include claimed messages"),
            Param("include_delayed", "query", "boolean", "Include delayed messages"),
        ),
        responses={200: "A page of messages"},
    ),
    Operation(
        "message_get_many",
        "GET",
        MESSAGES,
        "Get messages by id",
        "messages:get",
        message_get_many,
        params=(QUEUE_NAME, IDS),
        selector="ids",
        responses={200: "The messages found", 404: "None found"},
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
            Param("pop", "query", "integer", "How many messages to pop", required=True),
        ),
        selector="pop",
        responses={200: "The popped messages"},
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
