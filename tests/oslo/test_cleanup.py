"""Queues owned by one process (reply and fanout queues) go away with it: deleted by a clean
shutdown, or swept by any other process once their lease has passed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import oslo_messaging as om
import pytest

from tests.conftest import ServerProcess, caller_headers
from tests.oslo.conftest import Recorder
from tidings.client import Client
from tidings.integrations.bus import EXPIRES_KEY, Bus, BusOptions


def queue_names(server: ServerProcess, project: str) -> list[str]:
    names: list[str] = []
    marker = ""
    with httpx.Client(base_url=server.url, headers=caller_headers(project)) as http:
        while True:
            page = http.get("/v2/queues", params={"limit": 20, "marker": marker}).json()
            if not page["queues"]:
                return names
            names += [queue["name"] for queue in page["queues"]]
            marker = names[-1]


def create(server: ServerProcess, project: str, name: str, metadata: dict[str, Any]) -> None:
    response = httpx.put(
        f"{server.url}/v2/queues/{name}", json=metadata, headers=caller_headers(project)
    )
    assert response.status_code == 201


@pytest.fixture
def bus(tidings: ServerProcess, project: str) -> Iterator[Bus]:
    """A bus that never sweeps by itself."""
    made = Bus(lambda: Client(tidings.url, project), BusOptions(sweep_interval=0))
    yield made
    made.close()


def test_a_clean_shutdown_deletes_the_reply_and_fanout_queues(
    tidings: ServerProcess, project: str, transport: Any
) -> None:
    # Given a server that answered a call
    target = om.Target(topic="tidy", server="s1")
    server = om.get_rpc_server(transport, target, [Recorder("s1")])
    server.start()
    om.get_rpc_client(transport, target, timeout=10).call({}, "echo", value=1)
    owned = [name for name in queue_names(tidings, project) if name.startswith("oslo-tmp.")]
    assert sorted(name.split(".")[1] for name in owned) == ["fanout", "reply"]

    # When the server stops and the transport is cleaned up
    server.stop()
    server.wait()
    transport.cleanup()

    # Then only the shared queues are left: the server's, and the fanout source (made by the
    # subscription; copies reach no queue once it has no subscriber)
    assert queue_names(tidings, project) == ["rpc-fanout.tidy", "rpc-server.openstack.tidy.s1"]


def test_a_sweep_deletes_the_expired_owned_queues_of_any_process(
    tidings: ServerProcess, project: str, bus: Bus
) -> None:
    # Given 25 owned queues whose lease has passed, one without a stamp, one alive, and a
    # shared queue
    past, future = time.time() - 1, time.time() + 300
    for n in range(25):
        create(tidings, project, f"oslo-tmp.reply.dead{n:02}", {EXPIRES_KEY: past})
    create(tidings, project, "oslo-tmp.fanout.unstamped", {})
    create(tidings, project, "oslo-tmp.reply.alive", {EXPIRES_KEY: future})
    create(tidings, project, "rpc.openstack.shared", {})

    # When a bus sweeps
    bus.call(bus.leases.sweep())

    # Then the expired and unstamped owned queues are gone
    assert queue_names(tidings, project) == ["oslo-tmp.reply.alive", "rpc.openstack.shared"]


def test_renewing_a_lease_brings_back_a_queue_deleted_under_it(
    tidings: ServerProcess, project: str, bus: Bus
) -> None:
    bus.call(bus.leases.hold_queue("oslo-tmp.reply.mine"))
    httpx.delete(f"{tidings.url}/v2/queues/oslo-tmp.reply.mine", headers=caller_headers(project))

    bus.call(bus.leases.renew())

    metadata = httpx.get(
        f"{tidings.url}/v2/queues/oslo-tmp.reply.mine", headers=caller_headers(project)
    ).json()
    assert metadata[EXPIRES_KEY] > time.time()
