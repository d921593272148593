"""WebSocket authentication with the session's Keystone: ``authenticate`` first, frames that
act as the authenticated project, pre-signed frames, and the socket closed with 4003 when the
token expires."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.servers.keystone import START_TIMEOUT, Keystone, keystone_fixture
from tests.websocket.support import Served, Socket, opened, serving
from tidings.clock import system_clock
from tidings.config import Settings, SignedUrlSettings, StorageSettings

pytestmark = pytest.mark.timeout(START_TIMEOUT)  # the first test may install Keystone

__all__ = ["keystone_fixture"]


@pytest.fixture
async def served(keystone: Keystone) -> AsyncIterator[Served]:
    settings = Settings(
        storage=StorageSettings(url="sqlite:///:memory:"),
        auth=keystone.auth_settings(),
        signed_url=SignedUrlSettings(secret_key="ws-signing-key"),
    )
    async with serving(settings, system_clock) as server:
        yield server


@pytest.fixture
async def ws(served: Served, keystone: Keystone) -> AsyncIterator[Socket]:
    """A socket of a-member (who has not authenticated yet)."""
    headers = {"Client-ID": str(uuid.uuid4()), "X-Project-ID": keystone.projects["tidings-a"]}
    async with opened(served.ws_url, headers=headers) as socket:
        yield socket


async def authenticate(ws: Socket, token: str) -> dict[str, Any]:
    return await ws.request("authenticate", None, **{"X-Auth-Token": token})


async def test_actions_before_authenticate_are_403(ws: Socket) -> None:
    assert await ws.call("queue_list") == (403, {"error": "Not authentified."})


async def test_a_bad_token_fails_to_authenticate(ws: Socket) -> None:
    frame = await authenticate(ws, "not-a-token")

    assert (frame["headers"]["status"], frame["body"]) == (401, {"error": "Authentication failed."})
    assert await ws.call("queue_list") == (403, {"error": "Not authentified."})


async def test_after_authenticate_frames_act_as_the_tokens_project(
    ws: Socket, keystone: Keystone, served: Served
) -> None:
    frame = await authenticate(ws, keystone.tokens["a-member"])
    created = await ws.call("queue_create", queue_name="secured")

    assert (frame["headers"]["status"], frame["body"]) == (200, {"message": "Authentified."})
    assert created == (201, "Queue secured created.")
    headers = {"X-Auth-Token": keystone.tokens["a-member"], "Client-ID": str(uuid.uuid4())}
    async with httpx.AsyncClient(headers=headers) as client:
        listed = (await client.get(f"{served.url}/v2/queues")).json()
    assert [queue["name"] for queue in listed["queues"]] == ["secured"]


async def test_a_frame_for_another_project_is_403(ws: Socket, keystone: Keystone) -> None:
    await authenticate(ws, keystone.tokens["a-member"])

    frame = await ws.request("queue_list", {}, **{"X-Project-ID": keystone.projects["tidings-b"]})

    assert frame["headers"]["status"] == 403


async def test_the_socket_is_closed_with_4003_when_the_token_expires(
    ws: Socket, keystone: Keystone
) -> None:
    token, expires = await keystone.issue_short_lived("a-member", 3)
    frame = await authenticate(ws, token)
    assert frame["headers"]["status"] == 200

    code, reason = await ws.closed(within=expires - time.time() + 5)

    assert (code, reason) == (4003, "Authentication expired.")
    assert time.time() >= expires - 1.5  # fernet tokens keep whole seconds of their expiry


async def test_pre_signed_frames_need_no_authenticate(
    ws: Socket, keystone: Keystone, served: Served
) -> None:
    headers = {"X-Auth-Token": keystone.tokens["a-member"], "Client-ID": str(uuid.uuid4())}
    async with httpx.AsyncClient(base_url=served.url, headers=headers) as client:
        await client.post("/v2/queues/shared/messages", json={"messages": [{"body": "signed"}]})
        share = (await client.post("/v2/queues/shared/share", json={})).json()
    signed = {
        "URL-Signature": share["signature"],
        "URL-Expires": share["expires"],
        "URL-Methods": ",".join(share["methods"]),
        "URL-Paths": ",".join(share["paths"]),
        "X-Project-ID": share["project"],
    }

    frame = await ws.request("message_list", {"queue_name": "shared", "echo": True}, **signed)
    refused = await ws.request("queue_list", {}, **signed)

    assert frame["headers"]["status"] == 200
    assert [message["body"] for message in frame["body"]["messages"]] == ["signed"]
    assert refused["headers"]["status"] == 404  # as over HTTP: the signature grants no more
