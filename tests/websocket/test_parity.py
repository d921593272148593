"""Parity: the same scenarios through HTTP and through WebSocket give the same results.

A scenario is a list of steps written as WebSocket actions. ``over_http`` turns a step into the
HTTP request of the same operation, read from the operation table (method, path, query, body),
independently of the WebSocket binding. Each step's outcome is compared through a view that
forgets how each binding renders it (Zaqar's WebSocket bodies differ from its HTTP ones).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.websocket.conftest import OpenSocket
from tidings.api import OPERATIONS, Operation

View = Callable[[Any], Any]


def status_only(body: Any) -> None:
    return None


def bodies(body: Any) -> list[Any]:
    """The bodies of the messages an answer holds, whatever its shape."""
    if "messages" not in body:
        return [body["body"]]
    found = body["messages"]
    return [message["body"] for message in (found if isinstance(found, list) else [found])]


def names(body: Any) -> list[str]:
    return [queue["name"] for queue in body["queues"]]


def counts(body: Any) -> dict[str, int]:
    return {key: body["messages"][key] for key in ("claimed", "free", "total")}


def same(body: Any) -> Any:
    return body


def subscribers(body: Any) -> list[str]:
    return [subscription["subscriber"] for subscription in body["subscriptions"]]


@dataclass(frozen=True)
class Ref:
    """A value an earlier step answered: the message ``ids`` it posted, or its ``claim``."""

    name: str
    index: int | None = None


@dataclass(frozen=True)
class Step:
    action: str
    body: dict[str, Any] = field(default_factory=dict)
    view: View = status_only


@dataclass
class Outcome:
    status: int
    body: Any
    ids: list[str] = field(default_factory=list)
    claim: str | None = None


def resolved(body: dict[str, Any], memory: dict[str, Any]) -> dict[str, Any]:
    def value(item: Any) -> Any:
        if not isinstance(item, Ref):
            return item
        found = memory[item.name]
        return found if item.index is None else found[item.index]

    return {key: value(item) for key, item in body.items()}


# HTTP, from the operation table


def route_params(operation: Operation) -> dict[str, str]:
    """The parameters of every operation on the route (the HTTP binding picks one by its
    selector): name to the key a frame's body gives it under."""
    return {
        param.name: param.ws_name or param.name
        for sibling in OPERATIONS.values()
        if (sibling.path, sibling.method) == (operation.path, operation.method)
        for param in sibling.params
    }


def query_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return ",".join(value) if isinstance(value, list) else str(value)


def http_document(operation: Operation, body: dict[str, Any], keys: dict[str, str]) -> Any:
    if operation.body is None:
        return None
    if operation.body.ws_field is not None:
        return body.get(operation.body.ws_field)
    return {k: v for k, v in body.items() if k not in keys.values()} or None


async def over_http(client: httpx.AsyncClient, action: str, body: dict[str, Any]) -> Outcome:
    operation = OPERATIONS[action]
    keys = route_params(operation)
    path = operation.path.format(**{name: body.get(k) for name, k in keys.items()})
    query = {name: query_text(body[k]) for name, k in keys.items() if k in body}
    headers = {} if operation.body is None else {"Content-Type": operation.body.media_type}
    response = await client.request(
        operation.method,
        path,
        params={
            name: value for name, value in query.items() if f"{{{name}}}" not in operation.path
        },
        json=http_document(operation, body, keys),
        headers=headers,
    )
    answer = response.json() if response.content else None
    outcome = Outcome(response.status_code, answer)
    if response.status_code == 201 and "resources" in (answer or {}):
        outcome.ids = [href.rsplit("/", 1)[1] for href in (answer or {})["resources"]]
    if action == "claim_create" and response.status_code == 201:
        outcome.claim = response.headers["location"].rsplit("/", 1)[1]
    return outcome


async def over_websocket(socket: Any, action: str, body: dict[str, Any]) -> Outcome:
    status, answer = await socket.call(action, **body)
    outcome = Outcome(status, answer)
    if isinstance(answer, dict):
        outcome.ids = answer.get("message_ids", [])
        outcome.claim = answer.get("claim_id") if action == "claim_create" else None
    return outcome


# Scenarios

Q = {"queue_name": "parity"}
ECHO = {**Q, "echo": True}

SCENARIOS: dict[str, list[Step]] = {
    "queue-lifecycle": [
        Step("queue_create", {**Q, "metadata": {"color": "blue", "_default_message_ttl": 120}}),
        Step("queue_create", Q),
        Step("queue_get", Q, same),
        Step(
            "queue_update",
            {**Q, "patch": [{"op": "replace", "path": "/metadata/color", "value": "red"}]},
            same,
        ),
        Step("queue_create", {"queue_name": "another"}),
        Step("queue_list", {}, names),
        Step("queue_list", {"limit": 1}, names),
        Step("queue_get_stats", Q, counts),
        Step("queue_delete", Q),
        Step("queue_delete", Q),
        Step("queue_list", {}, names),
    ],
    "messages": [
        Step("message_post", {**Q, "messages": [{"body": "a"}, {"body": {"b": 1}, "ttl": 90}]}),
        Step("message_post", {**Q, "messages": [{"body": ["c"]}]}, status_only),
        Step("message_list", ECHO, bodies),
        Step("message_list", {**ECHO, "limit": 2}, bodies),
        Step("message_list", Q, bodies),  # the caller's own messages are hidden without echo
        Step("message_get", {**Q, "message_id": Ref("ids", 0)}, bodies),
        Step("message_get_many", {**Q, "message_ids": Ref("ids")}, bodies),
        Step("message_delete", {**Q, "message_id": Ref("ids", 0)}),
        Step("message_get", {**Q, "message_id": Ref("ids", 0)}),
        Step("queue_get_stats", Q, counts),
        Step("message_delete_many", {**Q, "message_ids": Ref("ids")}),
        Step("message_list", ECHO, bodies),
    ],
    "claims": [
        Step("message_post", {**Q, "messages": [{"body": n} for n in range(3)]}),
        Step("claim_create", {**Q, "limit": 2, "ttl": 60, "grace": 60}, bodies),
        Step("claim_get", {**Q, "claim_id": Ref("claim")}, bodies),
        Step("claim_update", {**Q, "claim_id": Ref("claim"), "ttl": 120}),
        Step("queue_get_stats", Q, counts),
        Step("message_delete", {**Q, "message_id": Ref("ids", 0)}),  # claimed: 403
        Step("claim_delete", {**Q, "claim_id": Ref("claim")}),
        Step("claim_get", {**Q, "claim_id": Ref("claim")}),
        Step("claim_create", {**Q, "limit": 5}, bodies),
        Step("claim_create", Q),
        Step("claim_create", {**Q, "wait": 1}),
    ],
    "pop": [
        Step("message_post", {**Q, "messages": [{"body": n} for n in range(4)]}),
        Step("message_delete_many", {**Q, "pop": 3}, bodies),
        Step("message_pop", {**Q, "pop": 3}, bodies),
        Step("message_delete_many", {**Q, "pop": 3}, bodies),
    ],
    "refusals": [
        Step("queue_create", {"queue_name": "no spaces"}),
        Step("queue_create", {**Q, "metadata": {"_default_message_ttl": 5}}),
        Step("message_post", Q),
        Step("message_post", {**Q, "messages": []}),
        Step("message_post", {**Q, "messages": [{"ttl": 60}]}),
        Step("message_list", {**Q, "limit": 100}),
        Step("message_list", {**Q, "wait": 21}),
        Step("message_get", {**Q, "message_id": "no-such-message"}),
        Step("claim_create", {**Q, "ttl": 10}),
        Step("claim_get", {**Q, "claim_id": "no-such-claim"}),
        Step("message_delete_many", {**Q, "message_ids": ["x"], "pop": 1}),
        Step("queue_purge", {**Q, "resource_types": ["tables"]}),
    ],
    "purge-and-subscriptions": [
        Step("message_post", {**Q, "messages": [{"body": 1}]}),
        Step("subscription_create", {**Q, "subscriber": "queue:parity-sink", "ttl": 3600}),
        Step("subscription_list", Q, subscribers),
        Step("queue_purge", {**Q, "resource_types": ["messages"]}),
        Step("message_list", ECHO, bodies),
        Step("queue_purge", Q),
        Step("subscription_list", Q, subscribers),
    ],
}


async def play(
    steps: list[Step], run: Callable[[str, dict[str, Any]], Any]
) -> list[tuple[str, int, Any]]:
    memory: dict[str, Any] = {}
    seen = []
    for step in steps:
        outcome = await run(step.action, resolved(step.body, memory))
        memory["ids"] = outcome.ids or memory.get("ids", [])
        memory["claim"] = outcome.claim or memory.get("claim")
        view = step.view(outcome.body) if outcome.status < 300 and outcome.body else None
        seen.append((step.action, outcome.status, view))
    return seen


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_http_and_websocket_agree(
    scenario: str, http: httpx.AsyncClient, open_socket: OpenSocket
) -> None:
    steps = SCENARIOS[scenario]
    client = str(uuid.uuid4())
    http.headers.update({"X-Project-ID": "parity-http", "Client-ID": client})
    ws = await open_socket(headers={"X-Project-ID": "parity-ws", "Client-ID": client})

    over_both = [
        await play(steps, lambda action, body: over_http(http, action, body)),
        await play(steps, lambda action, body: over_websocket(ws, action, body)),
    ]

    assert over_both[0] == over_both[1]
    assert all(status < 500 for _, status, _ in over_both[0])
