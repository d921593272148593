"""Tenant isolation: another project (or another queue of the same project) can neither see
nor change project A's queue ``work``, by name or by id, on any endpoint. Each attack is
followed by a look from A's side: A's queue, metadata, stats, messages and claim are intact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.support import JSON_PATCH, claim, post_messages
from tests.conftest import caller_headers

QUEUE = "work"
SECRET_META = "meta-secret-of-a"
SECRET_BODIES = ["body-secret-claimed", "body-secret-free", "body-secret-delayed"]
SECRET_SUBSCRIBER = "http://127.0.0.1:9/hook-secret-of-a"


@dataclass(frozen=True)
class Victim:
    """Project A's queue ``work``: a claimed, a free and a delayed message, the claim, and a
    subscription."""

    claimed_id: str
    free_id: str
    delayed_id: str
    claim_id: str
    subscription_id: str

    def secrets(self) -> list[str]:
        ids = [self.claimed_id, self.free_id, self.delayed_id, self.claim_id]
        return [*ids, self.subscription_id, SECRET_META, SECRET_SUBSCRIBER, *SECRET_BODIES]

    def fill(self, template: str, own_id: str) -> str:
        return template.format(
            mid=self.claimed_id,
            free=self.free_id,
            cid=self.claim_id,
            sid=self.subscription_id,
            own=own_id,
        )


@dataclass(frozen=True)
class Attacker:
    headers: dict[str, str]
    queue: str
    own_id: str
    """A message of the attacker's queue held by the attacker's own claim."""


async def make_victim(api: httpx.AsyncClient) -> Victim:
    """Fill the caller's queue ``work`` with what attackers must never reach."""
    await api.put(f"/v2/queues/{QUEUE}", json={"secret": SECRET_META, "_default_message_ttl": 600})
    claimed_id, free_id, delayed_id = await post_messages(
        api,
        QUEUE,
        {"body": SECRET_BODIES[0]},
        {"body": SECRET_BODIES[1]},
        {"body": SECRET_BODIES[2], "delay": 300},
    )
    claim_id, _ = await claim(api, QUEUE, ttl=120, limit=1)
    subscribed = await api.post(
        f"/v2/queues/{QUEUE}/subscriptions", json={"subscriber": SECRET_SUBSCRIBER, "ttl": 3600}
    )
    assert subscribed.status_code == 201, subscribed.text
    subscription_id = subscribed.json()["subscription_id"]
    return Victim(claimed_id, free_id, delayed_id, claim_id, subscription_id)


@pytest.fixture
async def victim(api: httpx.AsyncClient) -> Victim:
    return await make_victim(api)


async def make_attacker(
    api: httpx.AsyncClient, project: str, queue: str, populated: bool
) -> Attacker:
    """A caller of ``project`` using ``queue``; when populated, it holds messages and a claim."""
    headers = caller_headers(project)
    if not populated:
        return Attacker(headers, queue, "none")
    [own_id] = await post_messages(api, queue, {"body": "attacker"}, headers=headers)
    await post_messages(api, queue, {"body": "attacker-free"}, headers=headers)
    await claim(api, queue, limit=1, headers=headers)
    return Attacker(headers, queue, own_id)


async def snapshot(api: httpx.AsyncClient, victim: Victim) -> dict[str, Any]:
    """Everything project A can see of its queue."""
    base = f"/v2/queues/{QUEUE}"
    ids = f"{victim.claimed_id},{victim.free_id},{victim.delayed_id}"
    reads = {
        "queues": "/v2/queues?detailed=true&with_count=true",
        "metadata": base,
        "stats": f"{base}/stats",
        "messages": f"{base}/messages?echo=true&include_claimed=true&include_delayed=true",
        "by_ids": f"{base}/messages?ids={ids}",
        "claimed": f"{base}/messages/{victim.claimed_id}",
        "claim": f"{base}/claims/{victim.claim_id}",
        "subscriptions": f"{base}/subscriptions",
        "subscription": f"{base}/subscriptions/{victim.subscription_id}",
    }
    seen = {}
    for name, url in reads.items():
        response = await api.get(url)
        seen[name] = (response.status_code, response.json())
    return seen


async def assert_isolated(
    api: httpx.AsyncClient,
    victim: Victim,
    request: tuple[str, str, Any],
    headers: dict[str, str],
    status: int,
) -> None:
    """The attacker's ``request`` (method, path, body) is answered ``status``, shows nothing
    of the victim's, and leaves the victim's queue as it was."""
    method, path, body = request
    before = await snapshot(api, victim)
    response = await api.request(method, path, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert_no_leak(response, victim)
    assert await snapshot(api, victim) == before


def assert_no_leak(response: httpx.Response, victim: Victim) -> None:
    assert response.status_code < 500, response.text
    for secret in victim.secrets():
        assert secret not in response.text
        assert secret not in response.headers.get("location", "")


# Attacks naming A's queue from another project: (method, url, body, status when the attacker
# has no queue of that name, status when it has one with its own messages and claim).
QUEUE_ATTACKS = [
    ("list-queues", "GET", "/v2/queues?detailed=true&with_count=true", None, 200, 200),
    ("get-queue", "GET", "/v2/queues/work", None, 200, 200),
    ("put-queue", "PUT", "/v2/queues/work", {"secret": "b", "_default_message_ttl": 60}, 201, 204),
    (
        "patch-add",
        "PATCH",
        "/v2/queues/work",
        [{"op": "add", "path": "/metadata/x", "value": 1}],
        404,
        200,
    ),
    (
        "patch-replace",
        "PATCH",
        "/v2/queues/work",
        [{"op": "replace", "path": "/metadata/_default_message_ttl", "value": 60}],
        404,
        200,
    ),
    ("delete-queue", "DELETE", "/v2/queues/work", None, 204, 204),
    ("stats", "GET", "/v2/queues/work/stats", None, 200, 200),
    ("purge", "POST", "/v2/queues/work/purge", None, 204, 204),
    ("purge-messages", "POST", "/v2/queues/work/purge", {"resource_types": ["messages"]}, 204, 204),
    ("post", "POST", "/v2/queues/work/messages", {"messages": [{"body": "b"}]}, 201, 201),
    (
        "list-messages",
        "GET",
        "/v2/queues/work/messages?echo=true&include_claimed=true&include_delayed=true&limit=20",
        None,
        200,
        200,
    ),
    ("list-with-marker", "GET", "/v2/queues/work/messages?echo=true&marker=0", None, 200, 200),
    ("pop", "DELETE", "/v2/queues/work/messages?pop=20", None, 200, 200),
    ("claim", "POST", "/v2/queues/work/claims?limit=20", {"ttl": 60}, 204, 201),
    ("list-subscriptions", "GET", "/v2/queues/work/subscriptions", None, 200, 200),
    (
        "subscribe-same-subscriber",
        "POST",
        "/v2/queues/work/subscriptions",
        {"subscriber": SECRET_SUBSCRIBER},
        201,
        201,
    ),
    (
        "purge-subscriptions",
        "POST",
        "/v2/queues/work/purge",
        {"resource_types": ["subscriptions"]},
        204,
        204,
    ),
]

# Attacks using A's ids on the attacker's queue: (method, url template, body, status when the
# attacker's queue is absent, status when it holds the attacker's messages and claim).
ID_ATTACKS = [
    ("get-message", "GET", "/messages/{mid}", None, 404, 404),
    ("get-free-message", "GET", "/messages/{free}", None, 404, 404),
    ("get-by-ids", "GET", "/messages?ids={mid},{free}", None, 404, 404),
    ("delete-message", "DELETE", "/messages/{free}", None, 204, 204),
    ("delete-claimed", "DELETE", "/messages/{mid}", None, 204, 204),
    ("delete-with-claim", "DELETE", "/messages/{mid}?claim_id={cid}", None, 204, 204),
    ("delete-by-ids", "DELETE", "/messages?ids={mid},{free}", None, 204, 204),
    ("delete-by-claim-ids", "DELETE", "/messages?ids={mid}&claim_ids={cid}", None, 204, 204),
    ("get-claim", "GET", "/claims/{cid}", None, 404, 404),
    ("renew-claim", "PATCH", "/claims/{cid}", {"ttl": 900, "grace": 900}, 404, 404),
    ("release-claim", "DELETE", "/claims/{cid}", None, 204, 204),
    ("own-message-with-a-claim", "DELETE", "/messages/{own}?claim_id={cid}", None, 204, 400),
    ("get-subscription", "GET", "/subscriptions/{sid}", None, 404, 404),
    ("update-subscription", "PATCH", "/subscriptions/{sid}", {"ttl": 60}, 404, 404),
    ("confirm-subscription", "PUT", "/subscriptions/{sid}/confirm", {"confirmed": True}, 404, 404),
    ("delete-subscription", "DELETE", "/subscriptions/{sid}", None, 204, 204),
]

SCENARIOS = [
    pytest.param("project-b", QUEUE, False, id="b-same-name-absent"),
    pytest.param("project-b", QUEUE, True, id="b-same-name-own"),
    pytest.param("project-b", "mine", True, id="b-own-queue"),
    pytest.param("project-a", "other", True, id="a-other-queue"),
]


def attack_params(table: list[Any]) -> list[Any]:
    return [pytest.param(*row[1:], id=row[0]) for row in table]


@pytest.mark.parametrize("populated", [False, True], ids=["absent", "own"])
@pytest.mark.parametrize(
    ("method", "url", "body", "status_absent", "status_own"), attack_params(QUEUE_ATTACKS)
)
async def test_another_project_cannot_touch_a_queue_by_name(
    api: httpx.AsyncClient,
    victim: Victim,
    populated: bool,
    method: str,
    url: str,
    body: Any,
    status_absent: int,
    status_own: int,
) -> None:
    # Given project B, with or without its own queue of the same name
    attacker = await make_attacker(api, "project-b", QUEUE, populated)
    headers = dict(attacker.headers)
    if method == "PATCH":
        headers["Content-Type"] = JSON_PATCH

    # When B calls the endpoint on that name, then it sees only its own world
    status = status_own if populated else status_absent
    await assert_isolated(api, victim, (method, url, body), headers, status)


@pytest.mark.parametrize(("project", "queue", "populated"), SCENARIOS)
@pytest.mark.parametrize(
    ("method", "url", "body", "status_absent", "status_own"), attack_params(ID_ATTACKS)
)
async def test_ids_of_a_queue_do_not_work_elsewhere(
    api: httpx.AsyncClient,
    victim: Victim,
    project: str,
    queue: str,
    populated: bool,
    method: str,
    url: str,
    body: Any,
    status_absent: int,
    status_own: int,
) -> None:
    # Given another caller (another project, or another queue of project A)
    attacker = await make_attacker(api, project, queue, populated)

    # When it uses A's message and claim ids on its own queue, then they name nothing there
    path = f"/v2/queues/{attacker.queue}" + victim.fill(url, attacker.own_id)
    status = status_own if populated else status_absent
    await assert_isolated(api, victim, (method, path, body), attacker.headers, status)


async def test_another_project_counts_and_lists_no_queue(
    api: httpx.AsyncClient, victim: Victim
) -> None:
    response = await api.get(
        "/v2/queues", params={"with_count": "true"}, headers=caller_headers("project-b")
    )

    assert response.json() == {"queues": [], "links": [], "count": 0}


async def test_another_project_sees_default_metadata_and_zero_stats(
    api: httpx.AsyncClient, victim: Victim
) -> None:
    headers = caller_headers("project-b")

    metadata = (await api.get("/v2/queues/work", headers=headers)).json()
    stats = (await api.get("/v2/queues/work/stats", headers=headers)).json()

    assert "secret" not in metadata
    assert metadata["_default_message_ttl"] == 3600
    assert stats == {"messages": {"claimed": 0, "free": 0, "delayed": 0, "total": 0}}


async def test_a_keeps_full_use_of_its_claim_after_attacks(
    api: httpx.AsyncClient, victim: Victim
) -> None:
    # Given B tried to release, renew and use A's claim
    headers = caller_headers("project-b")
    claim_url = f"/v2/queues/work/claims/{victim.claim_id}"
    await api.delete(claim_url, headers=headers)
    await api.patch(claim_url, json={"ttl": 60}, headers=headers)

    # Then A's claimed message still needs A's claim, and A can delete it with it
    message_url = f"/v2/queues/work/messages/{victim.claimed_id}"
    assert (await api.delete(message_url)).status_code == 403
    response = await api.delete(message_url, params={"claim_id": victim.claim_id})
    assert response.status_code == 204


async def test_a_dead_letter_queue_stays_in_its_project(
    api: httpx.AsyncClient, victim: Victim
) -> None:
    # Given B's queue dead-letters into a queue named like A's
    headers = caller_headers("project-b")
    meta = {"_dead_letter_queue": QUEUE, "_max_claim_count": 1}
    await api.put("/v2/queues/b-work", json=meta, headers=headers)
    await post_messages(api, "b-work", {"body": "b-poison"}, headers=headers)
    claim_id, _ = await claim(api, "b-work", headers=headers)
    await api.delete(f"/v2/queues/b-work/claims/{claim_id}", headers=headers)
    before = await snapshot(api, victim)

    # When B's message is dead-lettered
    assert (await api.post("/v2/queues/b-work/claims", headers=headers)).status_code == 204

    # Then it lands in B's queue of that name, not in A's
    assert await snapshot(api, victim) == before
    listed = await api.get("/v2/queues/work/messages", params={"echo": "true"}, headers=headers)
    assert [m["body"] for m in listed.json()["messages"]] == ["b-poison"]
