"""python-zaqarclient's WebSocket transport, unchanged, drives a real ``tidings serve``.

The transport sends ``authenticate`` first, then one request at a time with everything in the
frame's body (it drops query parameters), and raises the client's errors for error statuses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from zaqarclient.transport import errors as client_errors
from zaqarclient.transport import get_transport_for
from zaqarclient.transport import request as zaqar_request
from zaqarclient.transport.ws import WebsocketTransport

from tests.conftest import ServerProcess, caller_headers

PROJECT = "ws-project"


@pytest.fixture
def transport(server: ServerProcess) -> Iterator[tuple[WebsocketTransport, str]]:
    """The client's WebSocket transport to the server, as an OpenStack user configures it."""
    endpoint = server.url.replace("http://", "ws://") + "/v2/ws"
    options = {
        "auth_opts": {
            "backend": "noauth",
            "options": {"os_auth_token": "no-token-needed", "os_project_id": PROJECT},
        }
    }
    with get_transport_for(endpoint, options=options) as ws:
        yield ws, endpoint


def send(transport: tuple[WebsocketTransport, str], action: str, **body: Any) -> tuple[int, Any]:
    ws, endpoint = transport
    response = ws.send(zaqar_request.Request(endpoint, action, content=json.dumps(body)))
    return response.status_code, json.loads(response.content)


def test_a_producer_and_consumer_scenario(transport: tuple[WebsocketTransport, str]) -> None:
    # Given a queue created over the socket
    assert send(transport, "queue_create", queue_name="jobs") == (201, "Queue jobs created.")

    # When two messages are posted and listed
    status, posted = send(
        transport, "message_post", queue_name="jobs", messages=[{"body": 1}, {"body": 2}]
    )
    _, listed = send(transport, "message_list", queue_name="jobs", echo=True)

    # Then the listing shows them in order
    assert status == 201
    assert [m["id"] for m in listed["messages"]] == posted["message_ids"]

    # When one is claimed and deleted with its claim
    status, claimed = send(transport, "claim_create", queue_name="jobs", limit=1, ttl=60)
    [message] = claimed["messages"]
    deleted = send(
        transport,
        "message_delete",
        queue_name="jobs",
        message_id=message["id"],
        claim_id=claimed["claim_id"],
    )

    # Then one message is left, free
    assert (status, message["body"], deleted) == (201, 1, (204, {}))
    _, stats = send(transport, "queue_get_stats", queue_name="jobs")
    assert (stats["messages"]["free"], stats["messages"]["total"]) == (1, 1)

    # And deleting the queue answers Zaqar's sentence
    assert send(transport, "queue_delete", queue_name="jobs") == (204, "Queue jobs removed.")


def test_error_statuses_raise_the_clients_errors(
    transport: tuple[WebsocketTransport, str],
) -> None:
    with pytest.raises(client_errors.ResourceNotFound):
        send(transport, "message_get", queue_name="jobs", message_id="no-such-message")
    with pytest.raises(client_errors.MalformedRequest, match="Queue names may only contain"):
        send(transport, "queue_create", queue_name="no spaces")


def test_a_subscribed_socket_receives_messages_posted_over_http(
    transport: tuple[WebsocketTransport, str], server: ServerProcess
) -> None:
    status, subscribed = send(transport, "subscription_create", queue_name="feed")

    response = httpx.post(
        f"{server.url}/v2/queues/feed/messages",
        json={"messages": [{"body": "breaking", "ttl": 300}]},
        headers=caller_headers(PROJECT),
    )

    assert (status, subscribed["message"]) == (201, "Subscription feed created.")
    assert response.status_code == 201
    assert transport[0].recv() == {
        "body": "breaking",
        "ttl": 300,
        "queue_name": "feed",
        "Message_Type": "Notification",
    }
