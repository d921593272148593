"""Webhook retries against a real receiver on loopback, on a fake clock: the schedule of each
backoff function, recovery after refused connections, 5xx and timeouts, and dead-lettering."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.notify.conftest import PROJECT, Harness
from tests.notify.receivers import TIMEOUT, Receiver
from tidings.models import Subscription

SHORT = {
    "retries_with_no_delay": 1,
    "minimum_delay_retries": 1,
    "minimum_delay": 2,
    "maximum_delay": 22,
    "maximum_delay_retries": 1,
}
"""1 immediate retry, 1 after 2 s, the backoff from 2 to 22 s in 4 steps, 1 after 22 s."""


async def subscribe(
    harness: Harness, subscriber: str, queue: str = "fizbit", **options: Any
) -> Subscription:
    return await harness.service.subscriptions.create(
        PROJECT, queue, {"subscriber": subscriber, "options": options}
    )


async def post(harness: Harness, *bodies: Any, queue: str = "fizbit") -> list[str]:
    document = {"messages": [{"body": body} for body in bodies]}
    return await harness.service.messages.post(PROJECT, queue, "producer", document, 100)


def gaps(receiver: Receiver) -> list[float]:
    times = [hit.at for hit in receiver.hits]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


@pytest.mark.parametrize(
    ("function", "backoff"),
    [
        ("linear", [2, 7, 12, 17]),
        ("arithmetic", [2, 5, 12, 22]),
        ("geometric", [2, 4, 9, 21]),
        ("exponential", [2, 4, 9, 21]),
    ],
)
async def test_schedule_of_each_backoff_function(
    harness: Harness, receiver: Receiver, function: str, backoff: list[int]
) -> None:
    # Given a receiver that always answers 500, subscribed with a short policy
    receiver.script([], default=500)
    policy = {**SHORT, "retry_backoff_function": function}
    await subscribe(harness, receiver.url, _retry_policy=policy)

    # When a message is posted and the worker runs until retries run out
    await post(harness, {"n": 1})
    await harness.run(lambda: len(receiver.hits) == 8)
    dead = await harness.bodies("fizbit.dead-notifications")

    # Then the attempts came at Zaqar's schedule: the first, 1 at once, 1 after the minimum
    # delay, the backoff, 1 after the maximum delay
    assert gaps(receiver) == [0, 2, *backoff, 22]
    assert len({hit.notification_id for hit in receiver.hits}) == 1
    # And the notification is dead-lettered, not lost
    assert len(dead) == 1
    assert dead[0]["attempts"] == 8
    assert dead[0]["error"] == "HTTP 500"


async def test_default_policy_is_zaqars(harness: Harness, receiver: Receiver) -> None:
    receiver.script([], default=503)
    await subscribe(harness, receiver.url)

    await post(harness, "x")
    await harness.run(lambda: len(receiver.hits) == 15)

    assert gaps(receiver) == [0, 0, 0, 5, 5, 5, 5, 10, 15, 20, 25, 30, 30, 30]


async def test_recovers_after_refused_connection_500_429_and_timeout(
    harness: Harness, clock: Any
) -> None:
    # Given a receiver not yet listening, then answering 500, 429 and timing out once each
    receiver = Receiver(clock=clock, answers=[500, 429, TIMEOUT], hold=2.0)
    policy = {**SHORT, "retries_with_no_delay": 0, "minimum_delay": 1, "maximum_delay": 11}
    policy["minimum_delay_retries"] = 4
    subscription = await subscribe(harness, receiver.url, _retry_policy=policy)
    (message_id,) = await post(harness, {"n": 1})
    started = clock()

    # When the first attempt meets a refused connection
    assert await harness.dispatcher.drain() == 1
    receiver.start()
    try:
        # And the worker goes on
        await harness.run(lambda: len(receiver.hits) == 4)
        await harness.idle(20)
    finally:
        receiver.stop()

    # Then the retries came a second apart and the fourth answer delivered it, once
    assert [hit.at - started for hit in receiver.hits] == [1, 2, 3, 4]
    assert len(receiver.hits) == 4
    assert {hit.notification_id for hit in receiver.hits} == {f"{message_id}/{subscription.id}"}
    assert await harness.bodies("fizbit.dead-notifications") == []


async def test_client_error_is_dead_lettered_without_retries(
    harness: Harness, receiver: Receiver
) -> None:
    receiver.script([], default=404)
    await subscribe(harness, receiver.url, dead_letter_queue="failed")

    await post(harness, {"n": 1})
    await harness.run(lambda: len(receiver.hits) == 1)
    await harness.idle(60)

    (dead,) = await harness.bodies("failed")
    assert dead["attempts"] == 1
    assert dead["error"] == "HTTP 404"
    assert dead["subscriber"] == receiver.url
    assert dead["notification"]["body"] == {"n": 1}
    assert len(receiver.hits) == 1


async def test_queue_policy_applies_unless_the_subscription_has_one(
    harness: Harness, receiver: Receiver
) -> None:
    # Given a queue whose policy retries once after 3 s, and a subscription with none
    queue_policy = {**SHORT, "minimum_delay": 3, "maximum_delay": 13}
    queue_policy |= {"retries_with_no_delay": 0, "maximum_delay_retries": 0}
    await harness.service.queues.create(PROJECT, "fizbit", {"_retry_policy": queue_policy})
    receiver.script([500], default=200)
    await subscribe(harness, receiver.url)

    # When the first attempt fails
    await post(harness, "x")
    await harness.run(lambda: len(receiver.hits) == 2)

    # Then the retry waited the queue's minimum delay
    assert gaps(receiver) == [3]


async def test_ignore_subscription_override_makes_the_queue_policy_win(
    harness: Harness, receiver: Receiver
) -> None:
    queue_policy = {"minimum_delay": 4, "maximum_delay": 14, "retries_with_no_delay": 0}
    queue_policy["ignore_subscription_override"] = True
    await harness.service.queues.create(PROJECT, "fizbit", {"_retry_policy": queue_policy})
    receiver.script([500], default=200)
    await subscribe(harness, receiver.url, _retry_policy={"retries_with_no_delay": 3})

    await post(harness, "x")
    await harness.run(lambda: len(receiver.hits) == 2)

    assert gaps(receiver) == [4]


async def test_deleted_subscription_gets_no_more_retries(
    harness: Harness, receiver: Receiver
) -> None:
    receiver.script([], default=500)
    subscription = await subscribe(harness, receiver.url, _retry_policy=SHORT)
    await post(harness, "x")
    await harness.run(lambda: len(receiver.hits) == 2)

    await harness.service.subscriptions.delete(PROJECT, "fizbit", subscription.id)
    await harness.idle(60)

    assert len(receiver.hits) == 2
    assert await harness.bodies("fizbit.dead-notifications") == []


async def dead_letter_of_stored(
    harness: Harness, subscriber: str, options: dict[str, Any]
) -> dict[str, Any]:
    """Store a subscription as given, with no check, post a message and let the worker run
    for a minute: the one notification dead-lettered, checked to have had a single attempt
    (no retry can send what cannot be sent)."""
    options = {"dead_letter_queue": "failed", **options}
    await harness.storage.subscription_create(
        PROJECT, "fizbit", subscriber, 3600, options, "", harness.clock()
    )
    await post(harness, {"n": 1})
    await harness.idle(60)
    (dead,) = await harness.bodies("failed")
    assert dead["attempts"] == 1
    assert dead["notification"]["body"] == {"n": 1}
    return dict(dead)


@pytest.mark.parametrize(
    ("subscriber", "options", "error"),
    [
        ("mailto:ops@", {}, "IndexError"),
        ("mailto:ops@x.example?subject=a%00b", {}, r"""ValueError("the subject 'a\\x00b' is not"""),
        ("mailto:ops@x.example", {"subject": "a\x1bb"}, r"""ValueError("the subject 'a\\x1bb'"""),
    ],
)
async def test_a_mail_that_cannot_be_written_is_dead_lettered_without_retries(
    harness: Harness, subscriber: str, options: dict[str, str], error: str
) -> None:
    # A mail subscription whose address or subject no mail can carry, stored as the API took
    # it before it checked them (it refuses them now)
    dead = await dead_letter_of_stored(harness, subscriber, options)

    assert dead["error"].startswith(f"the mail cannot be written: {error}")


@pytest.mark.parametrize(
    ("subscriber", "headers", "error"),
    [
        ("http://127.0.0.1:1/\n", {}, "Invalid non-printable ASCII character in URL"),
        ("http://0\U000f9b0f/", {}, "Invalid IDNA hostname"),
        ("http://127.0.0.1:65536/", {}, "Port out of range 0-65535"),
        ("RECEIVER", {"X-Colour": "vert émeraude"}, "'ascii' codec can't encode"),
        ("RECEIVER", {"X-Colour": "green\r\nX-Injected: 1"}, "Illegal header value"),
        ("RECEIVER", {"bad name": "1"}, "Illegal header name"),
    ],
    ids=[
        "control-character",
        "idna",
        "port",
        "non-ascii-header",
        "two-line-header",
        "header-name",
    ],
)
async def test_a_request_that_cannot_be_made_is_dead_lettered_without_retries(
    harness: Harness, receiver: Receiver, subscriber: str, headers: dict[str, str], error: str
) -> None:
    # A webhook subscription no request can carry, stored as the API took it before it
    # checked URLs and headers (it refuses them now)
    url = receiver.url if subscriber == "RECEIVER" else subscriber
    dead = await dead_letter_of_stored(harness, url, {"post_headers": headers})

    assert dead["error"].startswith("the request cannot be made: "), dead["error"]
    assert error in dead["error"]
    assert receiver.hits == []
