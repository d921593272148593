"""Claims: create, read, renew, release, expiry, deletion under a claim, and dead-lettering."""

from __future__ import annotations

import httpx

from tests.api.support import assert_error, claim, listed_bodies, post_bodies, post_messages
from tidings.clock import FakeClock

CLAIMED_KEYS = {"id", "href", "ttl", "age", "body"}


# Create


async def test_claim_answers_201_with_location_and_claimed_hrefs(api: httpx.AsyncClient) -> None:
    first, second = await post_bodies(api, "fizbit", "a", "b")

    response = await api.post("/v2/queues/fizbit/claims", json={"ttl": 60, "grace": 60})

    assert response.status_code == 201
    location = response.headers["location"]
    assert location.startswith("/v2/queues/fizbit/claims/")
    claim_id = location.rsplit("/", 1)[1]
    messages = response.json()["messages"]
    assert [m["id"] for m in messages] == [first, second]
    assert all(set(m) == CLAIMED_KEYS for m in messages)
    assert messages[0]["href"] == f"/v2/queues/fizbit/messages/{first}?claim_id={claim_id}"


async def test_claim_of_nothing_is_204_with_an_empty_body(api: httpx.AsyncClient) -> None:
    await api.put("/v2/queues/empty")

    response = await api.post("/v2/queues/empty/claims")

    assert response.status_code == 204
    assert response.content == b""


async def test_null_ttl_and_grace_take_the_defaults(api: httpx.AsyncClient) -> None:
    # python-zaqarclient sends "grace": null when the caller gives only a ttl
    await post_bodies(api, "fizbit", "a")

    response = await api.post("/v2/queues/fizbit/claims", json={"ttl": None, "grace": None})

    assert response.status_code == 201
    claim_href = response.headers["location"]
    assert (await api.get(claim_href)).json()["ttl"] == 300


async def test_claim_on_a_missing_queue_is_204(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v2/queues/nowhere/claims")).status_code == 204


async def test_claim_takes_up_to_limit_oldest_first(api: httpx.AsyncClient) -> None:
    await post_bodies(api, "fizbit", *range(5))

    _, first = await claim(api, "fizbit", limit=2)
    _, second = await claim(api, "fizbit", limit=2)

    assert [m["body"] for m in first] == [0, 1]
    assert [m["body"] for m in second] == [2, 3]


async def test_claim_takes_ten_by_default(api: httpx.AsyncClient) -> None:
    await post_bodies(api, "fizbit", *range(12))

    _, claimed = await claim(api, "fizbit")

    assert len(claimed) == 10


async def test_claim_without_body_uses_default_ttl(api: httpx.AsyncClient) -> None:
    await post_messages(api, "fizbit")

    response = await api.post("/v2/queues/fizbit/claims")

    assert response.status_code == 201
    claimed = await api.get(response.headers["location"])
    assert claimed.json()["ttl"] == 300


# Get


async def test_get_shows_the_claim(api: httpx.AsyncClient, clock: FakeClock) -> None:
    [message_id] = await post_messages(api, "fizbit")
    claim_id, _ = await claim(api, "fizbit", ttl=120)
    clock.advance(10)

    response = await api.get(f"/v2/queues/fizbit/claims/{claim_id}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"age", "ttl", "messages", "href"}
    assert (body["age"], body["ttl"]) == (10, 120)
    assert body["href"] == f"/v2/queues/fizbit/claims/{claim_id}"
    [message] = body["messages"]
    assert message["href"] == f"/v2/queues/fizbit/messages/{message_id}?claim_id={claim_id}"


async def test_get_of_an_unknown_claim_is_404(api: httpx.AsyncClient) -> None:
    await post_messages(api, "fizbit")

    response = await api.get("/v2/queues/fizbit/claims/no-such-claim")

    assert_error(response, 404, "Not found", "claim")


# Expiry


async def test_an_expired_claim_is_gone_and_its_messages_claimable(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    # Given a claimed message
    await post_bodies(api, "fizbit", "a")
    claim_id, _ = await claim(api, "fizbit", ttl=60)

    # When the claim expires
    clock.advance(60)

    # Then the claim is gone and the message can be claimed again
    assert (await api.get(f"/v2/queues/fizbit/claims/{claim_id}")).status_code == 404
    _, again = await claim(api, "fizbit")
    assert [m["body"] for m in again] == ["a"]


async def test_a_claim_keeps_its_messages_alive_for_ttl_plus_grace(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    # Given a message that would expire in 60 s, claimed for 120 s with 60 s grace
    [message_id] = await post_messages(api, "fizbit", {"body": "a", "ttl": 60})
    await claim(api, "fizbit", ttl=120, grace=60)

    # Then it lives until the claim ends plus the grace
    clock.advance(179)
    assert (await api.get(f"/v2/queues/fizbit/messages/{message_id}")).status_code == 200
    clock.advance(1)
    assert (await api.get(f"/v2/queues/fizbit/messages/{message_id}")).status_code == 404


# Renew


async def test_renew_extends_the_claim(api: httpx.AsyncClient, clock: FakeClock) -> None:
    # Given a 60 s claim, 50 s old
    await post_bodies(api, "fizbit", "a")
    claim_id, _ = await claim(api, "fizbit", ttl=60)
    clock.advance(50)

    # When it is renewed for 120 s
    response = await api.patch(
        f"/v2/queues/fizbit/claims/{claim_id}", json={"ttl": 120, "grace": 60}
    )

    # Then it outlives its first ttl, until the new one runs out
    assert response.status_code == 204
    clock.advance(119)
    body = (await api.get(f"/v2/queues/fizbit/claims/{claim_id}")).json()
    assert body["ttl"] == 120
    assert (await api.post("/v2/queues/fizbit/claims")).status_code == 204
    clock.advance(1)
    assert (await api.get(f"/v2/queues/fizbit/claims/{claim_id}")).status_code == 404


async def test_renew_without_body_uses_the_default_ttl(api: httpx.AsyncClient) -> None:
    await post_bodies(api, "fizbit", "a")
    claim_id, _ = await claim(api, "fizbit", ttl=60)

    response = await api.patch(f"/v2/queues/fizbit/claims/{claim_id}")

    assert response.status_code == 204
    assert (await api.get(f"/v2/queues/fizbit/claims/{claim_id}")).json()["ttl"] == 300


async def test_renew_of_an_expired_claim_is_404(api: httpx.AsyncClient, clock: FakeClock) -> None:
    await post_bodies(api, "fizbit", "a")
    claim_id, _ = await claim(api, "fizbit", ttl=60)
    clock.advance(60)

    response = await api.patch(f"/v2/queues/fizbit/claims/{claim_id}", json={"ttl": 60})

    assert_error(response, 404, "Not found", "claim")


async def test_renew_of_an_unknown_claim_is_404(api: httpx.AsyncClient) -> None:
    response = await api.patch("/v2/queues/fizbit/claims/nothing", json={"ttl": 60})

    assert response.status_code == 404


# Release


async def test_release_makes_messages_claimable_at_once(api: httpx.AsyncClient) -> None:
    # Given a claimed message
    await post_bodies(api, "fizbit", "a")
    claim_id, _ = await claim(api, "fizbit", ttl=600)

    # When the claim is released
    response = await api.delete(f"/v2/queues/fizbit/claims/{claim_id}")

    # Then the claim is gone and the message is free
    assert response.status_code == 204
    assert (await api.get(f"/v2/queues/fizbit/claims/{claim_id}")).status_code == 404
    assert await listed_bodies(api, "fizbit") == ["a"]
    _, again = await claim(api, "fizbit")
    assert [m["body"] for m in again] == ["a"]


async def test_release_of_an_unknown_claim_is_204(api: httpx.AsyncClient) -> None:
    assert (await api.delete("/v2/queues/fizbit/claims/nothing")).status_code == 204


# Deleting claimed messages


async def test_delete_of_a_claimed_message_needs_the_claim_id(api: httpx.AsyncClient) -> None:
    [message_id] = await post_messages(api, "fizbit")
    await claim(api, "fizbit")

    response = await api.delete(f"/v2/queues/fizbit/messages/{message_id}")

    assert_error(response, 403, None, "claimed")
    assert (await api.get(f"/v2/queues/fizbit/messages/{message_id}")).status_code == 200


async def test_delete_with_the_right_claim_id_is_204(api: httpx.AsyncClient) -> None:
    [message_id] = await post_messages(api, "fizbit")
    claim_id, [claimed] = await claim(api, "fizbit")

    response = await api.delete(claimed["href"])

    assert response.status_code == 204
    assert (await api.get(f"/v2/queues/fizbit/messages/{message_id}")).status_code == 404
    remaining = (await api.get(f"/v2/queues/fizbit/claims/{claim_id}")).json()["messages"]
    assert remaining == []


async def test_delete_of_an_unclaimed_message_with_a_claim_id_is_400(
    api: httpx.AsyncClient,
) -> None:
    # Given a live claim on one message and another, unclaimed, message
    await post_bodies(api, "fizbit", "claimed")
    claim_id, _ = await claim(api, "fizbit")
    [free] = await post_bodies(api, "fizbit", "free")

    # When the free one is deleted with the claim id
    response = await api.delete(f"/v2/queues/fizbit/messages/{free}", params={"claim_id": claim_id})

    # Then it is refused and the message stays
    assert_error(response, 400, "Invalid API request", "not claimed")
    assert (await api.get(f"/v2/queues/fizbit/messages/{free}")).status_code == 200


async def test_delete_with_an_expired_claim_id_is_400(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    [message_id] = await post_messages(api, "fizbit")
    claim_id, _ = await claim(api, "fizbit", ttl=60)
    clock.advance(60)

    response = await api.delete(
        f"/v2/queues/fizbit/messages/{message_id}", params={"claim_id": claim_id}
    )

    assert_error(response, 400, None, "The specified claim does not exist or has expired.")


async def test_delete_with_an_unknown_claim_id_is_400(api: httpx.AsyncClient) -> None:
    [message_id] = await post_messages(api, "fizbit")
    await claim(api, "fizbit")

    response = await api.delete(
        f"/v2/queues/fizbit/messages/{message_id}", params={"claim_id": "nothing"}
    )

    assert_error(response, 400, None, "does not exist or has expired")


async def test_delete_with_another_live_claim_id_is_403(api: httpx.AsyncClient) -> None:
    # Given two messages held by two different claims
    first, _ = await post_bodies(api, "fizbit", "a", "b")
    await claim(api, "fizbit", limit=1)
    second_claim, _ = await claim(api, "fizbit", limit=1)

    # When the first is deleted with the second claim's id
    response = await api.delete(
        f"/v2/queues/fizbit/messages/{first}", params={"claim_id": second_claim}
    )

    # Then it is refused
    assert_error(response, 403, None, "claimed")
    assert (await api.get(f"/v2/queues/fizbit/messages/{first}")).status_code == 200


# Dead-letter queue


async def test_a_message_claimed_too_often_moves_to_the_dead_letter_queue(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    # Given a queue that dead-letters after two claims
    await api.put(
        "/v2/queues/work",
        json={
            "_dead_letter_queue": "dead",
            "_max_claim_count": 2,
            "_dead_letter_queue_messages_ttl": 600,
        },
    )
    [message_id] = await post_messages(api, "work", {"body": "poison", "ttl": 3600})

    # When two claims on it expire
    for _ in range(2):
        _, [claimed] = await claim(api, "work", ttl=60)
        assert claimed["id"] == message_id
        clock.advance(60)

    # Then the third claim moves it to the dead-letter queue instead
    assert (await api.post("/v2/queues/work/claims", json={"ttl": 60})).status_code == 204
    assert await listed_bodies(api, "work", include_claimed="true") == []
    assert await listed_bodies(api, "dead") == ["poison"]
    moved = await api.get(f"/v2/queues/dead/messages/{message_id}")
    assert moved.status_code == 200
    assert moved.json()["href"] == f"/v2/queues/dead/messages/{message_id}"


async def test_dead_lettered_messages_get_the_dead_letter_ttl(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    # Given a message moved to the dead-letter queue with a 600 s ttl
    await api.put(
        "/v2/queues/work",
        json={
            "_dead_letter_queue": "dead",
            "_max_claim_count": 1,
            "_dead_letter_queue_messages_ttl": 600,
        },
    )
    await post_messages(api, "work", {"body": "poison", "ttl": 3600})
    await claim(api, "work", ttl=60)
    clock.advance(60)
    assert (await api.post("/v2/queues/work/claims")).status_code == 204

    # Then it lives 600 s from the move, not its first hour
    clock.advance(599)
    assert await listed_bodies(api, "dead") == ["poison"]
    clock.advance(1)
    assert await listed_bodies(api, "dead") == []


async def test_dead_lettered_messages_are_claimable_there(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    await api.put("/v2/queues/work", json={"_dead_letter_queue": "dead", "_max_claim_count": 1})
    await post_bodies(api, "work", "poison")
    await claim(api, "work")
    clock.advance(60)
    await api.post("/v2/queues/work/claims")

    _, claimed = await claim(api, "dead")

    assert [m["body"] for m in claimed] == ["poison"]


async def test_a_claim_keeps_messages_below_the_claim_count(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    # Given a message already claimed once, and a fresh one
    await api.put("/v2/queues/work", json={"_dead_letter_queue": "dead", "_max_claim_count": 1})
    await post_bodies(api, "work", "old")
    await claim(api, "work")
    clock.advance(60)
    await post_bodies(api, "work", "new")

    # When both are claimed
    response = await api.post("/v2/queues/work/claims")

    # Then the old one is dead-lettered and the claim holds the new one
    assert response.status_code == 201
    assert [m["body"] for m in response.json()["messages"]] == ["new"]
    assert await listed_bodies(api, "dead") == ["old"]
