"""Delivery by a running server to real receivers: webhook (signed), SMTP, a sendmail command,
and a topic fanned out to several kinds of subscribers."""

from __future__ import annotations

import email
import shlex
from pathlib import Path

import orjson
import pytest

from tests.conftest import eventually
from tests.notify.conftest import listed, post, serving, subscribe
from tests.notify.receivers import Mailbox, Receiver, text_of
from tests.processes import running
from tests.servers.certificates import Certificate
from tidings.clock import FakeClock


async def test_webhook_gets_zaqars_body_signed_with_the_secret(
    clock: FakeClock, receiver: Receiver
) -> None:
    async with serving(clock) as api:
        # Given a webhook subscribed with an extra header
        created = await subscribe(
            api, "/v2/queues/fizbit", receiver.url, options={"post_headers": {"X-Team": "blue"}}
        )

        # When a message is posted
        response = await api.post(
            "/v2/queues/fizbit/messages",
            json={"messages": [{"body": {"event": "created"}, "ttl": 300}]},
        )
        message_id = response.json()["resources"][0].rsplit("/", 1)[1]
        await eventually(lambda: len(receiver.hits) == 1)

    # Then the receiver got Zaqar's notification, signed with the subscription's secret
    (hit,) = receiver.hits
    assert hit.json() == {
        "body": {"event": "created"},
        "ttl": 300,
        "queue_name": "fizbit",
        "Message_Type": "Notification",
    }
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["x-team"] == "blue"
    assert hit.notification_id == f"{message_id}/{created['subscription_id']}"
    assert hit.headers["x-tidings-timestamp"] == str(int(clock()))
    assert hit.signed_by(created["secret"])
    assert not hit.signed_by("another secret")


async def test_post_data_wraps_the_notification(clock: FakeClock, receiver: Receiver) -> None:
    template = '{"wrapped": "$zaqar_message$", "from": "tidings"}'
    async with serving(clock) as api:
        await subscribe(api, "/v2/queues/fizbit", receiver.url, options={"post_data": template})
        await post(api, "/v2/queues/fizbit", "hi")
        await eventually(lambda: len(receiver.hits) == 1)

    body = receiver.hits[0].json()
    assert body["from"] == "tidings"
    assert body["wrapped"]["body"] == "hi"


async def test_mail_over_smtp(clock: FakeClock, mailbox: Mailbox) -> None:
    async with serving(clock, smtp_host="127.0.0.1", smtp_port=mailbox.port) as api:
        # Given a mail subscriber with its own sender, and a subject in the URI
        await subscribe(
            api,
            "/v2/queues/fizbit",
            "mailto:ops@example.test,oncall@example.test?subject=Queue%20news",
            options={"from": "alerts@example.test"},
        )

        # When a message is posted
        await post(api, "/v2/queues/fizbit", {"event": "café"})
        await eventually(lambda: len(mailbox.mails) == 1)

    # Then both addresses got the notification as JSON
    (mail,) = mailbox.mails
    assert mail["Subject"] == "Queue news"
    assert mail["From"] == "alerts@example.test"
    assert mailbox.recipients == [["ops@example.test", "oncall@example.test"]]
    assert orjson.loads(text_of(mail))["body"] == {"event": "café"}


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "tls"])
# the server's warning that AUTH is offered without STARTTLS: there, TLS came first
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_mail_over_tls_with_a_login(
    clock: FakeClock, tmp_path: Path, implicit_tls: bool
) -> None:
    # Given an SMTP server that requires TLS (STARTTLS or from the start) and a login
    certificate = Certificate.create(tmp_path)
    mailbox = Mailbox(certificate, implicit_tls=implicit_tls, login=("tidings", "s3cret"))
    secure = {
        "smtp_starttls": not implicit_tls,
        "smtp_ssl": implicit_tls,
        "smtp_ca_file": str(certificate.certificate),
        "smtp_username": "tidings",
    }
    with running(mailbox):
        # When a message is posted to a mail subscriber, once with the wrong password
        async with serving(
            clock, smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_password="wrong", **secure
        ) as api:
            await subscribe(api, "/v2/queues/fizbit", "mailto:ops@example.test")
            await post(api, "/v2/queues/fizbit", "refused")
            await eventually(lambda: bool(mailbox.logins))
        # And once with the right one
        async with serving(
            clock, smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_password="s3cret", **secure
        ) as api:
            await subscribe(api, "/v2/queues/fizbit", "mailto:ops@example.test")
            await post(api, "/v2/queues/fizbit", "sealed")
            await eventually(lambda: len(mailbox.mails) == 1)

    # Then only the logged-in sender's mail arrived, over the encrypted connection
    assert mailbox.logins[0] == ("tidings", False)
    assert mailbox.logins[-1] == ("tidings", True)
    assert [orjson.loads(text_of(mail))["body"] for mail in mailbox.mails] == ["sealed"]


async def test_mail_through_a_sendmail_command(clock: FakeClock, tmp_path: Path) -> None:
    spool = tmp_path / "mail.eml"
    command = f"sh -c {shlex.quote(f'cat > {spool}')}"
    async with serving(clock, smtp_command=command) as api:
        await subscribe(api, "/v2/queues/fizbit", "mailto:ops@example.test")
        await post(api, "/v2/queues/fizbit", "by pipe")
        await eventually(lambda: spool.exists() and spool.stat().st_size > 0)

    mail = email.message_from_bytes(spool.read_bytes())
    assert mail["To"] == "ops@example.test"
    assert mail["Subject"] == "Notification from fizbit"
    assert "by pipe" in text_of(mail)


async def test_topic_fans_out_to_webhook_mail_and_queue(
    clock: FakeClock, receiver: Receiver, mailbox: Mailbox
) -> None:
    async with serving(clock, smtp_host="127.0.0.1", smtp_port=mailbox.port) as api:
        # Given a topic with a webhook, a mail address and a queue subscribed
        for subscriber in (receiver.url, "mailto:ops@example.test", "queue:inbox"):
            await subscribe(api, "/v2/topics/news", subscriber)

        # When one message is published
        await post(api, "/v2/topics/news", {"headline": "hello"})

        # Then each of them gets it
        await eventually(lambda: len(receiver.hits) == 1 and len(mailbox.mails) == 1)
        inbox = await listed(api, "/v2/queues/inbox/messages")
        kept = await listed(api, "/v2/topics/news/messages")

    assert receiver.hits[0].json()["queue_name"] == "news"
    assert receiver.hits[0].json()["body"] == {"headline": "hello"}
    assert "news" in mailbox.mails[0]["Subject"]
    assert inbox == [{"headline": "hello"}]
    assert kept == [{"headline": "hello"}]
