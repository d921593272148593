"""The Swift driver's Keystone v3 auth against the session's real Keystone: the password
request it sends is accepted, and the object-store endpoint comes from the token's catalog.

(Swift itself is not behind this Keystone: the test Swift uses tempauth. What is checked here is
the part of ``swift+keystone://`` that talks to Keystone.)"""

from __future__ import annotations

import uuid

import httpx

from tests.servers.keystone import PASSWORD, Keystone, _Admin
from tidings.storage import swift_client


def register_object_store(url: str, region: str) -> str:
    """Add a Swift service with a public endpoint in ``region`` to the catalog."""
    endpoint = f"http://swift-{uuid.uuid4().hex[:8]}.example:8080/v1/AUTH_%(project_id)s"
    with httpx.Client(base_url=url, timeout=30) as client:
        admin = _Admin(client)
        admin.client.post("/regions", json={"region": {"id": region}}).raise_for_status()
        service = admin.create("service", type="object-store", name="swift")
        admin.create(
            "endpoint", service_id=service, interface="public", url=endpoint, region_id=region
        )
    return endpoint


async def test_a_keystone_token_names_the_projects_object_store(keystone: Keystone) -> None:
    region = f"swift-{uuid.uuid4().hex[:8]}"
    endpoint = register_object_store(keystone.url, region)
    config = swift_client.parse_url(
        f"swift+keystone://a-member:{PASSWORD}@{keystone.url.removeprefix('http://')}"
        f"?project=tidings-a&region={region}"
    )

    async with httpx.AsyncClient(timeout=30) as client:
        url, token = await swift_client.keystone(client, config)

    assert url == endpoint.replace("%(project_id)s", keystone.projects["tidings-a"])
    assert token
