"""Live push: ``subscription_create`` without a subscriber sends every new message of the
queue to the socket, as Zaqar's bare notification frames, until the socket closes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from tests.api.support import post_bodies, post_messages
from tests.conftest import eventually
from tests.servers.backends import FIFO_BACKENDS
from tests.websocket.conftest import OpenSocket, served_on
from tests.websocket.support import Served, Socket
from tidings.clock import FakeClock
from tidings.config import Limits
from tidings.models import Message, MessageFilter
from tidings.service import Service
from tidings.storage.base import storage_from_url
from tidings.transport.push import PushHub


@pytest.fixture(params=FIFO_BACKENDS)
async def served(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Served]:
    """Live push pages through the queue in post order, which Swift's listings do not promise."""
    async with served_on(request, clock, request.param) as server:
        yield server


QUIET = 0.5
"""Seconds a test waits to be sure that nothing is pushed."""


async def subscribed(ws: Socket, queue: str = "news") -> str:
    status, body = await ws.call("subscription_create", queue_name=queue)
    assert status == 201
    assert body["message"] == f"Subscription {queue} created."
    subscription_id: str = body["subscription_id"]
    return subscription_id


async def nothing_pushed(ws: Socket) -> bool:
    with pytest.raises(TimeoutError):
        await ws.pushed(QUIET)
    return True


async def test_a_message_posted_over_http_is_pushed(ws: Socket, http: httpx.AsyncClient) -> None:
    await subscribed(ws)

    await post_messages(http, "news", {"body": {"headline": "hi"}, "ttl": 120})

    assert await ws.pushed() == {
        "body": {"headline": "hi"},
        "ttl": 120,
        "queue_name": "news",
        "Message_Type": "Notification",
    }


async def test_every_message_is_pushed_in_post_order(ws: Socket, http: httpx.AsyncClient) -> None:
    await subscribed(ws)

    await post_bodies(http, "news", *range(25))
    await post_bodies(http, "news", 25, 26)

    assert [(await ws.pushed())["body"] for _ in range(27)] == list(range(27))


async def test_messages_posted_before_the_subscription_are_not_pushed(
    ws: Socket, http: httpx.AsyncClient
) -> None:
    await post_bodies(http, "news", "old")
    await subscribed(ws)

    await post_bodies(http, "news", "new")

    assert (await ws.pushed())["body"] == "new"
    assert await nothing_pushed(ws)


async def test_a_subscription_in_messagepack_pushes_in_messagepack(
    open_socket: OpenSocket, http: httpx.AsyncClient
) -> None:
    ws = await open_socket(binary=True)
    await subscribed(ws)

    await post_bodies(http, "news", "packed")

    assert (await ws.pushed())["body"] == "packed"
    assert ws.kinds == [bytes, bytes]


async def test_every_subscribed_socket_gets_the_message_and_no_other_does(
    open_socket: OpenSocket, http: httpx.AsyncClient
) -> None:
    first, second, elsewhere = [await open_socket() for _ in range(3)]
    await subscribed(first)
    await subscribed(second)
    await subscribed(elsewhere, "sports")

    await post_bodies(http, "news", "both")

    assert (await first.pushed())["body"] == "both"
    assert (await second.pushed())["body"] == "both"
    assert await nothing_pushed(elsewhere)


async def test_subscribing_twice_answers_the_same_id_and_pushes_once(
    ws: Socket, http: httpx.AsyncClient
) -> None:
    assert await subscribed(ws) == await subscribed(ws)

    await post_bodies(http, "news", "once")

    assert (await ws.pushed())["body"] == "once"
    assert await nothing_pushed(ws)


async def test_deleting_the_subscription_stops_the_pushes(
    ws: Socket, http: httpx.AsyncClient
) -> None:
    subscription_id = await subscribed(ws)

    status, body = await ws.call(
        "subscription_delete", queue_name="news", subscription_id=subscription_id
    )
    await post_bodies(http, "news", "unheard")

    assert (status, body) == (204, f"Subscription {subscription_id} removed.")
    assert await nothing_pushed(ws)


def following(queue: str) -> bool:
    """Whether this process's server still follows ``queue`` for some socket."""
    return any(task.get_name() == f"tidings-push-{queue}" for task in asyncio.all_tasks())


async def test_a_socket_closed_while_subscribing_leaves_no_follower(
    open_socket: OpenSocket,
) -> None:
    # Given a socket that asks for a subscription and closes before the answer
    leaving = await open_socket()
    frame = {"action": "subscription_create", "headers": leaving.headers}
    await leaving.send(orjson.dumps({**frame, "body": {"queue_name": "news"}}).decode())
    await leaving.close()

    # Then the server does not go on following the queue for it
    await asyncio.sleep(QUIET)
    assert not following("news")


async def test_closing_the_socket_ends_its_subscription(
    open_socket: OpenSocket, http: httpx.AsyncClient
) -> None:
    # Given two sockets subscribed to the queue
    leaving, staying = await open_socket(), await open_socket()
    await subscribed(leaving)
    await subscribed(staying)
    # When one closes, the other still gets the next message
    await leaving.close()
    await post_bodies(http, "news", "after")
    assert (await staying.pushed())["body"] == "after"
    # And when the other closes too, the server stops following the queue
    await staying.close()
    await eventually(lambda: not following("news"))


async def test_a_message_posted_over_the_socket_is_pushed_to_it(ws: Socket) -> None:
    await subscribed(ws)

    await ws.call("message_post", queue_name="news", messages=[{"body": "mine"}])

    assert (await ws.pushed())["body"] == "mine"


async def test_the_pushes_of_a_project_stay_in_it(
    open_socket: OpenSocket, http: httpx.AsyncClient
) -> None:
    other = await open_socket(headers={"Client-ID": http.headers["Client-ID"], "X-Project-ID": "b"})
    await subscribed(other)

    await post_bodies(http, "news", "for project-a only")

    assert await nothing_pushed(other)


async def test_a_subscription_with_a_subscriber_is_stored_not_pushed(
    ws: Socket, http: httpx.AsyncClient
) -> None:
    status, body = await ws.call(
        "subscription_create", queue_name="news", subscriber="queue:archive", ttl=3600
    )
    await post_bodies(http, "news", "to the archive")

    assert status == 201
    assert body["message"] == "Subscription news created."
    listed = (await http.get("/v2/queues/news/subscriptions")).json()["subscriptions"]
    assert [s["subscriber"] for s in listed] == ["queue:archive"]
    assert await nothing_pushed(ws)


async def test_a_bad_queue_name_is_refused(ws: Socket) -> None:
    status, body = await ws.call("subscription_create", queue_name="bad name")

    assert status == 400
    assert body["exception"] == "Invalid queue identification"


# The hub, under the transport


async def test_the_hub_follows_a_queue_while_someone_listens(clock: FakeClock) -> None:
    storage = storage_from_url("sqlite:///:memory:")
    await storage.open()
    service = Service(storage, Limits(), clock)
    hub = PushHub(service)
    received: asyncio.Queue[list[Message]] = asyncio.Queue()
    try:
        stop = await hub.subscribe("p", "q", lambda queue, batch: received.put_nowait(batch))
        await service.messages.post("p", "q", "client-id-1", {"messages": [{"body": 1}]}, 30)

        [message] = await asyncio.wait_for(received.get(), 5)
        [follower] = [task for task in asyncio.all_tasks() if task.get_name() == "tidings-push-q"]
        stop()
        await asyncio.wait([follower], timeout=5)

        assert message.body == 1
        assert follower.cancelled()
        assert not [task for task in asyncio.all_tasks() if task.get_name() == "tidings-push-q"]
    finally:
        await storage.close()


async def test_following_skips_nothing_posted_after_it_started(clock: FakeClock) -> None:
    storage = storage_from_url("sqlite:///:memory:")
    await storage.open()
    service = Service(storage, Limits(), clock)
    try:
        follow = service.messages.follow("p", "q", await service.messages.newest_marker("p", "q"))
        for n in range(3):
            await service.messages.post("p", "q", "c" * 10, {"messages": [{"body": n}]}, 30)
        batches: list[list[Message]] = []
        while sum(len(batch) for batch in batches) < 3:
            batch, _ = await asyncio.wait_for(anext(follow), 5)
            batches.append(batch)
        await follow.aclose()

        assert [m.body for batch in batches for m in batch] == [0, 1, 2]
        found, _ = await service.messages.page("p", "q", MessageFilter("x", echo=True), None)
        assert len(found) == 3
    finally:
        await storage.close()
