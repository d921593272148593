"""Version discovery, the JSON-home document, ping, health and the OpenAPI document."""

from __future__ import annotations

import re

import httpx

from tests.api.support import assert_error, send_without
from tidings.api import OPERATIONS

HOME_RELS = {
    "rel/queues",
    "rel/queue",
    "rel/queue_stats",
    "rel/queue_purge",
    "rel/messages",
    "rel/post_messages",
    "rel/messages_delete",
    "rel/message_get",
    "rel/message_delete",
    "rel/post_claim",
    "rel/claim",
    "rel/ping",
}


async def test_root_lists_the_v2_version_to_anyone(api: httpx.AsyncClient) -> None:
    response = await send_without(api, "GET", "/", "Client-ID", "X-Project-ID")

    assert response.status_code == 300
    [version] = response.json()["versions"]
    assert version["id"] == "2"
    assert version["status"] == "CURRENT"
    assert version["links"] == [{"href": "/v2/", "rel": "self"}]
    assert version["media-types"][0]["type"] == "application/vnd.openstack.messaging-v2+json"


async def test_home_document_is_json_home(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json-home")
    assert response.headers["cache-control"] == "max-age=86400"
    resources = response.json()["resources"]
    assert set(resources) >= HOME_RELS
    queues = resources["rel/queues"]
    assert queues["href-template"] == "/v2/queues{?marker,limit,detailed}"
    assert queues["hints"]["allow"] == ["GET"]
    assert "application/json" in queues["hints"]["formats"]


async def test_home_document_needs_the_caller_headers(api: httpx.AsyncClient) -> None:
    response = await send_without(api, "GET", "/v2/", "Client-ID")

    assert_error(response, 400, "Missing header value", "Client-ID")


async def test_ping_answers_204_with_an_empty_body(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/ping")

    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["x-openstack-request-id"].startswith("req-")


async def test_ping_answers_head(api: httpx.AsyncClient) -> None:
    response = await api.head("/v2/ping")

    assert response.status_code == 204


async def test_ping_needs_the_caller_headers(api: httpx.AsyncClient) -> None:
    response = await send_without(api, "GET", "/v2/ping", "X-Project-ID")

    assert_error(response, 400, "Missing header value", "X-Project-ID")


async def test_health_is_forbidden_to_non_admins(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/health")

    assert_error(response, 403, "Not authorized")


async def test_health_is_forbidden_to_other_roles(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/health", headers={"X-Roles": "member,reader"})

    assert_error(response, 403, "Not authorized")


async def test_health_reports_reachable_storage_to_admins(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/health", headers={"X-Roles": "member,admin"})

    assert response.status_code == 200
    assert response.json()["storage_reachable"] is True


async def test_openapi_document_is_openapi_3_1(api: httpx.AsyncClient) -> None:
    response = await api.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"]
    assert document["components"]["responses"]["Error"]


async def test_openapi_document_lists_every_route(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()

    described = {
        (path, method.upper()) for path, methods in document["paths"].items() for method in methods
    }
    routes = {(operation.path, operation.method) for operation in OPERATIONS.values()}
    assert described == routes


async def test_openapi_operations_have_ids_and_responses(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()

    for methods in document["paths"].values():
        for operation in methods.values():
            assert operation["operationId"]
            assert operation["responses"]


async def test_openapi_says_no_parameter_holds_a_nul(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()

    texts = [
        param["schema"].get("items", param["schema"])
        for methods in document["paths"].values()
        for operation in methods.values()
        for param in operation.get("parameters", [])
        if "schema" in param and param["schema"]["type"] in ("string", "array")
    ]
    assert len(texts) > 20
    for schema in texts:
        assert re.fullmatch(schema["pattern"], "a")
        assert not re.search(schema["pattern"], "a\x00")
