"""``mailto:`` subscribers: the notification as JSON in a plain-text mail, sent over SMTP
(optionally STARTTLS or TLS, with a login) or piped to a sendmail-like command. A confirmation
request carries a link to the operator's ``external_confirmation_url`` page."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Mapping
from email.message import EmailMessage
from urllib.parse import urlencode

import aiosmtplib
import orjson

from tidings.config import NotificationSettings
from tidings.mail_addresses import UNREADABLE, is_one_line, mailto
from tidings.models import JSON
from tidings.notify.sinks import DELIVERED, Delivery, Outcome, failed, retry
from tidings.service.outbox import NOTIFICATION, SUBSCRIBE

SUBJECTS = {
    NOTIFICATION: "Notification from {source}",
    SUBSCRIBE: "Confirm your subscription to {source}",
}
UNSUBSCRIBED = "Unsubscribed from {source}"
REFUSED = (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPSenderRefused)


def compose(delivery: Delivery, settings: NotificationSettings) -> EmailMessage:
    subscription = delivery.subscription
    target = mailto(subscription.subscriber)
    options = subscription.options
    default = SUBJECTS.get(delivery.job.kind, UNSUBSCRIBED).format(source=subscription.source)
    message = EmailMessage()
    message["From"] = str(options.get("from") or settings.mail_from)
    message["To"] = ", ".join(target.addresses)
    subject = str(options.get("subject") or target.subject or default)
    if not is_one_line(subject):
        raise ValueError(f"the subject {subject!r} is not one line of text")
    message["Subject"] = subject
    message["X-Tidings-Notification-Id"] = delivery.job.notification_id
    message.set_content(_text(delivery, settings))
    return message


def _text(delivery: Delivery, settings: NotificationSettings) -> str:
    payload = delivery.payload
    if delivery.job.kind == NOTIFICATION:
        return orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()
    if settings.external_confirmation_url:
        link = confirmation_link(settings.external_confirmation_url, payload)
        return f"{payload['Message']}\n\nTo confirm, open:\n{link}\n"
    headers = "".join(
        f"{name}: {payload[name]}\n"
        for name in ("URL-Signature", "URL-Methods", "URL-Paths", "URL-Expires", "X-Project-ID")
    )
    return (
        f"{payload['Message']}\n\nTo confirm, send PUT {payload['URL-Paths']} with the body "
        f'{{"confirmed": true}}, a Client-ID header and these headers:\n{headers}'
    )


def confirmation_link(page: str, payload: Mapping[str, JSON]) -> str:
    """The operator's confirmation page with the pre-signed values, as Zaqar builds it."""
    query = {
        "Signature": payload["URL-Signature"],
        "Methods": payload["URL-Methods"],
        "Paths": payload["URL-Paths"],
        "Project": payload["X-Project-ID"],
        "Expires": payload["URL-Expires"],
        "Url": payload.get("WSGISubscribeURL", ""),
        "Queue": payload["queue_name"],
    }
    return f"{page}?{urlencode(query)}"


class MailSink:
    def __init__(self, settings: NotificationSettings) -> None:
        self._settings = settings

    async def deliver(self, delivery: Delivery) -> Outcome:
        try:
            message = compose(delivery, self._settings)
        except UNREADABLE as exc:
            # a subscription made before its fields were checked: no attempt can send it
            return failed(f"the mail cannot be written: {exc!r}")
        try:
            if self._settings.smtp_command:
                await self._pipe(message)
            else:
                await self._send(message)
        except REFUSED as exc:
            return failed(str(exc))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return retry(f"{type(exc).__name__}: {exc}")
        return DELIVERED

    async def _send(self, message: EmailMessage) -> None:
        settings = self._settings
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
            use_tls=settings.smtp_ssl,
            start_tls=settings.smtp_starttls,
            cert_bundle=settings.smtp_ca_file or None,
            timeout=settings.smtp_timeout,
        )

    async def _pipe(self, message: EmailMessage) -> None:
        command = shlex.split(self._settings.smtp_command)
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(self._settings.smtp_timeout):
                _, errors = await process.communicate(message.as_bytes())
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        if process.returncode:
            raise OSError(f"{command[0]} exited with {process.returncode}: {errors.decode()[:200]}")
