"""Subscriptions over HTTP (API.md 2.5), on queues and topics, on every backend."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.support import assert_error, listed_bodies, other_project, post_bodies
from tidings.clock import FakeClock

HOOK = "http://receiver.example/hook"
SOURCES = ("/v2/queues/fizbit", "/v2/topics/news")


async def subscribe(
    api: httpx.AsyncClient, source: str = SOURCES[0], subscriber: str = HOOK, **fields: Any
) -> dict[str, Any]:
    response = await api.post(f"{source}/subscriptions", json={"subscriber": subscriber, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def confirm(api: httpx.AsyncClient, source: str, subscription_id: str, value: Any) -> int:
    response = await api.put(
        f"{source}/subscriptions/{subscription_id}/confirm", json={"confirmed": value}
    )
    return response.status_code


@pytest.mark.parametrize("source", SOURCES)
async def test_create_returns_id_secret_and_location(api: httpx.AsyncClient, source: str) -> None:
    response = await api.post(f"{source}/subscriptions", json={"subscriber": HOOK})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"subscription_id", "secret"}
    assert len(body["secret"]) == 64
    int(body["secret"], 16)
    assert response.headers["location"] == f"{source}/subscriptions"


@pytest.mark.parametrize("source", SOURCES)
async def test_get_shows_the_subscription(api: httpx.AsyncClient, source: str) -> None:
    created = await subscribe(api, source, ttl=600, options={"post_headers": {"a": "b"}})

    response = await api.get(f"{source}/subscriptions/{created['subscription_id']}")

    assert response.status_code == 200
    assert response.json() == {
        "id": created["subscription_id"],
        "source": source.rsplit("/", 1)[1],
        "subscriber": HOOK,
        "ttl": 600,
        "age": 0,
        "options": {"post_headers": {"a": "b"}},
        "confirmed": False,
    }


async def test_default_ttl_is_an_hour(api: httpx.AsyncClient) -> None:
    created = await subscribe(api)

    found = (await api.get(f"/v2/queues/fizbit/subscriptions/{created['subscription_id']}")).json()

    assert found["ttl"] == 3600


async def test_subscribing_creates_the_queue(api: httpx.AsyncClient) -> None:
    await subscribe(api)

    names = [queue["name"] for queue in (await api.get("/v2/queues")).json()["queues"]]

    assert names == ["fizbit"]


@pytest.mark.parametrize("source", SOURCES)
async def test_list_pages_by_id_with_next_links(api: httpx.AsyncClient, source: str) -> None:
    ids = sorted(
        [(await subscribe(api, source, f"{HOOK}/{n}"))["subscription_id"] for n in range(3)]
    )

    first = (await api.get(f"{source}/subscriptions", params={"limit": 2})).json()
    (link,) = first["links"]
    second = (await api.get(link["href"])).json()

    assert [s["id"] for s in first["subscriptions"]] == ids[:2]
    assert link["rel"] == "next"
    assert [s["id"] for s in second["subscriptions"]] == ids[2:]
    assert first["subscriptions"][0]["source"] == source.rsplit("/", 1)[1]


async def test_list_of_a_missing_queue_is_empty(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/queues/nothing/subscriptions")

    assert response.status_code == 200
    assert response.json() == {"subscriptions": [], "links": []}


@pytest.mark.parametrize("limit", [0, 21])
async def test_list_limit_out_of_range_is_400(api: httpx.AsyncClient, limit: int) -> None:
    response = await api.get("/v2/queues/fizbit/subscriptions", params={"limit": limit})

    assert_error(response, 400, text="Limit must be at least 1 and no greater than 20.")


async def test_unconfirmed_duplicate_returns_the_same_id(api: httpx.AsyncClient) -> None:
    first = await subscribe(api)

    second = await subscribe(api)

    assert second["subscription_id"] == first["subscription_id"]
    assert len((await api.get("/v2/queues/fizbit/subscriptions")).json()["subscriptions"]) == 1


async def test_confirmed_duplicate_is_409(api: httpx.AsyncClient) -> None:
    first = await subscribe(api)
    assert await confirm(api, SOURCES[0], first["subscription_id"], True) == 204

    response = await api.post("/v2/queues/fizbit/subscriptions", json={"subscriber": HOOK})

    assert_error(response, 409, "Resource conflict", "Such subscription already exists")


async def test_same_subscriber_on_a_topic_and_a_queue_of_one_name_are_two(
    api: httpx.AsyncClient,
) -> None:
    on_queue = await subscribe(api, "/v2/queues/news")
    on_topic = await subscribe(api, "/v2/topics/news")

    assert on_queue["subscription_id"] != on_topic["subscription_id"]
    listed = (await api.get("/v2/queues/news/subscriptions")).json()["subscriptions"]
    assert [s["id"] for s in listed] == [on_queue["subscription_id"]]


@pytest.mark.parametrize("source", SOURCES)
async def test_confirm_sets_the_flag(api: httpx.AsyncClient, source: str) -> None:
    sid = (await subscribe(api, source))["subscription_id"]

    assert await confirm(api, source, sid, True) == 204
    assert (await api.get(f"{source}/subscriptions/{sid}")).json()["confirmed"] is True
    assert await confirm(api, source, sid, False) == 204
    assert (await api.get(f"{source}/subscriptions/{sid}")).json()["confirmed"] is False


@pytest.mark.parametrize("value", ["true", 1, None])
async def test_confirm_needs_a_boolean(api: httpx.AsyncClient, value: Any) -> None:
    sid = (await subscribe(api))["subscription_id"]

    response = await api.put(
        f"/v2/queues/fizbit/subscriptions/{sid}/confirm", json={"confirmed": value}
    )

    assert_error(response, 400, text="The 'confirmed' should be boolean.")


async def test_confirm_of_an_unknown_subscription_is_404(api: httpx.AsyncClient) -> None:
    status = await confirm(api, SOURCES[0], "00000000-0000-4000-8000-000000000000", True)

    assert status == 404


@pytest.mark.parametrize("sid", ["not-a-uuid", "00000000-0000-4000-8000-000000000000"])
async def test_unknown_ids_are_not_found(api: httpx.AsyncClient, sid: str) -> None:
    await subscribe(api)
    path = f"/v2/queues/fizbit/subscriptions/{sid}"

    got = await api.get(path)
    patched = await api.patch(path, json={"ttl": 90})
    confirmed = await api.put(f"{path}/confirm", json={"confirmed": True})
    deleted = await api.delete(path)

    assert [got.status_code, patched.status_code, confirmed.status_code] == [404, 404, 404]
    assert deleted.status_code == 204


async def test_list_after_any_marker_is_fine(api: httpx.AsyncClient) -> None:
    await subscribe(api)

    response = await api.get("/v2/queues/fizbit/subscriptions", params={"marker": "zzz"})

    assert response.status_code == 200
    assert response.json() == {"subscriptions": [], "links": []}


async def test_patch_replaces_options_and_sets_ttl(api: httpx.AsyncClient) -> None:
    sid = (await subscribe(api, options={"subject": "a", "from": "b@example.test"}))[
        "subscription_id"
    ]

    response = await api.patch(
        f"/v2/queues/fizbit/subscriptions/{sid}", json={"ttl": 120, "options": {"subject": "c"}}
    )

    assert response.status_code == 204
    assert response.headers["location"] == f"/v2/queues/fizbit/subscriptions/{sid}"
    found = (await api.get(f"/v2/queues/fizbit/subscriptions/{sid}")).json()
    assert found["options"] == {"subject": "c"}
    assert found["ttl"] == 120


async def test_a_patched_ttl_reads_back_as_given_and_the_age_goes_on(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    sid = (await subscribe(api))["subscription_id"]
    clock.advance(100)

    await api.patch(f"/v2/queues/fizbit/subscriptions/{sid}", json={"ttl": 7200})
    clock.advance(30)

    found = (await api.get(f"/v2/queues/fizbit/subscriptions/{sid}")).json()
    assert (found["ttl"], found["age"]) == (7200, 130)
    clock.advance(7200 - 31)
    assert (await api.get(f"/v2/queues/fizbit/subscriptions/{sid}")).status_code == 200
    clock.advance(2)
    assert (await api.get(f"/v2/queues/fizbit/subscriptions/{sid}")).status_code == 404


async def test_patch_to_a_taken_subscriber_is_409(api: httpx.AsyncClient) -> None:
    await subscribe(api, subscriber=f"{HOOK}/a")
    sid = (await subscribe(api, subscriber=f"{HOOK}/b"))["subscription_id"]

    response = await api.patch(
        f"/v2/queues/fizbit/subscriptions/{sid}", json={"subscriber": f"{HOOK}/a"}
    )

    assert_error(response, 409)


async def test_patch_of_an_unknown_subscription_is_404(api: httpx.AsyncClient) -> None:
    response = await api.patch(
        "/v2/queues/fizbit/subscriptions/00000000-0000-4000-8000-000000000000", json={"ttl": 90}
    )

    assert_error(response, 404, "Not found")


@pytest.mark.parametrize("body", [{}, {"unknown": 1}])
async def test_patch_with_nothing_to_change_is_400(api: httpx.AsyncClient, body: Any) -> None:
    sid = (await subscribe(api))["subscription_id"]

    response = await api.patch(f"/v2/queues/fizbit/subscriptions/{sid}", json=body)

    assert_error(response, 400, text="No subscription to create.")


@pytest.mark.parametrize("source", SOURCES)
async def test_delete_is_idempotent(api: httpx.AsyncClient, source: str) -> None:
    sid = (await subscribe(api, source))["subscription_id"]

    first = await api.delete(f"{source}/subscriptions/{sid}")
    second = await api.delete(f"{source}/subscriptions/{sid}")

    assert (first.status_code, second.status_code) == (204, 204)
    assert (await api.get(f"{source}/subscriptions/{sid}")).status_code == 404


async def test_deleting_the_queue_keeps_its_subscriptions(api: httpx.AsyncClient) -> None:
    sid = (await subscribe(api))["subscription_id"]

    await api.delete("/v2/queues/fizbit")

    assert (await api.get(f"/v2/queues/fizbit/subscriptions/{sid}")).status_code == 200


@pytest.mark.parametrize("source", SOURCES)
async def test_purge_of_subscriptions_removes_them(api: httpx.AsyncClient, source: str) -> None:
    await subscribe(api, source)

    response = await api.post(f"{source}/purge", json={"resource_types": ["subscriptions"]})

    assert response.status_code == 204
    assert (await api.get(f"{source}/subscriptions")).json()["subscriptions"] == []


async def test_another_project_sees_none_of_them(api: httpx.AsyncClient) -> None:
    sid = (await subscribe(api))["subscription_id"]
    stranger = other_project()

    listed = await api.get("/v2/queues/fizbit/subscriptions", headers=stranger)
    got = await api.get(f"/v2/queues/fizbit/subscriptions/{sid}", headers=stranger)
    deleted = await api.delete(f"/v2/queues/fizbit/subscriptions/{sid}", headers=stranger)

    assert listed.json()["subscriptions"] == []
    assert (got.status_code, deleted.status_code) == (404, 204)
    assert (await api.get(f"/v2/queues/fizbit/subscriptions/{sid}")).status_code == 200


async def test_queue_subscriber_receives_copies_in_the_same_post(api: httpx.AsyncClient) -> None:
    # Given a queue subscribed to another queue of the project
    await subscribe(api, subscriber="queue:copies")

    # When messages are posted to it
    await post_bodies(api, "fizbit", {"n": 1}, {"n": 2})

    # Then the other queue holds copies at once, no worker involved
    assert await listed_bodies(api, "copies") == [{"n": 1}, {"n": 2}]
    assert await listed_bodies(api, "fizbit") == [{"n": 1}, {"n": 2}]


async def test_queue_copies_are_not_hidden_from_the_poster(api: httpx.AsyncClient) -> None:
    await subscribe(api, subscriber="queue:copies")
    await post_bodies(api, "fizbit", "hello")

    listed = (await api.get("/v2/queues/copies/messages")).json()["messages"]

    assert [message["body"] for message in listed] == ["hello"]


async def test_unsubscribed_queue_gets_no_more_copies(api: httpx.AsyncClient) -> None:
    sid = (await subscribe(api, subscriber="queue:copies"))["subscription_id"]
    await api.delete(f"/v2/queues/fizbit/subscriptions/{sid}")

    await post_bodies(api, "fizbit", "late")

    assert await listed_bodies(api, "copies") == []


def mail_with(options: dict[str, Any]) -> dict[str, Any]:
    """A mail subscription with these options."""
    return {"subscriber": "mailto:ops@x.example", "options": options}


BAD_INPUTS = [
    pytest.param({"subscriber": "ftp://example.com/x"}, "must be supported in the list", id="ftp"),
    pytest.param({"subscriber": "example.com"}, "must be supported in the list", id="no-scheme"),
    pytest.param({"subscriber": 42}, '"subscriber" field must be a str', id="not-a-string"),
    pytest.param({"subscriber": "trust+http://x.example/"}, "not supported", id="trust"),
    pytest.param({"subscriber": "http:///nohost"}, "must name a host", id="no-host"),
    pytest.param({"subscriber": "http://[::1"}, "not a valid URI", id="bad-uri"),
    *(
        pytest.param({"subscriber": url}, f"The subscriber URL cannot be sent to: {why}", id=id_)
        for id_, url, why in [
            ("url-newline", "http://x.example/\n", "Invalid non-printable ASCII character"),
            ("url-nul", "http://x.example/\x00", "Invalid non-printable ASCII character"),
            ("url-idna", "http://0\U000f9b0f/", "Invalid IDNA hostname"),
            ("url-port-text", "http://x.example:abc/", "Invalid port"),
            ("url-port-high", "http://x.example:65536/", "Port out of range"),
            ("url-port-zero", "https://x.example:0/", "port 0 cannot be reached"),
            ("url-too-long", "http://x.example/" + "a" * 70_000, "URL too long"),
        ]
    ),
    pytest.param({"subscriber": "mailto:nobody"}, "mailto:user@example.com", id="bad-mail"),
    pytest.param({"subscriber": "mailto:ops@"}, "mailto:user@example.com", id="no-domain"),
    pytest.param({"subscriber": "mailto:@x.example"}, "mailto:user@example.com", id="no-user"),
    pytest.param({"subscriber": "mailto:a@b@c"}, "mailto:user@example.com", id="two-at"),
    pytest.param({"subscriber": "mailto:o ps@x.example"}, "mailto:user@example.com", id="space"),
    pytest.param(
        {"subscriber": "mailto:ops@x.example,"}, "mailto:user@example.com", id="empty-address"
    ),
    pytest.param(
        {"subscriber": "mailto:ops@x.example?subject=a%0D%0ABcc:%20eve@x.example"},
        "The subscriber's subject must be one line, with no control character.",
        id="subject-two-lines",
    ),
    pytest.param(
        {"subscriber": "mailto:ops@x.example?subject=a%00"},
        "The subscriber's subject must be one line, with no control character.",
        id="subject-nul",
    ),
    pytest.param(
        {"subscriber": "mailto:ops@x.example?subject=\x00"},
        "The subscriber must be one line, with no control character.",
        id="mailto-nul",
    ),
    pytest.param(
        {"subscriber": "mailto:ops@x.example?x=\x1b"},
        "The subscriber must be one line, with no control character.",
        id="mailto-escape",
    ),
    *(
        pytest.param(mail_with({"from": sender}), 'The "from" option must be one address', id=why)
        for why, sender in [
            ("from-no-domain", "ops@"),
            ("from-two", "a@x.example, b@x.example"),
            ("from-unclosed", "Ops <ops@x.example"),
        ]
    ),
    pytest.param(
        mail_with({"subject": "news\nBcc: eve@x"}),
        'The "subject" option must be one line, with no control character.',
        id="subject-option-two-lines",
    ),
    pytest.param(
        mail_with({"subject": "news\x00"}),
        'The "subject" option must be one line, with no control character.',
        id="subject-option-nul",
    ),
    pytest.param({"subscriber": "queue:bad name"}, "Queue names may only", id="bad-queue"),
    pytest.param({"subscriber": "queue:fizbit"}, "cannot subscribe to itself", id="self"),
    pytest.param({"ttl": 600}, "Missing parameter subscriber", id="no-subscriber"),
    pytest.param({}, "No subscription to create.", id="empty"),
    pytest.param({"subscriber": HOOK, "ttl": 59}, "at least 60 seconds", id="ttl-low"),
    pytest.param({"subscriber": HOOK, "ttl": "60"}, '"ttl" field must be a int', id="ttl-str"),
    pytest.param({"subscriber": HOOK, "ttl": True}, '"ttl" field must be a int', id="ttl-bool"),
    pytest.param({"subscriber": HOOK, "ttl": 2**62}, "plus current time", id="ttl-overflow"),
    pytest.param({"subscriber": HOOK, "options": []}, "Options must be a dict.", id="options"),
    pytest.param(
        {"subscriber": HOOK, "options": {"post_headers": {"a": 1}}},
        "post_headers values must be strings",
        id="headers",
    ),
    *(
        pytest.param(
            {"subscriber": HOOK, "options": {"post_headers": headers}},
            f"post_headers cannot be sent: {why}",
            id=id_,
        )
        for id_, headers, why in [
            ("header-name-space", {"X Colour": "green"}, "'X Colour' is not a header name"),
            ("header-name-empty", {"": "green"}, "'' is not a header name"),
            ("header-name-accent", {"X-Café": "1"}, "'X-Café' is not a header name"),
            ("header-framing", {"Content-Length": "5"}, "Content-Length is set from the body"),
            ("header-chunked", {"transfer-encoding": "chunked"}, "transfer-encoding is set"),
            ("header-two-lines", {"X-A": "a\r\nX-B: b"}, "the value of X-A is not one line"),
            ("header-accent", {"X-A": "vert émeraude"}, "the value of X-A is not one line"),
            ("header-nul", {"X-A": "a\x00"}, "the value of X-A is not one line"),
            ("header-padded", {"X-A": " a"}, "the value of X-A is not one line"),
        ]
    ),
    pytest.param(
        {"subscriber": HOOK, "options": {"post_data": {}}},
        '"post_data" field must be a str',
        id="post-data",
    ),
    pytest.param(
        {"subscriber": HOOK, "options": {"dead_letter_queue": "no good"}},
        "Queue names may only",
        id="dead-letter-queue",
    ),
]


@pytest.mark.parametrize(("body", "text"), BAD_INPUTS)
async def test_bad_subscription_is_400(api: httpx.AsyncClient, body: Any, text: str) -> None:
    response = await api.post("/v2/queues/fizbit/subscriptions", json=body)

    assert_error(response, 400, text=text)
    assert (await api.get("/v2/queues/fizbit/subscriptions")).json()["subscriptions"] == []


async def test_bad_subscriber_on_patch_is_400(api: httpx.AsyncClient) -> None:
    sid = (await subscribe(api))["subscription_id"]

    response = await api.patch(
        f"/v2/queues/fizbit/subscriptions/{sid}", json={"subscriber": "gopher://x"}
    )

    assert_error(response, 400, text="must be supported in the list")


BAD_POLICIES = [
    pytest.param("often", '"_retry_policy" field must be a dict', id="not-a-dict"),
    pytest.param({"retry_backoff_function": "cubic"}, "must be one of", id="function"),
    pytest.param({"retry_backoff_function": 1}, "must be a str", id="function-type"),
    pytest.param({"minimum_delay": "5"}, '"minimum_delay" field must be a int', id="delay-str"),
    pytest.param({"minimum_delay": 0}, "at least 1 second", id="delay-zero"),
    pytest.param({"minimum_delay": 25}, "exceed minimum_delay by at least 10", id="too-close"),
    pytest.param({"maximum_delay": 3}, "exceed minimum_delay by at least 10", id="max-below"),
    pytest.param({"retries_with_no_delay": -1}, "may not be negative", id="negative"),
    pytest.param({"ignore_subscription_override": "yes"}, "must be a bool", id="ignore"),
    pytest.param({"retries": 3}, "Unknown retry policy keys: retries", id="unknown-key"),
]


@pytest.mark.parametrize(("policy", "text"), BAD_POLICIES)
async def test_bad_retry_policy_in_options_is_400(
    api: httpx.AsyncClient, policy: Any, text: str
) -> None:
    response = await api.post(
        "/v2/queues/fizbit/subscriptions",
        json={"subscriber": HOOK, "options": {"_retry_policy": policy}},
    )

    assert_error(response, 400, text=text)


@pytest.mark.parametrize(("policy", "text"), BAD_POLICIES)
async def test_bad_retry_policy_in_queue_metadata_is_400(
    api: httpx.AsyncClient, policy: Any, text: str
) -> None:
    response = await api.put("/v2/queues/fizbit", json={"_retry_policy": policy})

    assert_error(response, 400, text=text)


async def test_good_retry_policy_is_kept(api: httpx.AsyncClient) -> None:
    policy = {"retries_with_no_delay": 1, "minimum_delay": 2, "maximum_delay": 12}
    created = await subscribe(api, options={"_retry_policy": policy})
    put = await api.put("/v2/queues/other", json={"_retry_policy": policy})

    found = await api.get(f"/v2/queues/fizbit/subscriptions/{created['subscription_id']}")

    assert found.json()["options"] == {"_retry_policy": policy}
    assert put.status_code == 201
    assert (await api.get("/v2/queues/other")).json()["_retry_policy"] == policy


async def test_every_supported_scheme_is_accepted(api: httpx.AsyncClient) -> None:
    for subscriber in (HOOK, "https://x.example/", "mailto:a@x.example", "queue:other"):
        await subscribe(api, subscriber=subscriber)
