"""With ``require_confirmation``: subscribers are asked to confirm with pre-signed headers (a
webhook) or a link to the operator's page (a mail); until they do, they receive nothing."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import eventually
from tests.notify.conftest import listed, post, serving, subscribe
from tests.notify.receivers import Mailbox, Receiver, text_of
from tidings.clock import FakeClock

PAGE = "https://confirm.example/subscriptions"
PUBLIC = "https://tidings.example"
CONFIRMING = {
    "require_confirmation": True,
    "external_confirmation_url": PAGE,
    "public_url": PUBLIC,
}
SIGNED = ("URL-Signature", "URL-Methods", "URL-Paths", "URL-Expires", "X-Project-ID")


def kinds(receiver: Receiver) -> list[str]:
    return [hit.json()["Message_Type"] for hit in receiver.hits]


async def put_signed(
    api: httpx.AsyncClient, headers: dict[str, str], confirmed: bool
) -> httpx.Response:
    """The confirm request a subscriber makes from what it was sent."""
    return await api.put(headers["URL-Paths"], json={"confirmed": confirmed}, headers=headers)


async def test_webhook_confirms_with_the_presigned_headers(
    clock: FakeClock, receiver: Receiver
) -> None:
    async with serving(clock, **CONFIRMING) as api:
        # Given a new webhook subscription: it is asked to confirm
        created = await subscribe(api, "/v2/queues/fizbit", receiver.url)
        sid = created["subscription_id"]
        await eventually(lambda: kinds(receiver) == ["SubscriptionConfirmation"])
        request = receiver.hits[0].json()

        # And a message posted meanwhile reaches nobody
        await post(api, "/v2/queues/fizbit", "before")

        # When the subscriber PUTs the confirmation with the headers it was sent
        headers = {name: request[name] for name in SIGNED}
        forged = await put_signed(api, {**headers, "URL-Signature": "0" * 64}, True)
        confirmed = await put_signed(api, headers, True)
        state = await api.get(f"/v2/queues/fizbit/subscriptions/{sid}")
        await post(api, "/v2/queues/fizbit", "after")
        await eventually(lambda: len(receiver.hits) == 2)

        # And later cancels with the same headers
        cancelled = await put_signed(api, headers, False)
        await eventually(lambda: len(receiver.hits) == 3)
        await post(api, "/v2/queues/fizbit", "gone")

    # Then the request was Zaqar's, a forged signature was refused, the rest went through
    assert request["Message"] == "You have chosen to subscribe to the queue: fizbit"
    assert request["URL-Methods"] == "PUT"
    assert request["URL-Paths"] == f"/v2/queues/fizbit/subscriptions/{sid}/confirm"
    assert request["WSGISubscribeURL"] == PUBLIC + request["URL-Paths"]
    assert request["SubscribeBody"] == {"confirmed": True}
    assert receiver.hits[0].signed_by(created["secret"])
    assert forged.status_code == 404
    assert (confirmed.status_code, cancelled.status_code) == (204, 204)
    assert state.json()["confirmed"] is True
    # And only the message posted while confirmed was delivered
    assert kinds(receiver) == [
        "SubscriptionConfirmation",
        "Notification",
        "UnsubscribeConfirmation",
    ]
    assert receiver.hits[1].json()["body"] == "after"


async def test_mail_link_round_trips_to_a_confirmed_subscription(
    clock: FakeClock, mailbox: Mailbox
) -> None:
    smtp = {"smtp_host": "127.0.0.1", "smtp_port": mailbox.port}
    async with serving(clock, **CONFIRMING, **smtp) as api:
        # Given a mail subscription on a topic: a mail links to the confirmation page
        created = await subscribe(api, "/v2/topics/news", "mailto:reader@example.test")
        await eventually(lambda: len(mailbox.mails) == 1)
        text = text_of(mailbox.mails[0])
        link = next(line for line in text.splitlines() if line.startswith(PAGE))

        # When the page confirms with what the link carries
        query = {key: values[0] for key, values in parse_qs(urlsplit(link).query).items()}
        headers = {
            "URL-Signature": query["Signature"],
            "URL-Methods": query["Methods"],
            "URL-Paths": query["Paths"],
            "URL-Expires": query["Expires"],
            "X-Project-ID": query["Project"],
        }
        response = await put_signed(api, headers, True)
        state = await api.get(f"/v2/topics/news/subscriptions/{created['subscription_id']}")

        # Then the subscription is confirmed and the next message arrives by mail
        await post(api, "/v2/topics/news", "published")
        await eventually(lambda: len(mailbox.mails) == 2)

    assert mailbox.mails[0]["Subject"] == "Confirm your subscription to news"
    assert query["Url"] == PUBLIC + query["Paths"]
    assert query["Queue"] == "news"
    assert query["Paths"].startswith("/v2/topics/news/subscriptions/")
    assert response.status_code == 204
    assert state.json()["confirmed"] is True
    assert "published" in text_of(mailbox.mails[1])


async def test_reposting_an_unconfirmed_subscription_asks_again(
    clock: FakeClock, receiver: Receiver
) -> None:
    async with serving(clock, **CONFIRMING) as api:
        first = await subscribe(api, "/v2/queues/fizbit", receiver.url)
        second = await subscribe(api, "/v2/queues/fizbit", receiver.url)
        await eventually(lambda: len(receiver.hits) == 2)

    assert first["subscription_id"] == second["subscription_id"]
    assert kinds(receiver) == ["SubscriptionConfirmation"] * 2
    assert receiver.hits[0].notification_id != receiver.hits[1].notification_id


async def test_queue_subscribers_need_no_confirmation(clock: FakeClock) -> None:
    async with serving(clock, **CONFIRMING) as api:
        await subscribe(api, "/v2/queues/fizbit", "queue:copies")
        await subscribe(api, "/v2/topics/news", "queue:copies")

        await post(api, "/v2/queues/fizbit", "from the queue")
        await post(api, "/v2/topics/news", "from the topic")
        copies = await listed(api, "/v2/queues/copies/messages", count=2)

    assert sorted(copies) == ["from the queue", "from the topic"]


async def test_a_new_subscriber_must_confirm_again(clock: FakeClock, receiver: Receiver) -> None:
    with Receiver(clock=clock) as moved:
        async with serving(clock, **CONFIRMING) as api:
            # Given a confirmed subscription
            sid = (await subscribe(api, "/v2/queues/fizbit", receiver.url))["subscription_id"]
            path = f"/v2/queues/fizbit/subscriptions/{sid}"
            await eventually(lambda: len(receiver.hits) == 1)
            await api.put(f"{path}/confirm", json={"confirmed": True})

            # When its subscriber changes
            await api.patch(path, json={"subscriber": moved.url})
            await eventually(lambda: len(moved.hits) == 1)
            state = (await api.get(path)).json()

    # Then the new one is asked to confirm, and nothing is delivered until it does
    assert kinds(moved) == ["SubscriptionConfirmation"]
    assert state["confirmed"] is False
