"""Two ``tidings serve`` processes over three pools (a SQLite file, a private Redis, a PostgreSQL
database), their catalog in a SQLite file both share: any node serves any queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, caller_headers
from tests.servers.redis import RedisServer
from tidings.storage.base import storage_from_url

PROJECT = "tenant"
REFRESH = 0.2
"""The nodes' catalog refresh (seconds): how long a node may route by what it read before."""


@dataclass
class Deployment:
    nodes: list[ServerProcess]
    redis: RedisServer
    pools: dict[str, str]
    """Pool name to URI."""

    def client(self, node: int) -> httpx.Client:
        headers = caller_headers(PROJECT) | {"X-Roles": "admin"}
        return httpx.Client(base_url=self.nodes[node].url, headers=headers, timeout=10)

    def where(self, *queues: str) -> dict[str, str]:
        """The pool holding each queue, looked up in the pools themselves."""
        return asyncio.run(_where(self.pools, queues))


async def _where(pools: dict[str, str], queues: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for name, uri in pools.items():
        driver = storage_from_url(uri)
        await driver.open()
        try:
            for queue in queues:
                if await driver.queue_get_metadata(PROJECT, queue) is not None:
                    found[queue] = name
        finally:
            await driver.close()
    return found


@pytest.fixture
def deployment(tmp_path: Path, postgres_url: str) -> Iterator[Deployment]:
    redis = RedisServer(tmp_path / "redis", appendonly=True)
    redis.start()
    pools = {
        "file": f"sqlite:///{tmp_path / 'pool-file.db'}",
        "redis": redis.url,
        "postgres": postgres_url,
    }
    env = {
        "TIDINGS_AUTH_TRUST_ROLE_HEADERS": "true",
        "TIDINGS_STORAGE_CATALOG_REFRESH": str(REFRESH),
    }
    management = f"sqlite:///{tmp_path / 'management.db'}"
    nodes = [
        ServerProcess(database=tmp_path / "management.db", storage_url=management, env=env)
        for _ in range(2)
    ]
    try:
        for node in nodes:
            node.start()
        deployment = Deployment(nodes, redis, pools)
        with deployment.client(0) as admin:
            for name, uri in pools.items():
                response = admin.put(f"/v2/pools/{name}", json={"uri": uri, "weight": 1})
                assert response.status_code == 201, response.text
        time.sleep(REFRESH * 2)
        yield deployment
    finally:
        for node in nodes:
            node.stop()
        redis.stop()


def post(client: httpx.Client, queue: str, body: Any) -> None:
    response = client.post(f"/v2/queues/{queue}/messages", json={"messages": [{"body": body}]})
    assert response.status_code == 201, response.text


def claimed_bodies(client: httpx.Client, queue: str) -> list[Any]:
    response = client.post(f"/v2/queues/{queue}/claims", json={"ttl": 60, "grace": 60})
    assert response.status_code in (201, 204), response.text
    return [] if response.status_code == 204 else [m["body"] for m in response.json()["messages"]]


def test_queues_spread_over_the_pools_and_any_node_serves_them(deployment: Deployment) -> None:
    queues = [f"spread-{number:02}" for number in range(45)]
    with deployment.client(0) as one, deployment.client(1) as two:
        # When queues are created through both nodes
        for number, queue in enumerate(queues):
            post(one if number % 2 else two, queue, queue)

        # Then every pool got some (each gets none with odds of (2/3)^45, below 1e-7)
        where = deployment.where(*queues)
        assert sorted(where) == queues
        assert set(where.values()) == {"file", "redis", "postgres"}

        # And a message posted through one node is claimed through the other, in every pool
        for queue in queues:
            assert claimed_bodies(one if queue.endswith(("0", "2", "4")) else two, queue) == [queue]


def test_a_weight_of_zero_pins_new_queues_elsewhere(deployment: Deployment) -> None:
    with deployment.client(0) as one, deployment.client(1) as two:
        for name in ("file", "postgres"):
            assert one.patch(f"/v2/pools/{name}", json={"weight": 0}).status_code == 200
        time.sleep(REFRESH * 2)

        for number in range(10):
            post(two, f"pinned-{number}", number)

        assert set(deployment.where(*(f"pinned-{n}" for n in range(10))).values()) == {"redis"}


def test_a_flavor_pins_a_queue_to_its_pools(deployment: Deployment) -> None:
    with deployment.client(0) as one, deployment.client(1) as two:
        # Given a flavor of the PostgreSQL pool, defined through node 1
        assert one.put("/v2/flavors/durable", json={"pool_list": ["postgres"]}).status_code == 201
        flavor = one.get("/v2/flavors/durable").json()
        assert flavor["capabilities"] == ["FIFO", "CLAIMS", "DURABILITY", "AOD"]
        time.sleep(REFRESH * 2)

        # When node 2 creates queues of that flavor
        for number in range(5):
            response = two.put(f"/v2/queues/ledger-{number}", json={"_flavor": "durable"})
            assert response.status_code == 201, response.text
            post(one, f"ledger-{number}", number)

        # Then they are all in PostgreSQL, and served by both nodes
        assert set(deployment.where(*(f"ledger-{n}" for n in range(5))).values()) == {"postgres"}
        assert claimed_bodies(two, "ledger-3") == [3]


def test_listing_pages_through_every_pool(deployment: Deployment) -> None:
    queues = sorted(f"list-{number:02}" for number in range(12))
    with deployment.client(0) as one, deployment.client(1) as two:
        for queue in queues:
            assert one.put(f"/v2/queues/{queue}").status_code == 201
        assert len(set(deployment.where(*queues).values())) > 1

        # When the queues are listed three at a time, alternating nodes
        listed: list[str] = []
        page = two.get("/v2/queues", params={"limit": 3, "with_count": "true"}).json()
        assert page["count"] == 12
        for turn in range(10):
            listed += [queue["name"] for queue in page["queues"]]
            if not page["queues"]:
                break
            page = (one if turn % 2 else two).get(page["links"][0]["href"]).json()

        # Then each comes once, in order
        assert listed == queues


def test_deleting_a_pool_that_holds_queues_is_refused(deployment: Deployment) -> None:
    with deployment.client(0) as one, deployment.client(1) as two:
        # Given a queue in the file pool only
        for name in ("redis", "postgres"):
            assert one.patch(f"/v2/pools/{name}", json={"weight": 0}).status_code == 200
        time.sleep(REFRESH * 2)
        post(two, "keeper", "precious")
        assert deployment.where("keeper") == {"keeper": "file"}

        # Then the pool cannot go
        refused = two.delete("/v2/pools/file")
        assert refused.status_code == 409, refused.text
        assert "still holds queues" in refused.json()["description"]
        assert claimed_bodies(one, "keeper") == ["precious"]

        # Until its queue is gone
        assert one.delete("/v2/queues/keeper").status_code == 204
        assert two.delete("/v2/pools/file").status_code == 204
        assert one.get("/v2/pools/file").status_code == 404


def test_a_pool_down_fails_only_its_queues(deployment: Deployment) -> None:
    with deployment.client(0) as one, deployment.client(1) as two:
        # Given queues in every pool
        queues = [f"outage-{number:02}" for number in range(30)]
        for queue in queues:
            post(one, queue, "before")
        where = deployment.where(*queues)
        assert set(where.values()) == {"file", "redis", "postgres"}

        # When the Redis pool goes away
        deployment.redis.stop()

        # Then its queues answer 503 on both nodes, quickly, and the others work
        for queue in queues:
            for client in (one, two):
                started = time.monotonic()
                response = client.post(
                    f"/v2/queues/{queue}/messages", json={"messages": [{"body": "during"}]}
                )
                expected = 503 if where[queue] == "redis" else 201
                assert response.status_code == expected, (queue, response.text)
                assert time.monotonic() - started < 3
        health = one.get("/v2/health").json()
        assert health["redis"] == {"storage_reachable": False}
        assert health["file"] == health["postgres"] == {"storage_reachable": True}

        # When it comes back, its queues work again without a restart
        deployment.redis.start()
        in_redis = next(queue for queue in queues if where[queue] == "redis")
        deadline = time.monotonic() + 20
        while (claim := two.post(f"/v2/queues/{in_redis}/claims")).status_code == 503:
            assert time.monotonic() < deadline, "no recovery"
            time.sleep(0.2)
        assert [message["body"] for message in claim.json()["messages"]] == ["before"]
