"""How answers look on Zaqar's WebSocket API where they differ from HTTP's
(``zaqar/api/v2/endpoints.py``): sentences for creates, updates and deletes, messages with a
``claim_id`` and no ``href``, no paging links. Each function is an operation's ``ws_render``:
it makes the frame's body from the request and the operation's reply."""

from __future__ import annotations

from typing import Any

from tidings.api.operation import Reply, Request
from tidings.models import JSON


def _named(request: Request) -> str:
    """'Queue q' or 'Topic t': what the request names."""
    params = request.params
    if "topic_name" in params:
        return f"Topic {params['topic_name']}"
    return f"Queue {params['queue_name']}"


def _message(view: dict[str, Any], claim_id: str | None) -> dict[str, JSON]:
    """Zaqar's ``format_message``."""
    return {
        "id": view["id"],
        "claim_id": claim_id,
        "ttl": view["ttl"],
        "age": view["age"],
        "body": view["body"],
    }


def _without_links(reply: Reply) -> dict[str, JSON]:
    return {key: value for key, value in reply.body.items() if key != "links"}


def created(request: Request, reply: Reply) -> JSON:
    return f"{_named(request)} created."


def removed(request: Request, reply: Reply) -> JSON:
    return f"{_named(request)} removed."


def queues(request: Request, reply: Reply) -> JSON:
    body = _without_links(reply)
    body["queues"] = [
        {key: value for key, value in queue.items() if key != "href"}
        for queue in reply.body["queues"]
    ]
    return body


def messages(request: Request, reply: Reply) -> JSON:
    return {"messages": [_message(view, None) for view in reply.body["messages"]]}


def message(request: Request, reply: Reply) -> JSON:
    return {"messages": _message(reply.body, None)}


def posted(request: Request, reply: Reply) -> JSON:
    return {"message_ids": [href.rsplit("/", 1)[1] for href in reply.body["resources"]]}


def claimed(request: Request, reply: Reply) -> JSON:
    if reply.location is None:
        return {"claim_id": None}
    claim_id = reply.location.rsplit("/", 1)[1]
    views = reply.body["messages"]
    return {"claim_id": claim_id, "messages": [_message(view, claim_id) for view in views]}


def claim(request: Request, reply: Reply) -> JSON:
    claim_id = request.params["claim_id"]
    return {
        "ttl": reply.body["ttl"],
        "age": reply.body["age"],
        "messages": [_message(view, claim_id) for view in reply.body["messages"]],
    }


def claim_updated(request: Request, reply: Reply) -> JSON:
    return f"Claim {request.params['claim_id']} updated."


def claim_deleted(request: Request, reply: Reply) -> JSON:
    return f"Claim {request.params['claim_id']} deleted."


def subscribed(request: Request, reply: Reply) -> JSON:
    name = _named(request).split(" ", 1)[1]
    return {**reply.body, "message": f"Subscription {name} created."}


def subscriptions(request: Request, reply: Reply) -> JSON:
    return _without_links(reply)


def unsubscribed(request: Request, reply: Reply) -> JSON:
    return f"Subscription {request.params['subscription_id']} removed."
