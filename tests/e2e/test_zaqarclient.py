"""python-zaqarclient, unchanged, drives a real ``tidings serve`` in noauth mode."""

from __future__ import annotations

from typing import Any

import pytest
from zaqarclient.queues.v2.client import Client
from zaqarclient.queues.v2.message import Message
from zaqarclient.transport import errors as transport_errors

from tests.conftest import ServerProcess

PROJECT = "my-project"


def zaqar(server: ServerProcess, project: str = PROJECT) -> Any:
    """A client as an OpenStack user would configure it without keystone."""
    conf = {"auth_opts": {"backend": "noauth", "options": {"os_project_id": project}}}
    return Client(server.url, version=2, conf=conf)


@pytest.fixture
def producer(server: ServerProcess) -> Any:
    return zaqar(server)


@pytest.fixture
def consumer(server: ServerProcess) -> Any:
    """Same project as the producer, another Client-ID: it sees the producer's messages."""
    return zaqar(server)


def bodies(messages: Any) -> list[Any]:
    return [message.body for message in messages]


def test_queue_create_list_metadata_stats_delete(producer: Any, server: ServerProcess) -> None:
    # Given a queue created through the client
    queue = producer.queue("jobs", force_create=True)

    # When the project's queues are listed (with their count)
    queues, count = producer.queues(with_count=True)

    # Then it is there, and other projects do not see it
    assert [listed.name for listed in queues] == ["jobs"]
    assert count == 1
    others, _ = zaqar(server, project="other-project").queues()
    assert list(others) == []

    # And its metadata starts as the reserved defaults
    metadata = queue.metadata(force_reload=True)
    assert metadata["_default_message_ttl"] == 3600
    assert metadata["_max_messages_post_size"] == 262144
    assert metadata["_dead_letter_queue"] is None
    assert "color" not in metadata

    # When metadata is set (the client sends a JSON-patch of add/replace/remove)
    updated = queue.metadata(new_meta={"color": "red", "_default_message_ttl": 120})

    # Then the server returns and keeps it
    assert updated["color"] == "red"
    assert updated["_default_message_ttl"] == 120
    reloaded = producer.queue("jobs", auto_create=False).metadata(force_reload=True)
    assert reloaded["color"] == "red"
    assert reloaded["_default_message_ttl"] == 120

    # And the new default TTL applies to posted messages, which the stats count
    assert queue.stats["messages"]["total"] == 0
    queue.post([{"body": "a"}, {"body": "b"}])
    stats = queue.stats["messages"]
    assert (stats["total"], stats["free"], stats["claimed"]) == (2, 2, 0)
    assert {message.ttl for message in queue.messages(echo=True)} == {120}

    # When the queue is deleted
    queue.delete()

    # Then it is no longer listed, and its messages are gone
    queues, count = producer.queues(with_count=True)
    assert list(queues) == []
    assert not count
    assert queue.stats["messages"]["total"] == 0


def test_post_list_get_and_delete_messages(producer: Any, consumer: Any) -> None:
    # Given three messages posted by the producer
    outbox = producer.queue("mail", force_create=True)
    posted = outbox.post([{"body": {"n": n}, "ttl": 600} for n in range(3)])
    ids = [href.rsplit("/", 1)[1] for href in posted["resources"]]
    assert len(ids) == 3

    # When the consumer lists them (another Client-ID, so no echo needed)
    inbox = consumer.queue("mail", auto_create=False)
    listed = list(inbox.messages())

    # Then it sees all three, oldest first, with their TTL
    assert [message.id for message in listed] == ids
    assert bodies(listed) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert {message.ttl for message in listed} == {600}
    # ...while the producer sees its own messages only with echo
    assert list(outbox.messages()) == []
    assert bodies(outbox.messages(echo=True)) == [{"n": 0}, {"n": 1}, {"n": 2}]

    # When one is fetched by id, and two by ids
    single = inbox.message(ids[1])
    many = list(inbox.messages(ids[0], ids[2]))

    # Then the right ones come back
    assert (single.id, single.body) == (ids[1], {"n": 1})
    assert {message.id: message.body["n"] for message in many} == {ids[0]: 0, ids[2]: 2}

    # When two are deleted by ids and the last one on its own
    inbox.delete_messages(ids[0], ids[1])
    assert bodies(inbox.messages()) == [{"n": 2}]
    single = inbox.message(ids[2])
    single.delete()

    # Then the queue is empty and the deleted message is gone
    assert list(inbox.messages()) == []
    with pytest.raises(transport_errors.ResourceNotFound):
        inbox.message(ids[2])


def test_claim_renew_release_delete_pop_purge(producer: Any, consumer: Any) -> None:
    # Given five messages
    outbox = producer.queue("work", force_create=True)
    outbox.post([{"body": f"task-{n}", "ttl": 600} for n in range(5)])
    inbox = consumer.queue("work", auto_create=False)

    # When the consumer claims two
    claim = inbox.claim(ttl=120, grace=60, limit=2)
    claimed = list(claim)

    # Then it gets the two oldest, each marked with the claim id
    assert claim.id
    assert bodies(claimed) == ["task-0", "task-1"]
    assert {message.claim_id for message in claimed} == {claim.id}
    stats = inbox.stats["messages"]
    assert (stats["claimed"], stats["free"], stats["total"]) == (2, 3, 5)
    # ...and a second claim skips them
    other = inbox.claim(ttl=60, grace=60, limit=1)
    assert bodies(other) == ["task-2"]
    other.delete()

    # When the claim is renewed
    claim.update(ttl=900, grace=60)

    # Then the server reports the new TTL and still holds the same messages
    fetched = inbox.claim(id=claim.id)
    assert fetched.ttl == 900
    assert bodies(fetched) == ["task-0", "task-1"]

    # When a claimed message is deleted without the claim, it is refused
    href = f"/v2/queues/work/messages/{claimed[0].id}"
    unclaimed_view = Message(inbox, ttl=600, age=0, body=None, href=href)
    with pytest.raises(transport_errors.ForbiddenError):
        unclaimed_view.delete()
    # ...and fetching it shows the claim in its href
    assert inbox.message(claimed[0].id).claim_id == claim.id

    # When it is deleted with its claim (the client takes it from the href)
    claimed[0].delete()

    # Then it is gone and one claimed message remains
    with pytest.raises(transport_errors.ResourceNotFound):
        inbox.message(claimed[0].id)
    assert inbox.stats["messages"]["claimed"] == 1

    # When the claim is released
    claim.delete()

    # Then its remaining message is free again, and claimable
    stats = inbox.stats["messages"]
    assert (stats["claimed"], stats["free"], stats["total"]) == (0, 4, 4)
    with pytest.raises(transport_errors.ResourceNotFound):
        inbox.claim(id=claim.id).ttl  # noqa: B018 - reading it fetches the claim

    # When two messages are popped
    popped = list(inbox.pop(2))

    # Then the oldest two are returned and removed
    assert bodies(popped) == ["task-1", "task-2"]
    assert bodies(inbox.messages()) == ["task-3", "task-4"]

    # When the queue is purged
    inbox.purge()

    # Then no messages remain, but the queue's metadata does
    assert inbox.stats["messages"]["total"] == 0
    assert list(inbox.messages(include_claimed=True)) == []
    assert inbox.metadata(force_reload=True)["_default_message_ttl"] == 3600
