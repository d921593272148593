"""The Swift driver's Keystone v3 auth against the session's real Keystone: the password
request it sends is accepted, and the object-store endpoint comes from the token's catalog.

(Swift itself is not behind this Keystone: the test Swift uses tempauth. What is checked here is
the part of ``swift+keystone://`` that talks to Keystone.)"""

from __future__ import annotations

import uuid

import httpx

from tests.servers.keystone import PASSWORD, Keystone, register_endpoint
from tidings.storage import swift_client


async def test_a_keystone_token_names_the_projects_object_store(keystone: Keystone) -> None:
    endpoint = f"http://swift-{uuid.uuid4().hex[:8]}.example:8080/v1/AUTH_%(project_id)s"
    region = register_endpoint(keystone.url, "object-store", endpoint)
    config = swift_client.parse_url(
        f"swift+keystone://a-member:{PASSWORD}@{keystone.url.removeprefix('http://')}"
        f"?project=tidings-a&region={region}"
    )

    async with httpx.AsyncClient(timeout=30) as client:
        url, token = await swift_client.keystone(client, config)

    assert url == endpoint.replace("%(project_id)s", keystone.projects["tidings-a"])
    assert token
