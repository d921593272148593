"""The client against a real server: every call, and errors mapped back to their classes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.conftest import free_port
from tidings import errors
from tidings.client import Client, KeepAliveTransport


async def test_ping(client: Client) -> None:
    assert await client.ping_node()


async def test_queue_lifecycle(client: Client) -> None:
    assert await client.queue_create("orders", {"colour": "blue"})
    assert not await client.queue_create("orders")

    metadata = await client.queue_get("orders")
    assert metadata["colour"] == "blue"
    assert metadata["_default_message_ttl"] == 3600

    patched = await client.queue_update(
        "orders", [{"op": "replace", "path": "/metadata/colour", "value": "red"}]
    )
    assert patched["colour"] == "red"

    await client.queue_delete("orders")
    assert (await client.queue_list()).queues == []


async def test_queue_list_pages(client: Client) -> None:
    for name in ("a", "b", "c"):
        await client.queue_create(name)

    first = await client.queue_list(limit=2, detailed=True, with_count=True)
    rest = await client.queue_list(marker=first.marker, limit=2)

    assert [queue.name for queue in first.queues] == ["a", "b"]
    assert first.count == 3
    assert "_default_message_ttl" in first.queues[0].metadata
    assert [queue.name for queue in rest.queues] == ["c"]


async def test_post_list_get_delete(client: Client) -> None:
    ids = await client.message_post("q", [{"body": {"n": 1}}, {"body": {"n": 2}, "ttl": 120}])

    page = await client.message_list("q", echo=True, limit=1)
    assert [message.body for message in page.messages] == [{"n": 1}]
    assert page.marker is not None
    rest = await client.message_list("q", page.marker, echo=True)
    assert [message.body for message in rest.messages] == [{"n": 2}]
    assert rest.messages[0].ttl == 120

    one = await client.message_get("q", ids[0])
    assert one.id == ids[0]
    assert [m.id for m in await client.message_get_many("q", ids)] == ids

    await client.message_delete("q", ids[0])
    await client.message_delete_many("q", ids[1:])
    assert (await client.queue_get_stats("q")).total == 0


async def test_stats(client: Client) -> None:
    await client.message_post("q", [{"body": 1}, {"body": 2}])
    await client.claim_create("q", limit=1)

    stats = await client.queue_get_stats("q")

    assert (stats.total, stats.claimed, stats.free) == (2, 1, 1)
    assert stats.oldest is not None


async def test_pop(client: Client) -> None:
    await client.message_post("q", [{"body": "x"}, {"body": "y"}])

    popped = await client.message_pop("q", 5)

    assert [message.body for message in popped] == ["x", "y"]
    assert (await client.message_list("q", echo=True)).messages == []


async def test_claim_lifecycle(client: Client) -> None:
    await client.message_post("q", [{"body": i} for i in range(3)])

    claim = await client.claim_create("q", limit=2, ttl=60, grace=60)
    assert claim is not None
    assert [message.body for message in claim.messages] == [0, 1]
    assert {message.claim_id for message in claim.messages} == {claim.id}

    await client.claim_update("q", claim.id, ttl=120)
    renewed = await client.claim_get("q", claim.id)
    assert renewed.ttl == 120
    assert len(renewed.messages) == 2

    for message in claim.messages:
        await client.message_delete("q", message.id, claim_id=claim.id)
    await client.claim_delete("q", claim.id)
    with pytest.raises(errors.NotFound):
        await client.claim_get("q", claim.id)


async def test_claim_of_empty_queue_is_none(client: Client) -> None:
    assert await client.claim_create("empty") is None


async def test_purge(client: Client) -> None:
    await client.message_post("q", [{"body": 1}])

    await client.queue_purge("q", ["messages"])

    assert (await client.queue_get_stats("q")).total == 0


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        (lambda c: c.queue_create("bad name!"), errors.InvalidQueueName),
        (lambda c: c.message_get("q", "nope"), errors.NotFound),
        (lambda c: c.message_post("q", []), errors.InvalidRequest),
        (lambda c: c.claim_create("q", limit=1000), errors.InvalidRequest),
        (
            lambda c: c.queue_update("missing", [{"op": "add", "path": "/metadata/a"}]),
            errors.NotFound,
        ),
    ],
)
async def test_errors_map_to_their_classes(
    client: Client, call: Callable[[Client], Awaitable[object]], kind: type[Exception]
) -> None:
    with pytest.raises(kind):
        await call(client)


async def test_claimed_message_cannot_be_deleted_without_its_claim(client: Client) -> None:
    [message_id] = await client.message_post("q", [{"body": 1}])
    await client.claim_create("q")

    with pytest.raises(errors.MessageIsClaimed) as raised:
        await client.message_delete("q", message_id)

    assert "claimed" in str(raised.value)


async def test_unreachable_server_raises_connection_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with Client(url, "p", transport=KeepAliveTransport(url)) as client:
        with pytest.raises(ConnectionError):
            await client.ping_node()
