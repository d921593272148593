"""One case per validation rule of headers, routes, names and query parameters: the status,
the title and the description of the JSON error (bodies are in test_validation_bodies.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.support import assert_error, claim, post_messages, send_without
from tests.servers.backends import VALIDATION_BACKENDS

MISSING_HEADER = "Missing header value"
BAD_HEADER = "Invalid header value"
BAD_NAME = "Invalid queue identification"
BAD_PARAM = "Invalid parameter"
BAD_REQUEST = "Invalid API request"
LIMIT_RANGE = "Limit must be at least 1 and no greater than 20."
NOT_INTEGER = "parameter is invalid. The value must be an integer."
NOT_BOOLEAN = "parameter is invalid. The value must be a boolean."
NAME_RULE = (
    "Queue names may only contain ASCII letters, digits, underscores, dashes and periods,"
    " and may not be more than 64 characters long."
)


pytestmark = pytest.mark.parametrize("api", VALIDATION_BACKENDS, indirect=True)


def case(name: str, method: str, url: str, *expected: Any, **kwargs: Any) -> Any:
    """A request (``kwargs`` go to httpx) and its expected status, title and description."""
    return pytest.param(method, url, kwargs, *expected, id=name)


@pytest.fixture(autouse=True)
async def fizbit(api: httpx.AsyncClient) -> None:
    """Every case runs beside an existing queue ``fizbit`` holding one message."""
    await post_messages(api, "fizbit")


# Caller headers


async def test_missing_client_id(api: httpx.AsyncClient) -> None:
    response = await send_without(api, "GET", "/v2/queues", "Client-ID")

    assert_error(response, 400, MISSING_HEADER, 'The "Client-ID" header is required.')


@pytest.mark.parametrize(
    "client_id", ["not-a-uuid", "", "1234567890", "3381af92-2b9e-11e3-b191-71861300734"]
)
async def test_invalid_client_id(api: httpx.AsyncClient, client_id: str) -> None:
    response = await api.get("/v2/queues", headers={"Client-ID": client_id})

    assert_error(response, 400, BAD_HEADER, "Malformed hexadecimal UUID")


async def test_missing_project_id(api: httpx.AsyncClient) -> None:
    response = await send_without(api, "GET", "/v2/queues", "X-Project-ID")

    assert_error(response, 400, MISSING_HEADER, "X-Project-ID was missing")


async def test_empty_project_id(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/queues", headers={"X-Project-ID": ""})

    assert_error(response, 400, BAD_HEADER, "Empty project header not allowed.")


async def test_too_long_project_id(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/queues", headers={"X-Project-ID": "p" * 257})

    assert_error(response, 400, BAD_HEADER, "may not be more than 256 characters")


async def test_a_nul_in_the_project_id_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.put("/v2/queues/fizbit", headers={"X-Project-ID": "a\x00b"})

    assert_error(response, 400, BAD_HEADER, "X-Project-ID may not hold a NUL character.")


async def test_spaces_around_the_caller_headers_are_not_part_of_them(
    api: httpx.AsyncClient,
) -> None:
    project = api.headers["X-Project-ID"]
    await api.put("/v2/queues/fizbit")

    spaced = {"X-Project-ID": f" {project}\t ", "Client-ID": f"{api.headers['Client-ID']}  "}
    response = await api.get("/v2/queues", headers=spaced)
    blank = await api.get("/v2/queues", headers={"X-Project-ID": " \t "})

    assert [queue["name"] for queue in response.json()["queues"]] == ["fizbit"]
    assert_error(blank, 400, BAD_HEADER, "Empty project header not allowed.")


async def test_longest_project_id_is_accepted(api: httpx.AsyncClient) -> None:
    response = await api.put("/v2/queues/fizbit", headers={"X-Project-ID": "p" * 256})

    assert response.status_code == 201


# Queue names

BAD_NAMES = ["bad name", "bad!", "caf%C3%A9", "a*b", "x" * 65]
NAMED_ROUTES = [
    ("PUT", "/v2/queues/{}"),
    ("GET", "/v2/queues/{}"),
    ("PATCH", "/v2/queues/{}"),
    ("DELETE", "/v2/queues/{}"),
    ("GET", "/v2/queues/{}/stats"),
    ("POST", "/v2/queues/{}/purge"),
    ("POST", "/v2/queues/{}/messages"),
    ("GET", "/v2/queues/{}/messages"),
    ("GET", "/v2/queues/{}/messages?ids=a"),
    ("DELETE", "/v2/queues/{}/messages?ids=a"),
    ("DELETE", "/v2/queues/{}/messages?pop=1"),
    ("GET", "/v2/queues/{}/messages/m"),
    ("DELETE", "/v2/queues/{}/messages/m"),
    ("POST", "/v2/queues/{}/claims"),
    ("GET", "/v2/queues/{}/claims/c"),
    ("PATCH", "/v2/queues/{}/claims/c"),
    ("DELETE", "/v2/queues/{}/claims/c"),
]
VALID_BODIES = {
    ("PATCH", "/v2/queues/{}"): [{"op": "add", "path": "/metadata/a", "value": 1}],
    ("POST", "/v2/queues/{}/messages"): {"messages": [{"body": 1}]},
}


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize(("method", "route"), NAMED_ROUTES)
async def test_bad_queue_name(api: httpx.AsyncClient, method: str, route: str, name: str) -> None:
    body = VALID_BODIES.get((method, route))
    headers = {"Content-Type": "application/openstack-messaging-v2.0-json-patch"}
    response = await api.request(
        method,
        route.format(name),
        json=body,
        headers=headers if method == "PATCH" and body else None,
    )

    assert_error(response, 400, BAD_NAME, NAME_RULE)


async def test_longest_queue_name_is_accepted(api: httpx.AsyncClient) -> None:
    assert (await api.put(f"/v2/queues/{'x' * 64}")).status_code == 201


# Query parameters


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "title", "text"),
    [
        case("queues-limit-0", "GET", "/v2/queues?limit=0", 400, BAD_REQUEST, LIMIT_RANGE),
        case("queues-limit-21", "GET", "/v2/queues?limit=21", 400, BAD_REQUEST, LIMIT_RANGE),
        case("queues-limit-neg", "GET", "/v2/queues?limit=-1", 400, BAD_REQUEST, LIMIT_RANGE),
        case("queues-limit-word", "GET", "/v2/queues?limit=ten", 400, BAD_PARAM, NOT_INTEGER),
        case("queues-limit-float", "GET", "/v2/queues?limit=1.5", 400, BAD_PARAM, NOT_INTEGER),
        case("queues-limit-empty", "GET", "/v2/queues?limit=", 400, BAD_PARAM, NOT_INTEGER),
        case(
            "queues-limit-huge",
            "GET",
            "/v2/queues?limit=" + "9" * 40,
            400,
            BAD_PARAM,
            NOT_INTEGER,
        ),
        case("detailed", "GET", "/v2/queues?detailed=maybe", 400, BAD_PARAM, NOT_BOOLEAN),
        case("with_count", "GET", "/v2/queues?with_count=2", 400, BAD_PARAM, NOT_BOOLEAN),
        case(
            "messages-limit-0",
            "GET",
            "/v2/queues/fizbit/messages?limit=0",
            400,
            BAD_REQUEST,
            LIMIT_RANGE,
        ),
        case(
            "messages-limit-21",
            "GET",
            "/v2/queues/fizbit/messages?limit=21",
            400,
            BAD_REQUEST,
            LIMIT_RANGE,
        ),
        case(
            "messages-limit-word",
            "GET",
            "/v2/queues/fizbit/messages?limit=x",
            400,
            BAD_PARAM,
            NOT_INTEGER,
        ),
        case("echo", "GET", "/v2/queues/fizbit/messages?echo=yess", 400, BAD_PARAM, NOT_BOOLEAN),
        case(
            "include_claimed",
            "GET",
            "/v2/queues/fizbit/messages?include_claimed=2",
            400,
            BAD_PARAM,
            NOT_BOOLEAN,
        ),
        case(
            "include_delayed",
            "GET",
            "/v2/queues/fizbit/messages?include_delayed=sure",
            400,
            BAD_PARAM,
            NOT_BOOLEAN,
        ),
        case(
            "marker-word",
            "GET",
            "/v2/queues/fizbit/messages?marker=abc",
            400,
            BAD_PARAM,
            "marker",
        ),
        case(
            "marker-negative",
            "GET",
            "/v2/queues/fizbit/messages?marker=-1",
            400,
            BAD_PARAM,
            "marker",
        ),
        case(
            "marker-unicode-digit",
            "GET",
            "/v2/queues/fizbit/messages?marker=%C2%B2",
            400,
            BAD_PARAM,
            "marker",
        ),
        case(
            "marker-huge",
            "GET",
            "/v2/queues/fizbit/messages?marker=" + "9" * 40,
            400,
            BAD_PARAM,
            "marker",
        ),
        case(
            "claims-limit-0",
            "POST",
            "/v2/queues/fizbit/claims?limit=0",
            400,
            BAD_REQUEST,
            LIMIT_RANGE,
        ),
        case(
            "claims-limit-21",
            "POST",
            "/v2/queues/fizbit/claims?limit=21",
            400,
            BAD_REQUEST,
            LIMIT_RANGE,
        ),
        case(
            "claims-limit-word",
            "POST",
            "/v2/queues/fizbit/claims?limit=all",
            400,
            BAD_PARAM,
            NOT_INTEGER,
        ),
        case(
            "pop-0",
            "DELETE",
            "/v2/queues/fizbit/messages?pop=0",
            400,
            BAD_REQUEST,
            "Pop value must be at least 1 and may not be greater than 20.",
        ),
        case(
            "pop-21",
            "DELETE",
            "/v2/queues/fizbit/messages?pop=21",
            400,
            BAD_REQUEST,
            "Pop value must be at least 1 and may not be greater than 20.",
        ),
        case(
            "pop-negative",
            "DELETE",
            "/v2/queues/fizbit/messages?pop=-3",
            400,
            BAD_REQUEST,
            "Pop value must be at least 1",
        ),
        case("pop-word", "DELETE", "/v2/queues/fizbit/messages?pop=x", 400, BAD_PARAM, NOT_INTEGER),
        case(
            "pop-and-ids",
            "DELETE",
            "/v2/queues/fizbit/messages?pop=1&ids=a",
            400,
            BAD_PARAM,
            'Only one of "ids" and "pop" may be given.',
        ),
        case(
            "neither-pop-nor-ids",
            "DELETE",
            "/v2/queues/fizbit/messages",
            400,
            BAD_PARAM,
            'One of "ids" or "pop" is required.',
        ),
        case(
            "delete-empty-ids",
            "DELETE",
            "/v2/queues/fizbit/messages?ids=",
            400,
            BAD_REQUEST,
            "The number of message ids must be at least 1 and no greater than 20.",
        ),
        case(
            "delete-too-many-ids",
            "DELETE",
            "/v2/queues/fizbit/messages?ids=" + ",".join(f"m{i}" for i in range(21)),
            400,
            BAD_REQUEST,
            "The number of message ids must be at least 1 and no greater than 20.",
        ),
        case(
            "get-too-many-ids",
            "GET",
            "/v2/queues/fizbit/messages?ids=" + ",".join(f"m{i}" for i in range(21)),
            400,
            BAD_REQUEST,
            "The number of message ids must be at least 1 and no greater than 20.",
        ),
        case(
            "get-empty-ids",
            "GET",
            "/v2/queues/fizbit/messages?ids=,",
            400,
            BAD_REQUEST,
            "The number of message ids must be at least 1",
        ),
    ],
)
async def test_bad_query_parameter(
    api: httpx.AsyncClient,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    status: int,
    title: str,
    text: str,
) -> None:
    response = await api.request(method, url, **kwargs)

    assert_error(response, status, title, text)


NUL_PARAMS = [
    ("GET", "/v2/queues/fizbit%00", "queue_name"),
    ("GET", "/v2/queues?marker=a%00", "marker"),
    ("GET", "/v2/topics?marker=a%00", "marker"),
    ("GET", "/v2/queues/fizbit/messages?marker=1%00", "marker"),
    ("GET", "/v2/queues/fizbit/messages/m%00", "message_id"),
    ("DELETE", "/v2/queues/fizbit/messages/m%00", "message_id"),
    ("DELETE", "/v2/queues/fizbit/messages/m?claim_id=c%00", "claim_id"),
    ("GET", "/v2/queues/fizbit/messages?ids=a,b%00", "ids"),
    ("DELETE", "/v2/queues/fizbit/messages?ids=a%00", "ids"),
    ("DELETE", "/v2/queues/fizbit/messages?ids=a&claim_ids=c%00", "claim_ids"),
    ("GET", "/v2/queues/fizbit/claims/c%00", "claim_id"),
    ("PATCH", "/v2/queues/fizbit/claims/c%00", "claim_id"),
    ("DELETE", "/v2/queues/fizbit/claims/c%00", "claim_id"),
    ("GET", "/v2/queues/fizbit/subscriptions?marker=s%00", "marker"),
    ("GET", "/v2/queues/fizbit/subscriptions/s%00", "subscription_id"),
    ("PATCH", "/v2/queues/fizbit/subscriptions/s%00", "subscription_id"),
    ("DELETE", "/v2/queues/fizbit/subscriptions/s%00", "subscription_id"),
    ("PUT", "/v2/queues/fizbit/subscriptions/s%00/confirm", "subscription_id"),
]


@pytest.mark.parametrize(("method", "url", "name"), NUL_PARAMS)
async def test_a_nul_in_a_parameter_is_refused(
    api: httpx.AsyncClient, method: str, url: str, name: str
) -> None:
    # PostgreSQL cannot hold a NUL (it refused these, the other stores answered 404 or a
    # page): one answer on every store
    response = await api.request(method, url, json={"ttl": 60})

    assert_error(response, 400, BAD_PARAM, f'The "{name}" parameter may not hold a NUL character.')


async def test_bad_pop_leaves_the_messages(api: httpx.AsyncClient) -> None:
    await api.delete("/v2/queues/fizbit/messages", params={"pop": 0})

    assert (await api.get("/v2/queues/fizbit/stats")).json()["messages"]["total"] == 1


async def test_bad_marker_on_a_claimed_listing(api: httpx.AsyncClient) -> None:
    await claim(api, "fizbit")

    response = await api.get(
        "/v2/queues/fizbit/messages", params={"include_claimed": "true", "marker": "x"}
    )

    assert_error(response, 400, BAD_PARAM, "marker")


# Media types and routes


@pytest.mark.parametrize(
    "url", ["/", "/v2/", "/v2/ping", "/v2/queues", "/v2/queues/fizbit/messages"]
)
async def test_html_only_accept_is_406(api: httpx.AsyncClient, url: str) -> None:
    response = await api.get(url, headers={"Accept": "text/html"})

    assert_error(response, 406, "Media type not acceptable", "application/json")


@pytest.mark.parametrize(
    "accept", ["application/json", "*/*", "application/*", "text/html, application/json;q=0.5"]
)
async def test_json_compatible_accept_is_served(api: httpx.AsyncClient, accept: str) -> None:
    response = await api.get("/v2/queues", headers={"Accept": accept})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/v1/queues",
        "/v2",
        "/v2/queues/",
        "/v2/queues/fizbit/messages/",
        "/v2/topics/",
        "/v2/queues/fizbit/nothing",
        "/v2/queues/a/b/c/d/e",
    ],
)
async def test_unknown_route_is_404_json(api: httpx.AsyncClient, url: str) -> None:
    response = await api.get(url)

    assert_error(response, 404, "Not found")


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("POST", "/v2/queues", "GET, HEAD"),
        ("POST", "/v2/queues/fizbit", "DELETE, GET, HEAD, PATCH, PUT"),
        ("PUT", "/v2/queues/fizbit/messages", "DELETE, GET, HEAD, POST"),
        ("POST", "/v2/queues/fizbit/messages/m", "DELETE, GET, HEAD"),
        ("GET", "/v2/queues/fizbit/claims", "POST"),
        ("PUT", "/v2/queues/fizbit/claims/c", "DELETE, GET, HEAD, PATCH"),
        ("DELETE", "/v2/ping", "GET, HEAD"),
        ("GET", "/v2/queues/fizbit/purge", "POST"),
        ("TRACE", "/v2/queues/fizbit/stats", "GET, HEAD"),
    ],
)
async def test_wrong_method_is_405_json_naming_the_allowed_ones(
    api: httpx.AsyncClient, method: str, url: str, allowed: str
) -> None:
    response = await api.request(method, url)

    assert_error(response, 405, "Method not allowed")
    assert response.headers["allow"] == allowed
