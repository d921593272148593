"""Tenant isolation with Keystone tokens: project A's users (a member, an admin) call every
endpoint with project B's queue name and B's message, claim and subscription ids, and never
reach B's data.

The attack tables are those of ``tests/api/test_isolation.py`` (there the caller's project is a
header; here it comes from the token). After each attack, B's view of its queue is unchanged.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.support import JSON_PATCH, claim, post_messages
from tests.api.test_isolation import (
    ID_ATTACKS,
    QUEUE,
    QUEUE_ATTACKS,
    Victim,
    assert_isolated,
    assert_no_leak,
    attack_params,
    make_victim,
)
from tests.auth.conftest import MakeApi, user
from tests.servers.keystone import Keystone


@pytest.fixture
async def api(make_api: MakeApi) -> httpx.AsyncClient:
    """Calls as b-member: project B is the victim here."""
    return await make_api(caller="b-member")


@pytest.fixture
async def victim(api: httpx.AsyncClient) -> Victim:
    """B's queue ``work``: messages, a claim and a subscription."""
    return await make_victim(api)


async def attacker(
    api: httpx.AsyncClient, headers: dict[str, str], queue: str, populated: bool
) -> str:
    """Give the attacker's ``queue`` its own messages and claim when populated; return the id
    of the attacker's claimed message."""
    if not populated:
        return "none"
    [own_id] = await post_messages(api, queue, {"body": "attacker"}, headers=headers)
    await post_messages(api, queue, {"body": "attacker-free"}, headers=headers)
    await claim(api, queue, limit=1, headers=headers)
    return own_id


@pytest.mark.parametrize("populated", [False, True], ids=["absent", "own"])
@pytest.mark.parametrize(
    ("method", "url", "body", "status_absent", "status_own"), attack_params(QUEUE_ATTACKS)
)
async def test_another_project_cannot_touch_a_queue_by_name(
    api: httpx.AsyncClient,
    keystone: Keystone,
    victim: Victim,
    populated: bool,
    method: str,
    url: str,
    body: Any,
    status_absent: int,
    status_own: int,
) -> None:
    # Given a member of project A, with or without its own queue of the same name
    headers = user(keystone, "a-member")
    await attacker(api, headers, QUEUE, populated)
    if method == "PATCH":
        headers["Content-Type"] = JSON_PATCH

    # When A calls the endpoint on that name, then it sees only its own world
    status = status_own if populated else status_absent
    await assert_isolated(api, victim, (method, url, body), headers, status)


SCENARIOS = [
    pytest.param("a-member", QUEUE, False, id="a-member-same-name-absent"),
    pytest.param("a-member", QUEUE, True, id="a-member-same-name-own"),
    pytest.param("a-admin", "mine", True, id="a-admin-own-queue"),
    pytest.param("b-admin", "other", True, id="b-admin-other-queue"),
]


@pytest.mark.parametrize(("caller", "queue", "populated"), SCENARIOS)
@pytest.mark.parametrize(
    ("method", "url", "body", "status_absent", "status_own"), attack_params(ID_ATTACKS)
)
async def test_ids_of_a_queue_do_not_work_elsewhere(
    api: httpx.AsyncClient,
    keystone: Keystone,
    victim: Victim,
    caller: str,
    queue: str,
    populated: bool,
    method: str,
    url: str,
    body: Any,
    status_absent: int,
    status_own: int,
) -> None:
    # Given another caller: A's member or admin, or B's admin on another queue of B
    headers = user(keystone, caller)
    own_id = await attacker(api, headers, queue, populated)

    # When it uses B's message and claim ids on its own queue, then they name nothing there
    path = f"/v2/queues/{queue}" + victim.fill(url, own_id)
    status = status_own if populated else status_absent
    await assert_isolated(api, victim, (method, path, body), headers, status)


async def test_a_share_of_the_same_name_signs_only_the_callers_project(
    api: httpx.AsyncClient, keystone: Keystone, victim: Victim
) -> None:
    # Given A shares a queue named like B's
    headers = user(keystone, "a-member")
    shared = await api.post(f"/v2/queues/{QUEUE}/share", json={}, headers=headers)
    assert shared.status_code == 200
    assert shared.json()["project"] == keystone.projects["tidings-a"]

    # When the URL is used, as signed or claiming B's project
    signed = {
        "URL-Signature": shared.json()["signature"],
        "URL-Expires": shared.json()["expires"],
        "URL-Methods": "GET",
        "URL-Paths": f"/v2/queues/{QUEUE}/messages",
        "Client-ID": headers["Client-ID"],
    }
    url = f"/v2/queues/{QUEUE}/messages?echo=true&include_claimed=true"
    as_signed = await api.get(url, headers=signed | {"X-Project-ID": shared.json()["project"]})
    as_b = await api.get(url, headers=signed | {"X-Project-ID": keystone.projects["tidings-b"]})

    # Then it reads A's empty queue, or nothing
    assert as_signed.json() == {"messages": [], "links": []}
    assert as_b.status_code == 404
    assert_no_leak(as_signed, victim)
