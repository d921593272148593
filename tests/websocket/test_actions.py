"""Every operation of the table is a WebSocket action, and Zaqar's actions answer with
Zaqar's WebSocket shapes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from tests.api.support import post_bodies
from tests.websocket.conftest import OpenSocket
from tests.websocket.support import Socket
from tidings.api import OPERATIONS, Operation

pytestmark = pytest.mark.parametrize("served", ["sqlite"], indirect=True)
"""The binding does not depend on the backend: one is enough."""

NOTICE = 0.5
"""Seconds given to the server to see a closed socket, or a waiting claim to take a post."""
SAMPLES: dict[str, Any] = {"string": "sample", "integer": 1, "boolean": True, "list": ["sample"]}


def sample_body(operation: Operation) -> dict[str, Any]:
    """A frame body with a value for each of the operation's required parameters."""
    return {
        param.ws_name or param.name: SAMPLES[param.type]
        for param in operation.params
        if param.required or param.location == "path"
    }


@pytest.mark.parametrize("name", sorted(OPERATIONS))
async def test_every_operation_is_an_action(ws: Socket, name: str) -> None:
    status, body = await ws.call(name, **sample_body(OPERATIONS[name]))

    assert status < 500, body
    assert body != {"error": f"{name} is not a valid action"}


async def post(ws: Socket, *bodies: Any) -> list[str]:
    status, body = await ws.call(
        "message_post", queue_name="q", messages=[{"body": b} for b in bodies]
    )
    assert status == 201
    assert set(body) == {"message_ids"}
    ids: list[str] = body["message_ids"]
    return ids


async def test_queue_actions_answer_in_sentences(ws: Socket) -> None:
    assert await ws.call("queue_create", queue_name="q", metadata={"a": 1}) == (
        201,
        "Queue q created.",
    )
    assert await ws.call("queue_create", queue_name="q") == (204, "Queue q created.")
    assert await ws.call("queue_delete", queue_name="q") == (204, "Queue q removed.")


async def test_queue_list_has_names_without_hrefs_or_links(ws: Socket) -> None:
    await ws.call("queue_create", queue_name="q", metadata={"color": "red"})

    assert await ws.call("queue_list") == (200, {"queues": [{"name": "q"}]})
    _, body = await ws.call("queue_list", detailed=True)
    assert body["queues"][0]["metadata"]["color"] == "red"


async def test_messages_have_a_claim_id_and_no_href(ws: Socket) -> None:
    [message_id] = await post(ws, "hello")

    status, body = await ws.call("message_list", queue_name="q", echo=True)

    assert status == 200
    assert body == {
        "messages": [{"id": message_id, "claim_id": None, "ttl": 3600, "age": 0, "body": "hello"}]
    }


async def test_message_get_answers_the_message_under_messages(ws: Socket) -> None:
    [message_id] = await post(ws, "hello")

    status, body = await ws.call("message_get", queue_name="q", message_id=message_id)

    assert (status, body["messages"]["id"], body["messages"]["body"]) == (200, message_id, "hello")


async def test_message_get_many_reads_message_ids(ws: Socket) -> None:
    ids = await post(ws, 1, 2, 3)

    _, body = await ws.call("message_get_many", queue_name="q", message_ids=ids[:2])

    assert [message["body"] for message in body["messages"]] == [1, 2]


async def test_message_delete_many_deletes_by_id_or_pops(ws: Socket) -> None:
    ids = await post(ws, 1, 2, 3, 4)

    assert await ws.call("message_delete_many", queue_name="q", message_ids=ids[:1]) == (204, {})
    status, body = await ws.call("message_delete_many", queue_name="q", pop=2)

    assert status == 200
    assert [message["body"] for message in body["messages"]] == [2, 3]


async def test_claims_answer_with_their_id_and_sentences(ws: Socket) -> None:
    await post(ws, "job")

    status, claimed = await ws.call("claim_create", queue_name="q", ttl=60, grace=60)
    claim_id = claimed["claim_id"]
    _, held = await ws.call("claim_get", queue_name="q", claim_id=claim_id)
    updated = await ws.call("claim_update", queue_name="q", claim_id=claim_id, ttl=120)
    deleted = await ws.call("claim_delete", queue_name="q", claim_id=claim_id)

    assert status == 201
    assert [(m["claim_id"], m["body"]) for m in claimed["messages"]] == [(claim_id, "job")]
    assert set(held) == {"ttl", "age", "messages"}
    assert held["messages"][0]["claim_id"] == claim_id
    assert updated == (204, f"Claim {claim_id} updated.")
    assert deleted == (204, f"Claim {claim_id} deleted.")


async def test_a_claim_of_nothing_is_204(ws: Socket) -> None:
    assert await ws.call("claim_create", queue_name="q") == (204, {"claim_id": None})


async def test_subscription_actions(ws: Socket) -> None:
    status, created = await ws.call(
        "subscription_create", queue_name="q", subscriber="queue:sink", ttl=3600
    )
    subscription_id = created["subscription_id"]
    _, listed = await ws.call("subscription_list", queue_name="q")
    _, got = await ws.call("subscription_get", queue_name="q", subscription_id=subscription_id)
    removed = await ws.call("subscription_delete", queue_name="q", subscription_id=subscription_id)

    assert (status, created["message"]) == (201, "Subscription q created.")
    assert "links" not in listed
    assert [s["id"] for s in listed["subscriptions"]] == [subscription_id]
    assert got["subscriber"] == "queue:sink"
    assert removed == (204, f"Subscription {subscription_id} removed.")


async def test_a_waiting_claim_over_the_socket_answers_at_its_deadline(ws: Socket) -> None:
    assert await ws.call("claim_create", queue_name="q", wait=1) == (204, {"claim_id": None})


async def test_authenticate_without_keystone_takes_the_headers(ws: Socket) -> None:
    frame = await ws.request("authenticate", None, **{"X-Auth-Token": "ignored"})

    assert frame["headers"]["status"] == 200
    assert frame["body"] == {"message": "Authentified."}


async def test_a_waiting_claim_whose_socket_closed_takes_nothing_posted_later(
    open_socket: OpenSocket, http: httpx.AsyncClient
) -> None:
    # Given a claim waiting on a socket, which then closes
    leaving = await open_socket()
    await leaving.send(orjson.dumps(claim_frame(leaving, wait=15)).decode())
    await asyncio.sleep(NOTICE)
    await leaving.close()
    await asyncio.sleep(NOTICE)

    # When a message is posted
    await post_bodies(http, "q", "job")
    await asyncio.sleep(NOTICE)

    # Then it is still free for the next claim
    stats = (await http.get("/v2/queues/q/stats")).json()["messages"]
    assert (stats["free"], stats["claimed"]) == (1, 0)


def claim_frame(socket: Socket, **body: Any) -> dict[str, Any]:
    return {
        "action": "claim_create",
        "headers": socket.headers,
        "body": {"queue_name": "q", **body},
    }


async def test_a_post_sent_just_before_the_socket_closes_is_stored(
    open_socket: OpenSocket, http: httpx.AsyncClient
) -> None:
    leaving = await open_socket()
    frame = {
        "action": "message_post",
        "headers": leaving.headers,
        "body": {"queue_name": "q", "messages": [{"body": "last words", "ttl": 60}]},
    }
    await leaving.send(orjson.dumps(frame).decode())
    await leaving.close()
    await asyncio.sleep(NOTICE)

    listed = await http.get("/v2/queues/q/messages", params={"echo": "true"})
    assert [message["body"] for message in listed.json()["messages"]] == ["last words"]
