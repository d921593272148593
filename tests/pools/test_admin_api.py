"""The pools and flavors admin API over HTTP (in process): Zaqar's shapes, checks and policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.support import assert_error
from tests.conftest import in_process_client
from tests.pools.conftest import sqlite_pool
from tests.servers.backends import storage_url
from tests.servers.redis import free_port
from tidings.clock import FakeClock
from tidings.config import AuthSettings, NotificationSettings, Settings, StorageSettings

MANAGEMENT_STORES = ("sqlite-file", "redis", "postgres")
"""Zaqar's Redis management store answered 500 to pool changes: each store must work."""
ADMIN = {"X-Roles": "admin"}
MEMBER = {"X-Roles": "member"}


@pytest.fixture(params=MANAGEMENT_STORES)
async def api(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a server on each management store, as an admin of project-a."""
    settings = Settings(
        storage=StorageSettings(url=storage_url(request, request.param), catalog_refresh=60),
        auth=AuthSettings(trust_role_headers=True),
        notification=NotificationSettings(workers=0),
    )
    async with in_process_client(settings, clock) as client:
        client.headers.update(ADMIN)
        yield client


async def put_pool(api: httpx.AsyncClient, name: str, **document: Any) -> httpx.Response:
    return await api.put(f"/v2/pools/{name}", json={"weight": 1, **document})


async def add_pools(api: httpx.AsyncClient, tmp_path: Path, *names: str) -> None:
    for name in names:
        response = await put_pool(api, name, uri=sqlite_pool(tmp_path, name))
        assert response.status_code == 201, response.text


# Policy


async def test_pools_are_for_admins(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/v2/pools", headers=MEMBER), 403, "Not authorized")
    put = await api.put("/v2/pools/p", json={"uri": "sqlite:///x.db", "weight": 1}, headers=MEMBER)
    assert_error(put, 403, "Not authorized")
    assert_error(await api.delete("/v2/flavors/f", headers=MEMBER), 403, "Not authorized")


async def test_anyone_may_read_the_flavors(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/flavors", headers=MEMBER)

    assert response.status_code == 200
    assert response.json() == {"flavors": [], "links": []}


@pytest.mark.parametrize("limit", ["0", "21", "many"])
async def test_a_flavor_page_size_is_checked(api: httpx.AsyncClient, limit: str) -> None:
    response = await api.get("/v2/flavors", params={"limit": limit})

    assert_error(response, 400)
    assert "limit" in response.json()["description"].lower()


# Pools


async def test_a_pool_is_registered_and_shown(api: httpx.AsyncClient, tmp_path: Path) -> None:
    uri = sqlite_pool(tmp_path, "one")

    response = await put_pool(api, "one", uri=uri, options={"note": "fast disk"})

    assert response.status_code == 201
    assert response.headers["location"] == "/v2/pools/one"
    shown = await api.get("/v2/pools/one")
    assert shown.json() == {
        "name": "one",
        "uri": uri,
        "weight": 1,
        "flavor": None,
        "href": "/v2/pools/one",
    }
    detailed = await api.get("/v2/pools/one", params={"detailed": "true"})
    assert detailed.json()["options"] == {"note": "fast disk"}


async def test_pools_are_listed_by_pages(api: httpx.AsyncClient, tmp_path: Path) -> None:
    await add_pools(api, tmp_path, "c", "a", "b")

    first = (await api.get("/v2/pools", params={"limit": 2})).json()
    assert [pool["name"] for pool in first["pools"]] == ["a", "b"]
    assert first["pools"][0]["href"] == "/v2/pools/a"
    [link] = first["links"]
    second = (await api.get(link["href"])).json()
    assert [pool["name"] for pool in second["pools"]] == ["c"]
    assert_error(await api.get("/v2/pools", params={"limit": 21}), 400, "Invalid API request")


async def test_a_pool_is_patched(api: httpx.AsyncClient, tmp_path: Path) -> None:
    await add_pools(api, tmp_path, "one")

    response = await api.patch("/v2/pools/one", json={"weight": 7})

    assert response.status_code == 200
    assert response.json()["weight"] == 7
    assert (await api.get("/v2/pools/one")).json()["weight"] == 7


async def test_a_patch_must_change_something(api: httpx.AsyncClient, tmp_path: Path) -> None:
    await add_pools(api, tmp_path, "one")

    response = await api.patch("/v2/pools/one", json={})

    assert_error(response, 400, "Invalid request body")
    assert "needs to be specified" in response.json()["description"]


async def test_an_unknown_pool_is_not_found(api: httpx.AsyncClient) -> None:
    assert_error(await api.get("/v2/pools/nope"), 404, "Not found")
    assert_error(await api.patch("/v2/pools/nope", json={"weight": 1}), 404, "Not found")
    assert (await api.delete("/v2/pools/nope")).status_code == 204


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({"weight": 1}, "'uri' is a required property"),
        ({"uri": "sqlite:///x.db"}, "'weight' is a required property"),
        ({"uri": "sqlite:///x.db", "weight": -1}, '"weight" must be an integer'),
        ({"uri": "sqlite:///x.db", "weight": 2**32}, '"weight" must be an integer'),
        ({"uri": "sqlite:///x.db", "weight": True}, '"weight" must be an integer'),
        ({"uri": 5, "weight": 1}, '"uri" must be a storage URL'),
        ({"uri": "x" * 256, "weight": 1}, '"uri" must be a storage URL'),
        ({"uri": "sqlite:///x.db", "weight": 1, "options": []}, '"options" must be an object'),
        ({"uri": "sqlite:///x.db", "weight": 1, "group": "g"}, "'group' unexpected"),
    ],
)
async def test_a_pool_document_is_checked(
    api: httpx.AsyncClient, document: dict[str, Any], complaint: str
) -> None:
    response = await api.put("/v2/pools/p", json=document)

    assert_error(response, 400, "Invalid request body")
    assert complaint in response.json()["description"]


@pytest.mark.parametrize(
    "uri",
    [
        f"redis://127.0.0.1:{free_port()}/0",
        "sqlite:///:memory:",
        "nosuch://host/db",
        "postgresql://127.0.0.1/tidings?pool_size=0",
        "redis://127.0.0.1/0?pool_size=0",
    ],
)
async def test_a_pool_whose_storage_does_not_answer_is_refused(
    api: httpx.AsyncClient, uri: str
) -> None:
    response = await put_pool(api, "p", uri=uri)

    assert_error(response, 400, "Invalid API request")
    assert response.json()["description"].startswith(f"cannot connect to {uri}")
    assert_error(await api.get("/v2/pools/p"), 404, "Not found")


async def test_a_pool_name_is_checked(api: httpx.AsyncClient) -> None:
    response = await put_pool(api, "no%20spaces", uri="sqlite:///x.db")

    assert_error(response, 400, "Invalid API request")


@pytest.mark.parametrize("kind", ["pools", "flavors"])
@pytest.mark.parametrize("name", ["no%20spaces", "a" * 65])
async def test_a_name_no_pool_or_flavor_can_have_is_not_found(
    api: httpx.AsyncClient, kind: str, name: str
) -> None:
    assert_error(await api.get(f"/v2/{kind}/{name}"), 404, "Not found")
    patch = {"pools": {"weight": 1}, "flavors": {"pool_list": ["a"]}}[kind]
    assert_error(await api.patch(f"/v2/{kind}/{name}", json=patch), 404, "Not found")
    assert (await api.delete(f"/v2/{kind}/{name}")).status_code == 204


async def test_a_pool_of_a_flavor_no_flavor_can_have_is_refused(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    response = await put_pool(api, "p", uri=sqlite_pool(tmp_path, "p"), flavor="f\u0000")

    assert_error(response, 400, "Invalid API request")
    assert response.json()["description"] == "Flavor f\u0000 does not exist"


@pytest.mark.parametrize("kind", ["pools", "flavors"])
async def test_a_nul_in_a_name_or_marker_is_refused(api: httpx.AsyncClient, kind: str) -> None:
    # PostgreSQL cannot hold a NUL: looking one up was a 500 there
    for method, path, params in [
        ("GET", f"/v2/{kind}/a%00b", None),
        ("PATCH", f"/v2/{kind}/a%00b", None),
        ("DELETE", f"/v2/{kind}/a%00b", None),
        ("GET", f"/v2/{kind}", {"marker": "a\u0000"}),
    ]:
        response = await api.request(method, path, params=params, json={})

        assert_error(response, 400, "Invalid parameter", "may not hold a NUL character.")


# Flavors


async def test_a_flavor_groups_pools_and_shows_what_they_all_can_do(
    api: httpx.AsyncClient, tmp_path: Path, redis_url: str
) -> None:
    # Given a SQLite pool and a Redis pool
    await add_pools(api, tmp_path, "disk")
    assert (await put_pool(api, "memory", uri=redis_url)).status_code == 201

    # When a flavor takes them both
    response = await api.put("/v2/flavors/mixed", json={"pool_list": ["disk", "memory"]})

    # Then it shows its pools and their common capabilities
    assert response.status_code == 201
    assert response.headers["location"] == "/v2/flavors/mixed"
    assert (await api.get("/v2/flavors/mixed")).json() == {
        "name": "mixed",
        "pool_list": ["disk", "memory"],
        "capabilities": ["FIFO", "CLAIMS", "AOD"],
        "href": "/v2/flavors/mixed",
    }
    assert (await api.get("/v2/pools/disk")).json()["flavor"] == "mixed"
    listed = (await api.get("/v2/flavors", params={"detailed": "true"})).json()
    assert listed["flavors"][0]["capabilities"] == ["FIFO", "CLAIMS", "AOD"]


async def test_a_flavor_is_patched_and_deleted(api: httpx.AsyncClient, tmp_path: Path) -> None:
    await add_pools(api, tmp_path, "a", "b")
    await api.put("/v2/flavors/gold", json={"pool_list": ["a"]})

    patched = await api.patch("/v2/flavors/gold", json={"pool_list": ["b"]})

    assert patched.status_code == 200
    assert patched.json()["pool_list"] == ["b"]
    assert (await api.get("/v2/pools/a")).json()["flavor"] is None
    assert (await api.delete("/v2/flavors/gold")).status_code == 204
    assert (await api.get("/v2/pools/b")).json()["flavor"] is None
    assert_error(await api.get("/v2/flavors/gold"), 404, "Not found")


@pytest.mark.parametrize(
    ("document", "status", "complaint"),
    [
        ({}, 400, "'pool_list' is a required property"),
        ({"pool_list": []}, 400, "at least one pool"),
        ({"pool_list": "a"}, 400, "must be a list of pool names"),
        ({"pool_list": ["a", "ghost"]}, 400, "Pool ghost does not exist"),
        ({"pool_list": ["a"], "capabilities": []}, 400, '"capabilities" must be an object'),
    ],
)
async def test_a_flavor_document_is_checked(
    api: httpx.AsyncClient, tmp_path: Path, document: dict[str, Any], status: int, complaint: str
) -> None:
    await add_pools(api, tmp_path, "a")

    response = await api.put("/v2/flavors/gold", json=document)

    assert response.status_code == status
    assert complaint in response.json()["description"]


async def test_a_pool_used_by_a_flavor_is_not_deleted(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    await add_pools(api, tmp_path, "a")
    await api.put("/v2/flavors/gold", json={"pool_list": ["a"]})

    response = await api.delete("/v2/pools/a")

    assert_error(response, 403, "Unable to delete")
    assert response.json()["description"] == (
        "This pool is used by flavors gold; It cannot be deleted."
    )


# Queues


async def test_a_queue_of_a_flavor_goes_to_its_pools(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    await add_pools(api, tmp_path, "plain", "gold-1")
    await api.put("/v2/flavors/gold", json={"pool_list": ["gold-1"]})

    created = await api.put("/v2/queues/q", json={"_flavor": "gold"})

    assert created.status_code == 201
    assert (await api.get("/v2/queues/q")).json()["_flavor"] == "gold"
    unknown = await api.put("/v2/queues/r", json={"_flavor": "bronze"})
    assert_error(unknown, 400, "Invalid API request")
    assert unknown.json()["description"] == "Flavor bronze does not exist"


async def test_a_pool_holding_a_queue_is_not_deleted(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    # Given a pool holding a queue
    await add_pools(api, tmp_path, "a")
    assert (await api.put("/v2/queues/q")).status_code == 201

    # Then it cannot be deleted
    response = await api.delete("/v2/pools/a")
    assert_error(response, 409, "Resource conflict")
    assert "still holds queues" in response.json()["description"]

    # Until the queue is gone
    assert (await api.delete("/v2/queues/q")).status_code == 204
    assert (await api.delete("/v2/pools/a")).status_code == 204
    assert_error(await api.get("/v2/pools/a"), 404, "Not found")


# Health


async def test_health_reports_the_catalog_and_each_pool(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    await add_pools(api, tmp_path, "a")

    response = await api.get("/v2/health")

    assert response.status_code == 200
    assert response.json() == {
        "catalog_reachable": True,
        "storage_reachable": True,
        "a": {"storage_reachable": True},
    }
