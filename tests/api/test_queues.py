"""Queues: create, read, list, patch metadata, delete, stats and purge."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.api.support import JSON_PATCH, another_client, claim, post_bodies, post_messages
from tidings.clock import FakeClock

DEFAULTS = {
    "_max_messages_post_size": 262144,
    "_default_message_ttl": 3600,
    "_default_message_delay": 0,
    "_dead_letter_queue": None,
    "_dead_letter_queue_messages_ttl": None,
    "_max_claim_count": None,
    "_enable_encrypt_messages": False,
    "_default_wait_seconds": 0,
}


async def patch(api: httpx.AsyncClient, queue: str, *operations: dict[str, Any]) -> httpx.Response:
    return await api.patch(
        f"/v2/queues/{queue}",
        json=list(operations),
        headers={"Content-Type": JSON_PATCH},
    )


def next_query(body: dict[str, Any]) -> dict[str, list[str]]:
    [link] = body["links"]
    assert link["rel"] == "next"
    href = urlsplit(link["href"])
    assert href.path == "/v2/queues"
    return parse_qs(href.query)


# Create and read


async def test_put_creates_a_queue_with_201_and_location(api: httpx.AsyncClient) -> None:
    response = await api.put("/v2/queues/fizbit")

    assert response.status_code == 201
    assert response.headers["location"] == "/v2/queues/fizbit"
    assert response.content == b""


async def test_put_on_an_existing_queue_is_204_and_keeps_its_metadata(
    api: httpx.AsyncClient,
) -> None:
    # Given a queue with metadata
    await api.put("/v2/queues/fizbit", json={"color": "red"})

    # When it is put again with other metadata
    response = await api.put("/v2/queues/fizbit", json={"color": "blue"})

    # Then nothing changes
    assert response.status_code == 204
    assert response.headers["location"] == "/v2/queues/fizbit"
    assert (await api.get("/v2/queues/fizbit")).json()["color"] == "red"


async def test_queue_names_may_use_letters_digits_dash_underscore_and_dot(
    api: httpx.AsyncClient,
) -> None:
    name = "Az09_-." + "x" * 57

    response = await api.put(f"/v2/queues/{name}")

    assert response.status_code == 201


async def test_get_shows_metadata_with_reserved_defaults(api: httpx.AsyncClient) -> None:
    await api.put("/v2/queues/fizbit", json={"color": "red", "_default_message_ttl": 120})

    response = await api.get("/v2/queues/fizbit")

    assert response.status_code == 200
    assert response.json() == DEFAULTS | {"color": "red", "_default_message_ttl": 120}


async def test_get_of_a_missing_queue_shows_the_defaults(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/queues/nowhere")

    assert response.status_code == 200
    assert response.json() == DEFAULTS


# List


async def test_list_is_sorted_by_name_with_hrefs(api: httpx.AsyncClient) -> None:
    for name in ["c", "a", "b"]:
        await api.put(f"/v2/queues/{name}")

    body = (await api.get("/v2/queues")).json()

    assert body["queues"] == [{"name": n, "href": f"/v2/queues/{n}"} for n in "abc"]
    assert "count" not in body


async def test_list_pages_with_next_links(api: httpx.AsyncClient) -> None:
    # Given three queues
    for name in ["a", "b", "c"]:
        await api.put(f"/v2/queues/{name}")

    # When listing two at a time
    first = (await api.get("/v2/queues", params={"limit": 2})).json()
    query = next_query(first)
    second = (await api.get("/v2/queues", params=query)).json()
    third = (await api.get("/v2/queues", params=next_query(second))).json()

    # Then the next links carry the parameters and the marker, until the pages run out
    assert query == {"limit": ["2"], "marker": ["b"]}
    assert [q["name"] for q in first["queues"]] == ["a", "b"]
    assert [q["name"] for q in second["queues"]] == ["c"]
    assert third == {"queues": [], "links": []}


async def test_empty_list_has_no_links(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/queues")

    assert response.status_code == 200
    assert response.json() == {"queues": [], "links": []}


async def test_detailed_list_shows_metadata(api: httpx.AsyncClient) -> None:
    await api.put("/v2/queues/fizbit", json={"color": "red"})

    body = (await api.get("/v2/queues", params={"detailed": "true"})).json()

    [queue] = body["queues"]
    assert queue["metadata"] == DEFAULTS | {"color": "red"}
    assert next_query(body)["detailed"] == ["true"]


async def test_with_count_counts_all_queues(api: httpx.AsyncClient) -> None:
    for name in ["a", "b", "c"]:
        await api.put(f"/v2/queues/{name}")

    body = (await api.get("/v2/queues", params={"with_count": "true", "limit": 1})).json()

    assert body["count"] == 3
    assert len(body["queues"]) == 1


async def test_with_count_is_zero_without_queues(api: httpx.AsyncClient) -> None:
    body = (await api.get("/v2/queues", params={"with_count": "true"})).json()

    assert body == {"queues": [], "links": [], "count": 0}


async def test_posting_a_message_creates_the_queue(api: httpx.AsyncClient) -> None:
    await post_messages(api, "lazy")

    body = (await api.get("/v2/queues")).json()

    assert [q["name"] for q in body["queues"]] == ["lazy"]


# Patch


async def test_patch_adds_replaces_and_removes_keys(api: httpx.AsyncClient) -> None:
    await api.put("/v2/queues/fizbit", json={"color": "red", "size": 1})

    response = await patch(
        api,
        "fizbit",
        {"op": "add", "path": "/metadata/shape", "value": "round"},
        {"op": "replace", "path": "/metadata/color", "value": "blue"},
        {"op": "remove", "path": "/metadata/size"},
        {"op": "replace", "path": "/metadata/_default_message_ttl", "value": 120},
    )

    assert response.status_code == 200
    expected = DEFAULTS | {"color": "blue", "shape": "round", "_default_message_ttl": 120}
    assert response.json() == expected
    assert (await api.get("/v2/queues/fizbit")).json() == expected


async def test_patch_can_remove_a_reserved_key_back_to_its_default(
    api: httpx.AsyncClient,
) -> None:
    await api.put("/v2/queues/fizbit", json={"_default_message_delay": 30})

    response = await patch(
        api, "fizbit", {"op": "remove", "path": "/metadata/_default_message_delay"}
    )

    assert response.status_code == 200
    assert response.json()["_default_message_delay"] == 0


async def test_patched_default_ttl_applies_to_new_messages(api: httpx.AsyncClient) -> None:
    await api.put("/v2/queues/fizbit")
    await patch(api, "fizbit", {"op": "add", "path": "/metadata/_default_message_ttl", "value": 90})

    [message_id] = await post_messages(api, "fizbit", {"body": 1})

    message = (await api.get(f"/v2/queues/fizbit/messages/{message_id}")).json()
    assert message["ttl"] == 90


# Delete


async def test_delete_removes_the_queue_and_its_messages(api: httpx.AsyncClient) -> None:
    # Given a queue with a message
    [message_id] = await post_messages(api, "fizbit")

    # When it is deleted
    response = await api.delete("/v2/queues/fizbit")

    # Then the queue and its message are gone
    assert response.status_code == 204
    assert (await api.get("/v2/queues")).json()["queues"] == []
    assert (await api.get(f"/v2/queues/fizbit/messages/{message_id}")).status_code == 404


async def test_delete_of_a_missing_queue_is_204(api: httpx.AsyncClient) -> None:
    response = await api.delete("/v2/queues/nowhere")

    assert response.status_code == 204


# Stats


async def test_stats_count_free_claimed_and_total(api: httpx.AsyncClient) -> None:
    # Given three messages, one of them claimed
    await post_bodies(api, "fizbit", "a", "b", "c")
    await claim(api, "fizbit", limit=1)

    # When the stats are read
    response = await api.get("/v2/queues/fizbit/stats")

    # Then they count them, and name the oldest and newest
    assert response.status_code == 200
    counts = response.json()["messages"]
    assert (counts["free"], counts["claimed"], counts["total"]) == (2, 1, 3)
    assert counts["oldest"]["href"].startswith("/v2/queues/fizbit/messages/")
    assert set(counts["newest"]) >= {"href", "age", "created"}
    assert counts["oldest"]["created"].endswith("Z")


async def test_stats_of_an_empty_or_missing_queue_are_zero(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/queues/nowhere/stats")

    assert response.status_code == 200
    counts = response.json()["messages"]
    assert (counts["free"], counts["claimed"], counts["total"]) == (0, 0, 0)
    assert "oldest" not in counts


async def test_stats_forget_expired_messages(api: httpx.AsyncClient, clock: FakeClock) -> None:
    await post_messages(api, "fizbit", {"body": 1, "ttl": 60}, {"body": 2, "ttl": 120})

    clock.advance(61)

    counts = (await api.get("/v2/queues/fizbit/stats")).json()["messages"]
    assert counts["total"] == 1


# Purge


async def test_purge_removes_messages_and_keeps_the_queue(api: httpx.AsyncClient) -> None:
    # Given a queue with metadata and messages
    await api.put("/v2/queues/fizbit", json={"color": "red"})
    await post_bodies(api, "fizbit", "a", "b")

    # When it is purged
    response = await api.post("/v2/queues/fizbit/purge")

    # Then the messages are gone and the queue with its metadata stays
    assert response.status_code == 204
    assert (await api.get("/v2/queues/fizbit/stats")).json()["messages"]["total"] == 0
    assert (await api.get("/v2/queues/fizbit")).json()["color"] == "red"
    assert [q["name"] for q in (await api.get("/v2/queues")).json()["queues"]] == ["fizbit"]


async def test_purge_of_messages_only(api: httpx.AsyncClient) -> None:
    await post_bodies(api, "fizbit", "a", "b")

    response = await api.post("/v2/queues/fizbit/purge", json={"resource_types": ["messages"]})

    assert response.status_code == 204
    assert (await api.get("/v2/queues/fizbit/stats")).json()["messages"]["total"] == 0


async def test_purge_of_subscriptions_only_keeps_messages(api: httpx.AsyncClient) -> None:
    await post_bodies(api, "fizbit", "a", "b")

    response = await api.post("/v2/queues/fizbit/purge", json={"resource_types": ["subscriptions"]})

    assert response.status_code == 204
    assert (await api.get("/v2/queues/fizbit/stats")).json()["messages"]["total"] == 2


async def test_purge_drops_claimed_messages_too(api: httpx.AsyncClient) -> None:
    await post_bodies(api, "fizbit", "a", "b")
    await claim(api, "fizbit")

    await api.post(
        "/v2/queues/fizbit/purge", json={"resource_types": ["messages", "subscriptions"]}
    )

    consumer = another_client()
    listed = await api.get(
        "/v2/queues/fizbit/messages", params={"include_claimed": "true"}, headers=consumer
    )
    assert listed.json()["messages"] == []
