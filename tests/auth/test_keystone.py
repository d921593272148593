"""Keystone tokens against a real Keystone: who a token makes the caller, and every way a
token can be bad."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

import tidings.transport.keystone
from tests.api.support import assert_error, send_without
from tests.auth.conftest import MakeApi, user
from tests.conftest import free_port
from tests.servers.keystone import Keystone
from tidings.clock import FakeClock


def assert_unauthorized(response: httpx.Response, keystone: Keystone) -> None:
    assert_error(response, 401, "Unauthorized", "requires authentication")
    assert response.headers["www-authenticate"] == f'Keystone uri="{keystone.url}"'


async def queue_names(api: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    response = await api.get("/v2/queues", headers=headers)
    assert response.status_code == 200, response.text
    return [queue["name"] for queue in response.json()["queues"]]


async def test_a_token_acts_in_its_own_project(api: httpx.AsyncClient, keystone: Keystone) -> None:
    # Given a member of project A created a queue
    assert (await api.put("/v2/queues/work")).status_code == 201

    # Then A sees it and a member of project B does not
    assert await queue_names(api, user(keystone, "a-member")) == ["work"]
    assert await queue_names(api, user(keystone, "b-member")) == []


async def test_identity_headers_are_ignored_with_keystone(
    api: httpx.AsyncClient, keystone: Keystone
) -> None:
    # Given B owns a queue
    await api.put("/v2/queues/b-secret", headers=user(keystone, "b-member"))

    # When A claims to be B, and an admin, by header
    forged = user(keystone, "a-member") | {
        "X-Project-ID": keystone.projects["tidings-b"],
        "X-Roles": "admin",
    }

    # Then the token decides: A's queues, no admin
    assert await queue_names(api, forged) == []
    assert_error(await api.get("/v2/health", headers=forged), 403, "Not authorized")


async def test_a_missing_token_is_401_with_the_keystone_uri(
    api: httpx.AsyncClient, keystone: Keystone
) -> None:
    response = await send_without(api, "GET", "/v2/queues", "X-Auth-Token")

    assert_unauthorized(response, keystone)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not-a-token", id="garbage"),
        pytest.param(b"gAAAAAB" + b"x" * 180, id="fernet-lookalike"),
        pytest.param("t\xf8ken".encode("latin-1"), id="not-ascii"),
        pytest.param(b"a" * 10000, id="huge"),
        pytest.param(b" \t ", id="blank"),
    ],
)
async def test_a_malformed_token_is_401(
    api: httpx.AsyncClient, keystone: Keystone, token: bytes
) -> None:
    response = await api.get("/v2/queues", headers={b"X-Auth-Token": token})

    assert_unauthorized(response, keystone)


async def test_spaces_around_a_token_are_not_part_of_it(
    api: httpx.AsyncClient, keystone: Keystone
) -> None:
    token = keystone.tokens["a-member"]
    await api.put("/v2/queues/work")

    for spaced in (f" {token}", f"{token} ", f"\t{token} \t"):
        assert await queue_names(api, user(keystone, "a-member") | {"X-Auth-Token": spaced}) == [
            "work"
        ]


async def test_the_document_asks_for_no_project_header_when_tokens_name_the_project(
    api: httpx.AsyncClient,
) -> None:
    document = (await api.get("/openapi.json")).json()

    project = document["components"]["parameters"]["ProjectId"]
    links = [
        link
        for methods in document["paths"].values()
        for operation in methods.values()
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert (project["name"], project["required"]) == ("X-Project-ID", False)
    assert "minLength" not in project["schema"]
    assert links
    assert all("header.X-Project-ID" not in link["parameters"] for link in links)


async def test_an_unscoped_token_is_401(api: httpx.AsyncClient, keystone: Keystone) -> None:
    token = await keystone.issue_unscoped("a-member")

    response = await api.get("/v2/queues", headers={"X-Auth-Token": token})

    assert_unauthorized(response, keystone)


async def test_an_expired_token_is_401(
    api: httpx.AsyncClient, keystone: Keystone, clock: FakeClock
) -> None:
    # Given a token that expires in a few seconds, accepted (and cached) while valid
    token, expires_at = await keystone.issue_short_lived("a-member", seconds=5)
    assert (await api.get("/v2/queues", headers={"X-Auth-Token": token})).status_code == 200

    # When it has expired, for Keystone and for the cache alike
    await asyncio.sleep(max(0.0, expires_at - time.time()) + 1.1)
    clock.advance(time.time() - clock.now)

    # Then it is refused
    response = await api.get("/v2/queues", headers={"X-Auth-Token": token})
    assert_unauthorized(response, keystone)


async def test_a_revoked_token_stops_working_within_a_minute(
    api: httpx.AsyncClient, keystone: Keystone, clock: FakeClock
) -> None:
    # Given a fresh token, validated once
    token = await keystone.issue("a-member")
    headers = {"X-Auth-Token": token}
    assert (await api.get("/v2/queues", headers=headers)).status_code == 200

    # When it is revoked, the cached validation holds for less than a minute
    await keystone.revoke(token)
    assert (await api.get("/v2/queues", headers=headers)).status_code == 200
    clock.advance(60.5)

    # Then Keystone is asked again and the token is refused
    assert_unauthorized(await api.get("/v2/queues", headers=headers), keystone)


async def test_a_revoked_service_token_is_replaced(
    api: httpx.AsyncClient, keystone: Keystone
) -> None:
    # Given tidings validated a token with its service token
    assert (await api.get("/v2/queues")).status_code == 200

    # When Keystone revokes every token of the service user (to the second: so the
    # revocation comes a second after the service token, and the new one a second after it)
    await asyncio.sleep(1.1)
    await keystone.revoke_all_tokens_of("tidings")
    await asyncio.sleep(1.1)

    # Then tidings gets a new service token and validates another user's token
    assert await queue_names(api, user(keystone, "b-member")) == []


async def test_health_is_for_admins_of_keystone(api: httpx.AsyncClient, keystone: Keystone) -> None:
    member = await api.get("/v2/health", headers=user(keystone, "a-member"))
    admin = await api.get("/v2/health", headers=user(keystone, "a-admin"))

    assert_error(member, 403, "Not authorized")
    assert admin.status_code == 200
    assert admin.json()["storage_reachable"] is True


async def test_pools_are_for_admins_of_keystone(api: httpx.AsyncClient, keystone: Keystone) -> None:
    member = await api.get("/v2/pools", headers=user(keystone, "a-member"))
    admin = await api.get("/v2/pools", headers=user(keystone, "a-admin"))

    assert_error(member, 403, "Not authorized")
    assert admin.status_code == 200


async def test_members_read_flavors_and_admins_change_them(
    api: httpx.AsyncClient, keystone: Keystone
) -> None:
    # Listing flavors is open to every project, as in Zaqar
    listed = await api.get("/v2/flavors", headers=user(keystone, "a-member"))
    assert listed.status_code == 200
    # Changing one is for admins: a member is refused before the body is looked at
    flavor = {"pool_list": ["nowhere"]}
    member = await api.put("/v2/flavors/gold", json=flavor, headers=user(keystone, "a-member"))
    admin = await api.put("/v2/flavors/gold", json=flavor, headers=user(keystone, "a-admin"))

    assert_error(member, 403, "Not authorized")
    assert_error(admin, 400)


async def test_versions_need_no_token(api: httpx.AsyncClient) -> None:
    response = await send_without(api, "GET", "/", "X-Auth-Token", "Client-ID")

    assert response.status_code == 300


async def test_the_home_document_needs_a_token(api: httpx.AsyncClient, keystone: Keystone) -> None:
    assert_unauthorized(await send_without(api, "GET", "/v2/", "X-Auth-Token"), keystone)
    assert (await api.get("/v2/")).status_code == 200


async def test_a_token_still_needs_a_client_id(api: httpx.AsyncClient) -> None:
    response = await send_without(api, "GET", "/v2/queues", "Client-ID")

    assert_error(response, 400, "Missing header value", "Client-ID")


async def test_an_unreachable_keystone_is_503(make_api: MakeApi) -> None:
    # Given a tidings whose Keystone does not listen
    api = await make_api(auth={"keystone_url": f"http://127.0.0.1:{free_port()}/v3"})

    # Then requests fail closed, and a retry may succeed later
    response = await api.get("/v2/queues")

    assert_error(response, 503, "Service temporarily unavailable", "identity service")


async def test_concurrent_requests_share_one_validation(
    api: httpx.AsyncClient, keystone: Keystone
) -> None:
    headers = user(keystone, "b-member")

    responses = await asyncio.gather(*(api.get("/v2/queues", headers=headers) for _ in range(5)))

    assert [response.status_code for response in responses] == [200] * 5


async def test_tokens_keep_working_when_the_cache_is_full(
    make_api: MakeApi, keystone: Keystone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tidings.transport.keystone, "MAX_CACHED", 2)
    api = await make_api()
    names = ["a-member", "a-admin", "b-member", "b-admin", "a-member"]

    for name in names:
        assert (await api.get("/v2/queues", headers=user(keystone, name))).status_code == 200


async def test_wrong_service_credentials_are_503(make_api: MakeApi) -> None:
    api = await make_api(auth={"service_password": "wrong"})

    response = await api.get("/v2/queues")

    assert_error(response, 503, "Service temporarily unavailable")


async def test_a_service_user_that_may_not_validate_is_503(make_api: MakeApi) -> None:
    # Given a service user with no service role: Keystone forbids it to validate others' tokens
    api = await make_api(
        caller="b-member", auth={"service_user": "a-member", "service_project": "tidings-a"}
    )

    response = await api.get("/v2/queues")

    assert_error(response, 503, "Service temporarily unavailable")
