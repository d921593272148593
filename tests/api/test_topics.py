"""Topics over HTTP (API.md 2.6) on every backend: queue shapes without claims, kept apart
from the project's queues."""

from __future__ import annotations

import httpx
import pytest

from tests.api.support import JSON_PATCH, assert_error, other_project

TOPIC = "/v2/topics/news"


async def post(api: httpx.AsyncClient, *bodies: object, topic: str = TOPIC) -> list[str]:
    response = await api.post(
        f"{topic}/messages", json={"messages": [{"body": body} for body in bodies]}
    )
    assert response.status_code == 201, response.text
    return [href.rsplit("/", 1)[1] for href in response.json()["resources"]]


async def test_create_then_exists(api: httpx.AsyncClient) -> None:
    first = await api.put(TOPIC)
    second = await api.put(TOPIC)

    assert (first.status_code, second.status_code) == (201, 204)
    assert first.headers["location"] == TOPIC


async def test_get_shows_three_reserved_defaults(api: httpx.AsyncClient) -> None:
    await api.put(TOPIC, json={"colour": "blue"})

    response = await api.get(TOPIC)

    assert response.json() == {
        "colour": "blue",
        "_max_messages_post_size": 262144,
        "_default_message_ttl": 3600,
        "_default_message_delay": 0,
    }


async def test_topics_and_queues_do_not_mix(api: httpx.AsyncClient) -> None:
    await api.put(TOPIC)
    await api.put("/v2/queues/news")
    await post(api, "on the topic")

    topics = (await api.get("/v2/topics")).json()
    queues = (await api.get("/v2/queues")).json()
    queue_messages = (await api.get("/v2/queues/news/messages", params={"echo": "true"})).json()

    assert topics["topics"] == [{"name": "news", "href": TOPIC}]
    assert topics["links"] == [{"rel": "next", "href": "/v2/topics?marker=news"}]
    assert queues["queues"] == [{"name": "news", "href": "/v2/queues/news"}]
    assert queue_messages["messages"] == []


async def test_list_detailed_and_paged(api: httpx.AsyncClient) -> None:
    for name in ("a", "b", "c"):
        await api.put(f"/v2/topics/{name}")

    page = (await api.get("/v2/topics", params={"limit": 2, "detailed": "true"})).json()
    rest = (await api.get(page["links"][0]["href"])).json()

    assert [topic["name"] for topic in page["topics"]] == ["a", "b"]
    assert page["topics"][0]["metadata"]["_default_message_ttl"] == 3600
    assert [topic["name"] for topic in rest["topics"]] == ["c"]


async def test_patch_changes_metadata(api: httpx.AsyncClient) -> None:
    await api.put(TOPIC)

    response = await api.patch(
        TOPIC,
        json=[{"op": "add", "path": "/metadata/_default_message_ttl", "value": 120}],
        headers={"Content-Type": JSON_PATCH},
    )

    assert response.status_code == 200
    assert response.json()["_default_message_ttl"] == 120


async def test_messages_post_list_get_and_delete(api: httpx.AsyncClient) -> None:
    first, second = await post(api, "one", "two")

    listed = (await api.get(f"{TOPIC}/messages", params={"echo": "true"})).json()
    one = (await api.get(f"{TOPIC}/messages/{first}")).json()
    both = (await api.get(f"{TOPIC}/messages", params={"ids": f"{first},{second}"})).json()
    deleted = await api.delete(f"{TOPIC}/messages/{first}")

    assert [m["href"] for m in listed["messages"]] == [
        f"{TOPIC}/messages/{first}",
        f"{TOPIC}/messages/{second}",
    ]
    assert one["body"] == "one"
    assert [m["body"] for m in both["messages"]] == ["one", "two"]
    assert deleted.status_code == 204
    assert (await api.get(f"{TOPIC}/messages/{first}")).status_code == 404


async def test_delete_by_ids_and_pop(api: httpx.AsyncClient) -> None:
    first, _, _ = await post(api, "one", "two", "three")

    deleted = await api.delete(f"{TOPIC}/messages", params={"ids": first})
    popped = await api.delete(f"{TOPIC}/messages", params={"pop": 1})

    assert deleted.status_code == 204
    assert [m["body"] for m in popped.json()["messages"]] == ["two"]
    assert popped.json()["messages"][0]["href"].startswith(f"{TOPIC}/messages/")


async def test_stats_show_totals_only(api: httpx.AsyncClient) -> None:
    (message_id,) = await post(api, "one")

    stats = (await api.get(f"{TOPIC}/stats")).json()["messages"]

    assert set(stats) == {"total", "oldest", "newest"}
    assert stats["total"] == 1
    assert stats["oldest"]["href"] == f"{TOPIC}/messages/{message_id}"


async def test_purge_and_delete(api: httpx.AsyncClient) -> None:
    await post(api, "one")

    purged = await api.post(f"{TOPIC}/purge", json={"resource_types": ["messages"]})
    stats = (await api.get(f"{TOPIC}/stats")).json()["messages"]
    deleted = await api.delete(TOPIC)

    assert purged.status_code == 204
    assert stats == {"total": 0}
    assert deleted.status_code == 204
    assert (await api.get("/v2/topics")).json()["topics"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", f"{TOPIC}/claims"), ("GET", f"{TOPIC}/claims/x"), ("POST", f"{TOPIC}/share")],
)
async def test_topics_have_no_claims_or_share(
    api: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await api.request(method, path, json={})

    assert response.status_code in (404, 405)


async def test_invalid_topic_name_is_400(api: httpx.AsyncClient) -> None:
    response = await api.put("/v2/topics/not%20valid")

    assert_error(response, 400, "Invalid queue identification")


async def test_another_project_sees_no_topic(api: httpx.AsyncClient) -> None:
    await post(api, "secret")

    topics = (await api.get("/v2/topics", headers=other_project())).json()
    messages = (await api.get(f"{TOPIC}/messages", headers=other_project())).json()

    assert topics["topics"] == []
    assert messages["messages"] == []
