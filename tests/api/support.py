"""Helpers shared by the HTTP API tests: posting, claiming and checking error bodies."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import caller_headers

JSON_PATCH = "application/openstack-messaging-v2.0-json-patch"
PROJECT_B = "project-b"


def other_project(project: str = PROJECT_B) -> dict[str, str]:
    """Headers of a caller in another project."""
    return caller_headers(project)


def another_client() -> dict[str, str]:
    """Headers of another client in the default project (so `echo` does not hide messages)."""
    return caller_headers()


async def post_messages(
    api: httpx.AsyncClient,
    queue: str,
    *messages: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> list[str]:
    """Post ``messages`` (default: one) and return their ids."""
    batch = list(messages) or [{"body": {"event": "created"}}]
    response = await api.post(
        f"/v2/queues/{queue}/messages", json={"messages": batch}, headers=headers
    )
    assert response.status_code == 201, response.text
    return [href.rsplit("/", 1)[1] for href in response.json()["resources"]]


async def post_bodies(
    api: httpx.AsyncClient, queue: str, *bodies: Any, ttl: int = 300
) -> list[str]:
    return await post_messages(api, queue, *({"body": body, "ttl": ttl} for body in bodies))


async def claim(
    api: httpx.AsyncClient,
    queue: str,
    ttl: int = 60,
    grace: int = 60,
    limit: int | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Claim messages; return the claim id and the claimed messages."""
    params = {} if limit is None else {"limit": limit}
    response = await api.post(
        f"/v2/queues/{queue}/claims",
        json={"ttl": ttl, "grace": grace},
        params=params,
        headers=headers,
    )
    assert response.status_code == 201, response.text
    claim_id = response.headers["location"].rsplit("/", 1)[1]
    return claim_id, response.json()["messages"]


async def listed_bodies(api: httpx.AsyncClient, queue: str, **params: Any) -> list[Any]:
    """Bodies of the messages a listing shows, own messages included."""
    query = {"echo": "true", "limit": 20, **params}
    response = await api.get(f"/v2/queues/{queue}/messages", params=query)
    assert response.status_code == 200, response.text
    return [message["body"] for message in response.json()["messages"]]


def assert_error(
    response: httpx.Response, status: int, title: str | None = None, text: str = ""
) -> None:
    """An error response: the status, a JSON {title, description} body, the text in it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"title", "description"}
    if title is not None:
        assert body["title"] == title
    assert text in body["description"]


async def send_without(
    api: httpx.AsyncClient, method: str, url: str, *dropped: str, **kwargs: Any
) -> httpx.Response:
    """Send a request with some of the client's default headers left out."""
    request = api.build_request(method, url, **kwargs)
    for name in dropped:
        del request.headers[name]
    return await api.send(request)


def operations(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Each operation of an OpenAPI document by its id: (method, path, description)."""
    return {
        operation["operationId"]: (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
