"""A deployment's own limits, smaller than Zaqar's defaults: a request that names no page
size gets a page of the deployment's size, and what ``/openapi.json`` tells a client about a
parameter's bounds is what the server does (a value at a stated bound is taken, one past it
refused)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jsonschema
import pytest

from tests.api.support import another_client, assert_error, claim, post_messages
from tests.conftest import in_process_client
from tidings.clock import FakeClock
from tidings.config import AuthSettings, Limits, NotificationSettings, Settings, StorageSettings

LIMITS = Limits(
    max_queues_per_page=7,
    max_messages_per_page=6,
    max_messages_per_claim_or_pop=5,
    max_subscriptions_per_page=4,
    max_pools_per_page=3,
    max_flavors_per_page=2,
    max_wait_seconds=1,
)
"""Each bound its own value, so that a parameter stating another's shows."""
NAME = "bounded"
ADMIN = {"X-Roles": "admin"}
LISTS = ("ids", "claim_ids")


def stated_by_each_kind() -> dict[tuple[str, str, str], tuple[int, int]]:
    """The bounds each parameter must state under LIMITS, for queues and topics alike."""
    stated: dict[tuple[str, str, str], tuple[int, int]] = {
        ("GET", "/v2/pools", "limit"): (1, 3),
        ("GET", "/v2/flavors", "limit"): (1, 2),
    }
    for kind, name in (("queues", "queue_name"), ("topics", "topic_name")):
        one = f"/v2/{kind}/{{{name}}}"
        stated |= {
            ("GET", f"/v2/{kind}", "limit"): (1, 7),
            ("GET", f"{one}/messages", "limit"): (1, 6),
            ("GET", f"{one}/messages", "wait"): (0, 1),
            ("GET", f"{one}/messages", "ids"): (1, 6),
            ("DELETE", f"{one}/messages", "ids"): (1, 6),
            ("DELETE", f"{one}/messages", "claim_ids"): (1, 6),
            ("DELETE", f"{one}/messages", "pop"): (1, 5),
            ("GET", f"{one}/subscriptions", "limit"): (1, 4),
        }
    stated[("POST", "/v2/queues/{queue_name}/claims", "limit")] = (1, 5)
    stated[("POST", "/v2/queues/{queue_name}/claims", "wait")] = (0, 1)
    return stated


STATED = stated_by_each_kind()


@pytest.fixture
async def api(tmp_path: Path, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """SQLite only: the bounds are the service's, whatever the store."""
    settings = Settings(
        storage=StorageSettings(url=f"sqlite:///{tmp_path / 'tidings.db'}"),
        auth=AuthSettings(trust_role_headers=True),
        notification=NotificationSettings(workers=0),
        limits=LIMITS,
    )
    async with in_process_client(settings, clock) as client:
        yield client


def bounds_in(document: dict[str, object]) -> dict[tuple[str, str, str], tuple[int, int]]:
    found = {}
    paths = document["paths"]
    assert isinstance(paths, dict)
    for path, methods in paths.items():
        for method, operation in methods.items():
            for param in operation["parameters"]:
                schema = param.get("schema", {})
                for low, high in (("minimum", "maximum"), ("minItems", "maxItems")):
                    if high in schema:
                        found[(method.upper(), path, param["name"])] = (schema[low], schema[high])
    return found


async def test_the_document_states_the_deployment_s_bounds(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()

    assert bounds_in(document) == STATED


async def query_for(api: httpx.AsyncClient, path: str, name: str, count: int) -> dict[str, str]:
    """The query that gives parameter ``name`` the value (or number of items) ``count``; in a
    queue's or topic's path, on one holding a message more than a page may hold (posted by
    another client, so that a listing shows them and a ``wait`` ends at once)."""
    if "{" not in path:
        return {name: str(count)}
    messages = f"/v2/{path.split('/')[2]}/{NAME}/messages"
    ids = []
    for batch in ([{"body": n} for n in range(3)], [{"body": n} for n in range(4)]):
        posted = await api.post(messages, json={"messages": batch}, headers=another_client())
        assert posted.status_code == 201, posted.text
        ids += [href.rsplit("/", 1)[1] for href in posted.json()["resources"]]
    if name == "ids":
        return {"ids": ",".join(ids[:count])}
    if name == "claim_ids":  # a live claim's id (topics have no claims: one of a queue's)
        await post_messages(api, NAME)
        claim_id, _ = await claim(api, NAME, limit=1)
        return {"ids": ids[0], "claim_ids": ",".join([claim_id] * count)}
    return {name: str(count)}


@pytest.mark.parametrize(("method", "path", "name"), sorted(STATED))
async def test_past_a_stated_bound_is_refused_and_at_it_is_taken(
    api: httpx.AsyncClient, method: str, path: str, name: str
) -> None:
    # Given a parameter whose bounds the document states
    lowest, highest = STATED[(method, path, name)]
    url = path.format(queue_name=NAME, topic_name=NAME)

    # When a request gives it a value just past either bound (or an item more than the
    # highest: no items is no parameter), Then it is refused
    if name not in LISTS:
        query = await query_for(api, path, name, lowest - 1)
        assert_error(await api.request(method, url, params=query, headers=ADMIN), 400)
    query = await query_for(api, path, name, highest + 1)
    assert_error(await api.request(method, url, params=query, headers=ADMIN), 400)

    # And at the highest bound it is taken
    query = await query_for(api, path, name, highest)
    taken = await api.request(method, url, params=query, headers=ADMIN)
    assert taken.status_code < 400, taken.text


@pytest.mark.parametrize(
    ("method", "path", "key", "size"),
    [
        ("GET", "/v2/queues", "queues", 7),
        ("GET", f"/v2/queues/{NAME}/messages?echo=true", "messages", 6),
        ("POST", f"/v2/queues/{NAME}/claims", "messages", 5),
    ],
)
async def test_naming_no_limit_gives_the_deployment_s_page_not_zaqar_s(
    api: httpx.AsyncClient, method: str, path: str, key: str, size: int
) -> None:
    # Given more queues and messages than any page may hold, whose default page (10) is
    # larger than the deployment allows
    for number in range(8):
        assert (await api.put(f"/v2/queues/{NAME}-{number}")).status_code == 201
    await post_messages(api, NAME, *[{"body": n} for n in range(6)])
    await post_messages(api, NAME, *[{"body": n} for n in range(6)])

    # When a page is asked for without a limit
    response = await api.request(method, path, json={} if method == "POST" else None)

    # Then it holds as many as the deployment allows, no more
    assert response.status_code < 300, response.text
    assert len(response.json()[key]) == size


async def test_a_list_s_items_are_described_as_the_wire_carries_them(
    api: httpx.AsyncClient,
) -> None:
    # Given the schema the document gives a comma-separated list (a message listing's ids)
    document = (await api.get("/openapi.json")).json()
    (ids,) = [
        param
        for param in document["paths"]["/v2/queues/{queue_name}/messages"]["get"]["parameters"]
        if param.get("name") == "ids"
    ]
    schema = jsonschema.Draft202012Validator(ids["schema"])

    # Then an empty item, which the wire cannot tell from no item, is outside it, and so is
    # an item holding a comma, which the wire would split in two
    assert schema.is_valid(["a"])
    assert not schema.is_valid([""])
    assert not schema.is_valid(["a,b"])

    # And the server refuses an empty item as no item
    assert_error(await api.get(f"/v2/queues/{NAME}/messages", params={"ids": ""}), 400)
