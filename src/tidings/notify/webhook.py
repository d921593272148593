"""``http(s)://`` subscribers: Zaqar's JSON POST, signed so the receiver can check the sender.

Each request carries ``X-Tidings-Notification-Id`` (the same on every attempt),
``X-Tidings-Timestamp`` (seconds since the epoch) and ``X-Tidings-Signature``: hex
HMAC-SHA256, keyed with the subscription's secret, of the timestamp, a dot and the body bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Mapping

import httpx
import orjson

from tidings.clock import Clock
from tidings.models import JSON
from tidings.notify.sinks import DELIVERED, Delivery, Outcome, failed, retry
from tidings.webhook_requests import UNSENDABLE, url_problem

TEMPLATE = '"$zaqar_message$"'
"""Where ``post_data`` takes the notification, as in Zaqar."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def content(payload: Mapping[str, JSON], options: Mapping[str, JSON]) -> bytes:
    """The request body: the payload as JSON, or the ``post_data`` template around it."""
    document = orjson.dumps(payload)
    template = options.get("post_data")
    if isinstance(template, str):
        return template.replace(TEMPLATE, document.decode()).encode()
    return document


def outcome(status: int) -> Outcome:
    if 200 <= status < 300:
        return DELIVERED
    if status == 429 or status >= 500:
        return retry(f"HTTP {status}")
    return failed(f"HTTP {status}")


class WebhookSink:
    def __init__(self, client: httpx.AsyncClient, clock: Clock, timeout: float) -> None:
        self._client = client
        self._clock = clock
        self._timeout = timeout  # for the whole request, however slowly the receiver trickles

    async def deliver(self, delivery: Delivery) -> Outcome:
        subscription = delivery.subscription
        problem = url_problem(subscription.subscriber)  # stored before the API checked it
        if problem:
            return failed(f"the request cannot be made: {problem}")
        body = content(delivery.payload, subscription.options)
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            **_extra_headers(subscription.options),
            "X-Tidings-Notification-Id": delivery.job.notification_id,
            "X-Tidings-Timestamp": timestamp,
            "X-Tidings-Signature": signature(subscription.secret, timestamp, body),
        }
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.post(
                    subscription.subscriber, content=body, headers=headers
                )
        except (httpx.TimeoutException, TimeoutError):
            return retry("timed out")
        except UNSENDABLE as exc:  # headers stored before the API checked them
            return failed(f"the request cannot be made: {exc}")
        except httpx.HTTPError as exc:
            return retry(f"{type(exc).__name__}: {exc}")
        return outcome(response.status_code)


def _extra_headers(options: Mapping[str, JSON]) -> dict[str, str]:
    headers = options.get("post_headers")
    return dict(headers) if isinstance(headers, dict) else {}
