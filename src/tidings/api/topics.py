"""Topic operations: a topic is a queue without claims, stored apart from the project's queues
(in its topic space), whose messages go to its subscribers. They reuse the queue and message
handlers, mounted at ``/v2/topics/{topic_name}``."""

from __future__ import annotations

from tidings.api import messages, queues, views
from tidings.api.operation import Operation, Param, Reply, Request
from tidings.api.params import MARKER, QUEUES_PAGE
from tidings.api.source import on_topics
from tidings.models import JSON
from tidings.service import Service
from tidings.service.scope import space_of


async def topic_list(service: Service, request: Request) -> Reply:
    params = request.params
    detailed = params.get("detailed") or False
    space = space_of(request.context.project_id, "topics")
    page = await service.queues.page(space, params.get("marker"), params.get("limit"), False)
    body: dict[str, JSON] = {
        "topics": [
            views.queue(record, detailed, service.limits, "topics") for record in page.queues
        ],
        "links": [],
    }
    if page.queues:
        body["links"] = views.next_link("/v2/topics", dict(params), page.queues[-1].name)
    return Reply(200, body)


TOPIC_LIST = Operation(
    "topic_list",
    "GET",
    "/v2/topics",
    "List the project's topics by name",
    "topics:get_all",
    topic_list,
    params=(
        MARKER,
        QUEUES_PAGE,
        Param("detailed", "query", "boolean", "Include each topic's metadata"),
    ),
    responses={200: "A page of topics"},
)

TOPIC_POLICIES = {
    "queue_create": "topics:create",
    "queue_get": "topics:get",
    "queue_update": "topics:update",
    "queue_delete": "topics:delete",
    "queue_get_stats": "topics:stats",
    "queue_purge": "topics:purge",
}
"""The queue operations a topic has, with Zaqar's topic policy rules."""

TOPIC_MESSAGES = (
    "message_post",
    "message_list",
    "message_get_many",
    "message_delete_many",
    "message_pop",
    "message_get",
    "message_delete",
)


def _topic_operations() -> tuple[Operation, ...]:
    by_name = {op.name: op for op in (*queues.OPERATIONS, *messages.OPERATIONS)}
    found = [
        on_topics(by_name[name], name.replace("queue_", "topic_"), policy)
        for name, policy in TOPIC_POLICIES.items()
    ]
    found += [on_topics(by_name[name], f"topic_{name}") for name in TOPIC_MESSAGES]
    return (TOPIC_LIST, *found)


OPERATIONS = _topic_operations()
