"""Messages: post, list, get, delete, pop; expiry and delay driven by the fake clock."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.api.support import another_client, claim, listed_bodies, post_bodies, post_messages
from tidings.clock import FakeClock

MESSAGE_KEYS = {"id", "href", "ttl", "age", "body"}


# Post


async def test_post_answers_201_with_hrefs_and_location(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v2/queues/fizbit/messages",
        json={"messages": [{"body": {"a": 1}, "ttl": 300}, {"body": [1, 2]}]},
    )

    assert response.status_code == 201
    hrefs = response.json()["resources"]
    assert set(response.json()) == {"resources"}
    assert len(hrefs) == 2
    assert all(href.startswith("/v2/queues/fizbit/messages/") for href in hrefs)
    ids = [href.rsplit("/", 1)[1] for href in hrefs]
    assert response.headers["location"] == f"/v2/queues/fizbit/messages?ids={','.join(ids)}"


async def test_the_location_of_a_post_gets_the_posted_messages(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v2/queues/fizbit/messages", json={"messages": [{"body": "a"}, {"body": "b"}]}
    )

    found = await api.get(response.headers["location"])

    assert found.status_code == 200
    assert [message["body"] for message in found.json()["messages"]] == ["a", "b"]


async def test_any_json_value_is_a_body(api: httpx.AsyncClient) -> None:
    bodies = [None, 0, "text", [1, "two"], {"nested": {"deep": [True]}}, 2**63]

    await post_bodies(api, "fizbit", *bodies)

    assert await listed_bodies(api, "fizbit") == bodies


async def test_extra_message_keys_are_ignored(api: httpx.AsyncClient) -> None:
    [message_id] = await post_messages(api, "fizbit", {"body": 1, "colour": "red"})

    message = (await api.get(f"/v2/queues/fizbit/messages/{message_id}")).json()

    assert set(message) == MESSAGE_KEYS


async def test_ttl_defaults_to_the_queue_then_the_server_default(api: httpx.AsyncClient) -> None:
    await api.put("/v2/queues/short", json={"_default_message_ttl": 120})
    [short] = await post_messages(api, "short", {"body": 1})
    [plain] = await post_messages(api, "plain", {"body": 1})

    assert (await api.get(f"/v2/queues/short/messages/{short}")).json()["ttl"] == 120
    assert (await api.get(f"/v2/queues/plain/messages/{plain}")).json()["ttl"] == 3600


async def test_a_null_ttl_takes_the_default(api: httpx.AsyncClient) -> None:
    [message_id] = await post_messages(api, "plain", {"body": 1, "ttl": None})

    assert (await api.get(f"/v2/queues/plain/messages/{message_id}")).json()["ttl"] == 3600


# Get


async def test_get_shows_one_message(api: httpx.AsyncClient, clock: FakeClock) -> None:
    [message_id] = await post_messages(api, "fizbit", {"body": {"event": "x"}, "ttl": 300})
    clock.advance(5)

    response = await api.get(f"/v2/queues/fizbit/messages/{message_id}")

    assert response.status_code == 200
    assert response.json() == {
        "id": message_id,
        "href": f"/v2/queues/fizbit/messages/{message_id}",
        "ttl": 300,
        "age": 5,
        "body": {"event": "x"},
    }


async def test_get_of_a_claimed_message_names_its_claim(api: httpx.AsyncClient) -> None:
    [message_id] = await post_messages(api, "fizbit")
    claim_id, _ = await claim(api, "fizbit")

    message = (await api.get(f"/v2/queues/fizbit/messages/{message_id}")).json()

    assert message["href"] == f"/v2/queues/fizbit/messages/{message_id}?claim_id={claim_id}"


async def test_get_of_a_missing_message_is_404(api: httpx.AsyncClient) -> None:
    await post_messages(api, "fizbit")

    response = await api.get("/v2/queues/fizbit/messages/no-such-id")

    assert response.status_code == 404
    assert response.json()["title"] == "Not found"


async def test_get_in_a_missing_queue_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/queues/nowhere/messages/no-such-id")

    assert response.status_code == 404


async def test_get_many_returns_the_ones_found(api: httpx.AsyncClient) -> None:
    first, second = await post_bodies(api, "fizbit", "a", "b")

    response = await api.get(
        "/v2/queues/fizbit/messages", params={"ids": f"{first},unknown,{second}"}
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"messages"}
    assert [m["id"] for m in body["messages"]] == [first, second]
    assert all(set(m) == MESSAGE_KEYS for m in body["messages"])


async def test_get_many_with_none_found_is_404(api: httpx.AsyncClient) -> None:
    await post_messages(api, "fizbit")

    response = await api.get("/v2/queues/fizbit/messages", params={"ids": "x,y"})

    assert response.status_code == 404


# List


async def test_list_hides_own_messages_unless_echo(api: httpx.AsyncClient) -> None:
    await post_bodies(api, "fizbit", "a")

    own = await api.get("/v2/queues/fizbit/messages")
    echoed = await api.get("/v2/queues/fizbit/messages", params={"echo": "true"})
    other = await api.get("/v2/queues/fizbit/messages", headers=another_client())

    assert own.json() == {"messages": [], "links": []}
    assert [m["body"] for m in echoed.json()["messages"]] == ["a"]
    assert [m["body"] for m in other.json()["messages"]] == ["a"]


async def test_a_client_id_in_another_uuid_spelling_is_the_same_client(
    api: httpx.AsyncClient,
) -> None:
    # Given a message posted by a client that writes its id in upper case
    canonical = api.headers["Client-ID"]
    posted = await api.post(
        "/v2/queues/fizbit/messages",
        json={"messages": [{"body": "a"}]},
        headers={"Client-ID": canonical.upper()},
    )
    assert posted.status_code == 201

    # When that client lists without echo, its id spelled each way
    spellings = [canonical, canonical.upper(), canonical.replace("-", ""), f"{{{canonical}}}"]
    listings = [
        await api.get("/v2/queues/fizbit/messages", headers={"Client-ID": spelling})
        for spelling in spellings
    ]

    # Then each spelling is the client that posted: its own message stays hidden from it,
    # and shows to another client
    assert [listing.json()["messages"] for listing in listings] == [[]] * len(spellings)
    seen = await api.get("/v2/queues/fizbit/messages", headers=another_client())
    assert [message["body"] for message in seen.json()["messages"]] == ["a"]


async def test_list_shows_message_shapes(api: httpx.AsyncClient) -> None:
    [message_id] = await post_messages(api, "fizbit", {"body": "a", "ttl": 120})

    body = (await api.get("/v2/queues/fizbit/messages", headers=another_client())).json()

    assert body["messages"] == [
        {
            "id": message_id,
            "href": f"/v2/queues/fizbit/messages/{message_id}",
            "ttl": 120,
            "age": 0,
            "body": "a",
        }
    ]


async def test_list_pages_in_post_order_with_next_links(api: httpx.AsyncClient) -> None:
    # Given five messages
    await post_bodies(api, "fizbit", *range(5))

    # When listing two at a time by following next links
    seen: list[int] = []
    href = "/v2/queues/fizbit/messages?echo=true&limit=2"
    for _ in range(4):
        page = (await api.get(href)).json()
        seen += [m["body"] for m in page["messages"]]
        if not page["links"]:
            break
        [link] = page["links"]
        assert link["rel"] == "next"
        href = link["href"]

    # Then every message is seen once, in order, and the links keep the parameters
    assert seen == [0, 1, 2, 3, 4]
    query = parse_qs(urlsplit(href).query)
    assert query["echo"] == ["true"]
    assert query["limit"] == ["2"]
    assert "marker" in query


async def test_next_link_does_not_add_include_delayed(api: httpx.AsyncClient) -> None:
    await post_bodies(api, "fizbit", "a")

    body = (await api.get("/v2/queues/fizbit/messages", params={"echo": "true"})).json()

    [link] = body["links"]
    assert "include_delayed" not in link["href"]
    assert urlsplit(link["href"]).path == "/v2/queues/fizbit/messages"


async def test_list_of_a_missing_queue_is_empty(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/queues/nowhere/messages")

    assert response.status_code == 200
    assert response.json() == {"messages": [], "links": []}


async def test_list_hides_claimed_messages_by_default(api: httpx.AsyncClient) -> None:
    await post_bodies(api, "fizbit", "a", "b")
    await claim(api, "fizbit", limit=1)

    assert await listed_bodies(api, "fizbit") == ["b"]


async def test_include_claimed_works_without_marker(api: httpx.AsyncClient) -> None:
    await post_bodies(api, "fizbit", "a", "b")
    await claim(api, "fizbit", limit=1)

    assert await listed_bodies(api, "fizbit", include_claimed="true") == ["a", "b"]


# Expiry


async def test_messages_expire_after_their_ttl(api: httpx.AsyncClient, clock: FakeClock) -> None:
    # Given a short-lived and a long-lived message
    short, _ = await post_messages(api, "fizbit", {"body": "short", "ttl": 60}, {"body": "long"})

    # When the short one's ttl has passed
    clock.advance(60)

    # Then it is gone from everywhere
    assert (await api.get(f"/v2/queues/fizbit/messages/{short}")).status_code == 404
    assert await listed_bodies(api, "fizbit") == ["long"]
    assert (await api.get("/v2/queues/fizbit/stats")).json()["messages"]["total"] == 1


async def test_age_follows_the_clock(api: httpx.AsyncClient, clock: FakeClock) -> None:
    [message_id] = await post_messages(api, "fizbit")

    clock.advance(42)

    assert (await api.get(f"/v2/queues/fizbit/messages/{message_id}")).json()["age"] == 42


# Delay


async def test_delayed_messages_are_hidden_until_due(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    # Given a delayed queue with one message
    await api.put("/v2/queues/later", json={"_default_message_delay": 30})
    await post_bodies(api, "later", "a")

    # Then it is hidden and unclaimable before it is due, and shown afterwards
    assert await listed_bodies(api, "later") == []
    assert (await api.post("/v2/queues/later/claims")).status_code == 204
    clock.advance(30)
    assert await listed_bodies(api, "later") == ["a"]


async def test_include_delayed_shows_messages_not_yet_due(api: httpx.AsyncClient) -> None:
    await api.put("/v2/queues/later", json={"_default_message_delay": 30})
    await post_bodies(api, "later", "a")

    assert await listed_bodies(api, "later", include_delayed="true") == ["a"]


async def test_per_message_delay_works_without_a_queue_delay(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    # Given a plain queue (no _default_message_delay) with one delayed and one plain message
    await post_messages(api, "plain", {"body": "later", "delay": 60}, {"body": "now"})

    # Then the delayed one is hidden and unclaimable until due
    assert await listed_bodies(api, "plain") == ["now"]
    _, claimed = await claim(api, "plain", ttl=300)
    assert [m["body"] for m in claimed] == ["now"]
    clock.advance(60)
    assert await listed_bodies(api, "plain") == ["later"]


async def test_per_message_delay_overrides_the_queue_delay(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    await api.put("/v2/queues/later", json={"_default_message_delay": 300})
    await post_messages(api, "later", {"body": "soon", "delay": 0}, {"body": "late"})

    assert await listed_bodies(api, "later") == ["soon"]


async def test_stats_count_delayed_messages_as_not_free(api: httpx.AsyncClient) -> None:
    await post_messages(api, "fizbit", {"body": "later", "delay": 60}, {"body": "now"})

    counts = (await api.get("/v2/queues/fizbit/stats")).json()["messages"]

    assert (counts["free"], counts["total"]) == (1, 2)


# Delete


async def test_delete_removes_a_message(api: httpx.AsyncClient) -> None:
    [message_id] = await post_messages(api, "fizbit")

    response = await api.delete(f"/v2/queues/fizbit/messages/{message_id}")

    assert response.status_code == 204
    assert (await api.get(f"/v2/queues/fizbit/messages/{message_id}")).status_code == 404


async def test_delete_of_a_missing_message_is_204(api: httpx.AsyncClient) -> None:
    assert (await api.delete("/v2/queues/nowhere/messages/nothing")).status_code == 204


async def test_delete_by_ids_removes_those_and_ignores_unknown(api: httpx.AsyncClient) -> None:
    first, _, third = await post_bodies(api, "fizbit", "a", "b", "c")

    response = await api.delete(
        "/v2/queues/fizbit/messages", params={"ids": f"{first},{third},unknown"}
    )

    assert response.status_code == 204
    assert await listed_bodies(api, "fizbit") == ["b"]


# Pop


async def test_pop_removes_and_returns_the_oldest(api: httpx.AsyncClient) -> None:
    first, second, _ = await post_bodies(api, "fizbit", "a", "b", "c")

    response = await api.delete("/v2/queues/fizbit/messages", params={"pop": 2})

    assert response.status_code == 200
    popped = response.json()["messages"]
    assert [m["id"] for m in popped] == [first, second]
    assert await listed_bodies(api, "fizbit") == ["c"]


async def test_pop_returns_hrefs_and_no_claim_fields(api: httpx.AsyncClient) -> None:
    [message_id] = await post_bodies(api, "fizbit", "a")

    popped = (await api.delete("/v2/queues/fizbit/messages", params={"pop": 1})).json()

    [message] = popped["messages"]
    assert set(message) == MESSAGE_KEYS
    assert message["href"] == f"/v2/queues/fizbit/messages/{message_id}"
    assert message["body"] == "a"


async def test_pop_skips_claimed_messages(api: httpx.AsyncClient) -> None:
    await post_bodies(api, "fizbit", "a", "b")
    await claim(api, "fizbit", limit=1)

    popped = (await api.delete("/v2/queues/fizbit/messages", params={"pop": 5})).json()

    assert [m["body"] for m in popped["messages"]] == ["b"]


async def test_pop_of_an_empty_queue_returns_no_messages(api: httpx.AsyncClient) -> None:
    response = await api.delete("/v2/queues/nowhere/messages", params={"pop": 1})

    assert response.status_code == 200
    assert response.json() == {"messages": []}
