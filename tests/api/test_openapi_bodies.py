"""A body that ``/openapi.json``'s schema takes is one the server takes, and one the schema
refuses the server refuses too: a client (or a generator of requests) can trust it."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from tests.api.support import JSON_PATCH, operations

pytestmark = pytest.mark.parametrize("api", ["sqlite"], indirect=True)
"""The schemas are the API's, whatever the store."""

QUEUE = "/v2/queues/described"
SUBSCRIBER = "http://127.0.0.1:1/hook"
HOOK = {"subscriber": SUBSCRIBER}
ONE_MESSAGE = {"messages": [{"body": "to claim"}]}

CASES: list[tuple[str, str, Any, bool]] = [
    # (what, operation, body, taken)
    ("a subscription", "subscription_create", HOOK, True),
    ("no subscriber", "subscription_create", {"ttl": 3600}, False),
    ("nothing", "subscription_create", {}, False),
    ("a scheme not served", "subscription_create", {"subscriber": "ftp://host/x"}, False),
    (
        "a hook with a user and port",
        "subscription_create",
        {"subscriber": "https://u@h:8/p?q"},
        True,
    ),
    ("a hook with no host", "subscription_create", {"subscriber": "http:///hook"}, False),
    ("a hook with only a port", "subscription_create", {"subscriber": "http://:80/"}, False),
    ("two addresses", "subscription_create", {"subscriber": "mailto:a@b.c,d@e.f"}, True),
    ("an address without @", "subscription_create", {"subscriber": "mailto:a@b.c,d"}, False),
    ("another queue", "subscription_create", {"subscriber": "queue:other"}, True),
    ("a queue without a name", "subscription_create", {"subscriber": "queue:"}, False),
    ("a bad queue name", "subscription_create", {"subscriber": "queue:a b"}, False),
    ("a new ttl", "subscription_update", {"ttl": 3600}, True),
    ("no change", "subscription_update", {}, False),
    ("only unknown keys", "subscription_update", {"colour": "blue"}, False),
    ("an add", "queue_update", [{"op": "add", "path": "/metadata/a", "value": 1}], True),
    ("a remove", "queue_update", [{"op": "remove", "path": "/metadata/a"}], True),
    ("an add of nothing", "queue_update", [{"op": "add", "path": "/metadata/a"}], False),
    ("a replace of nothing", "queue_update", [{"op": "replace", "path": "/metadata/a"}], False),
    ("a nested path", "queue_update", [{"op": "add", "path": "/metadata/a/b", "value": 1}], False),
    ("the most claims", "queue_create", {"_max_claim_count": 2**31 - 1}, True),
    ("a claim more", "queue_create", {"_max_claim_count": 2**31}, False),
    # null is a field left out: the default
    ("a null ttl", "subscription_create", {**HOOK, "ttl": None, "options": None}, True),
    ("a null subscriber", "subscription_create", {"subscriber": None}, False),
    ("a null and a new ttl", "subscription_update", {"subscriber": None, "ttl": 3600}, True),
    ("only nulls", "subscription_update", {"ttl": None, "options": None}, False),
    (
        "null metadata",
        "queue_create",
        {"_default_message_ttl": None, "_dead_letter_queue": None},
        True,
    ),
    ("a null ttl and grace", "claim_create", {"ttl": None, "grace": None}, True),
    ("a string grace", "claim_create", {"grace": "60"}, False),
    (
        "a null ttl and delay",
        "message_post",
        {"messages": [{"body": 1, "ttl": None, "delay": None}]},
        True,
    ),
    ("null messages", "message_post", {"messages": None}, False),
    ("null resource types", "queue_purge", {"resource_types": None}, True),
    ("no resource types", "queue_purge", {"resource_types": []}, False),
]


def body_schema(document: dict[str, Any], operation_id: str) -> dict[str, Any]:
    _, _, operation = operations(document)[operation_id]
    (content,) = operation["requestBody"]["content"].values()
    schema: dict[str, Any] = content["schema"]
    return schema


async def send(api: httpx.AsyncClient, operation_id: str, body: Any) -> httpx.Response:
    """The operation's request with ``body``: on a queue with metadata (and, to update one, a
    subscription), or creating a queue."""
    assert (await api.put(QUEUE, json={"a": 0})).status_code in (201, 204)
    if operation_id == "subscription_create":
        return await api.post(f"{QUEUE}/subscriptions", json=body)
    if operation_id == "subscription_update":
        created = await api.post(f"{QUEUE}/subscriptions", json=HOOK)
        subscription_id = created.json()["subscription_id"]
        return await api.patch(f"{QUEUE}/subscriptions/{subscription_id}", json=body)
    if operation_id == "queue_create":
        return await api.put(f"{QUEUE}-new", json=body)
    if operation_id == "claim_create":
        assert (await api.post(f"{QUEUE}/messages", json=ONE_MESSAGE)).status_code == 201
        return await api.post(f"{QUEUE}/claims", json=body)
    if operation_id == "message_post":
        return await api.post(f"{QUEUE}/messages", json=body)
    if operation_id == "queue_purge":
        return await api.post(f"{QUEUE}/purge", json=body)
    return await api.patch(QUEUE, json=body, headers={"Content-Type": JSON_PATCH})


@pytest.mark.parametrize(
    ("what", "operation_id", "body", "taken"), CASES, ids=[case[0] for case in CASES]
)
async def test_the_schema_and_the_server_agree_on_a_body(
    api: httpx.AsyncClient, what: str, operation_id: str, body: Any, taken: bool
) -> None:
    # Given the schema the document gives the operation's body
    schema = body_schema((await api.get("/openapi.json")).json(), operation_id)

    # When the body is checked against it, and sent
    valid = jsonschema.Draft202012Validator(schema).is_valid(body)
    response = await send(api, operation_id, body)

    # Then both take it, or both refuse it (the server with a 400)
    assert valid is taken, what
    assert (response.status_code < 300) is taken, response.text
    if not taken:
        assert response.status_code == 400, response.text
