"""The confirmation request a subscriber receives, as Zaqar sends it: pre-signed headers that
grant ``PUT`` on the subscription's confirm path until the subscription expires."""

from __future__ import annotations

from tidings.models import JSON, Subscription
from tidings.service.outbox import SUBSCRIBE
from tidings.service.scope import kind_of, owner_of, source_path
from tidings.service.share import DATE_FORMAT, signature, utc

METHODS = ["PUT"]


def confirm_path(space: str, subscription: Subscription) -> str:
    return f"{source_path(space, subscription.source)}/subscriptions/{subscription.id}/confirm"


def document(
    space: str, subscription: Subscription, kind: str, key: str, public_url: str
) -> dict[str, JSON]:
    """What a ``SubscriptionConfirmation`` or ``UnsubscribeConfirmation`` carries."""
    path = confirm_path(space, subscription)
    project = owner_of(space)
    expires = utc(subscription.expires).strftime(DATE_FORMAT)
    source = subscription.source
    what = kind_of(space)[:-1]
    message = (
        f"You have chosen to subscribe to the {what}: {source}"
        if kind == SUBSCRIBE
        else f"You have unsubscribed successfully from the {what}: {source}"
    )
    found: dict[str, JSON] = {
        "Message_Type": kind,
        "Message": message,
        "URL-Signature": signature(key, [path], METHODS, project, expires),
        "URL-Methods": ",".join(METHODS),
        "URL-Paths": path,
        "X-Project-ID": project,
        "URL-Expires": expires,
        "SubscribeBody": {"confirmed": True},
        "UnsubscribeBody": {"confirmed": False},
        "queue_name": source,
    }
    if public_url:
        found["WSGISubscribeURL"] = public_url.rstrip("/") + path
    return found
