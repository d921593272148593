"""An async client for the Zaqar v2 HTTP API; method names are the operation names the server
uses in its metrics and traces (``message_post``, ``claim_create``, ...)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from tidings.client.records import (
    Claim,
    Message,
    MessagePage,
    QueuePage,
    Stats,
    next_marker,
)
from tidings.client.status import error_for
from tidings.client.transport import HttpxTransport, Response, Transport
from tidings.models import JSON, QueueRecord

JSON_PATCH = "application/openstack-messaging-v2.0-json-patch"


class Client:
    """One caller (project and Client-ID) of one server.

    Every method raises the ``tidings.errors`` class matching an error response, and
    ``ConnectionError`` (or ``TimeoutError``) when the server cannot be reached.
    """

    def __init__(
        self,
        url: str,
        project_id: str,
        *,
        client_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.project_id = project_id
        self.client_id = client_id or str(uuid.uuid4())
        self.transport = transport or HttpxTransport(url)
        self._headers = {
            "Client-ID": self.client_id,
            "X-Project-ID": project_id,
            "Accept": "application/json",
            **(headers or {}),
        }
        self._json_headers = {**self._headers, "Content-Type": "application/json"}

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.transport.aclose()

    # System

    async def ping_node(self) -> bool:
        """True when the server and its storage answer."""
        response = await self.transport.request("GET", "/v2/ping", self._headers, None)
        return response.status == 204

    # Queues

    async def queue_create(self, name: str, metadata: Mapping[str, JSON] | None = None) -> bool:
        """Create the queue; False when it already existed (its metadata is then unchanged)."""
        response = await self._call("PUT", _queue(name), body=metadata or {})
        return response.status == 201

    async def queue_get(self, name: str) -> dict[str, JSON]:
        """The queue's metadata, reserved keys filled with their defaults."""
        return _object(await self._call("GET", _queue(name)))

    async def queue_update(self, name: str, patch: Sequence[Mapping[str, JSON]]) -> dict[str, JSON]:
        """Apply a JSON patch (``[{"op": "add", "path": "/metadata/k", "value": 1}]``)."""
        response = await self._call("PATCH", _queue(name), body=patch, content_type=JSON_PATCH)
        return _object(response)

    async def queue_delete(self, name: str) -> None:
        await self._call("DELETE", _queue(name))

    async def queue_list(
        self,
        marker: str | None = None,
        limit: int | None = None,
        *,
        detailed: bool = False,
        with_count: bool = False,
    ) -> QueuePage:
        query = _query(marker=marker, limit=limit, detailed=detailed, with_count=with_count)
        document = _object(await self._call("GET", "/v2/queues", query))
        queues = [QueueRecord(q["name"], q.get("metadata", {})) for q in document["queues"]]
        marker = next_marker(document.get("links", [])) if queues else None
        return QueuePage(queues, marker, document.get("count"))

    async def queue_get_stats(self, name: str) -> Stats:
        counts = _object(await self._call("GET", f"{_queue(name)}/stats"))["messages"]
        return Stats(
            claimed=counts["claimed"],
            free=counts["free"],
            total=counts["total"],
            delayed=counts.get("delayed", 0),
            oldest=counts.get("oldest"),
            newest=counts.get("newest"),
        )

    async def queue_purge(self, name: str, resource_types: Sequence[str] | None = None) -> None:
        body = None if resource_types is None else {"resource_types": list(resource_types)}
        await self._call("POST", f"{_queue(name)}/purge", body=body)

    # Messages

    async def message_post(self, queue: str, messages: Sequence[Mapping[str, JSON]]) -> list[str]:
        """Post a batch (``[{"body": ..., "ttl": 300, "delay": 0}]``); return the new ids."""
        response = await self._call(
            "POST", f"{_queue(queue)}/messages", body={"messages": list(messages)}
        )
        return [href.rsplit("/", 1)[1] for href in _object(response)["resources"]]

    async def message_list(
        self,
        queue: str,
        marker: str | None = None,
        limit: int | None = None,
        *,
        echo: bool = False,
        include_claimed: bool = False,
        include_delayed: bool = False,
        wait: int | None = None,
    ) -> MessagePage:
        """A page of messages; with ``wait``, an empty page is answered only after waiting up
        to that many seconds for a message."""
        query = _query(
            marker=marker,
            limit=limit,
            echo=echo,
            include_claimed=include_claimed,
            include_delayed=include_delayed,
            wait=wait,
        )
        document = _object(await self._call("GET", f"{_queue(queue)}/messages", query))
        found = [Message.from_wire(item) for item in document["messages"]]
        return MessagePage(found, next_marker(document.get("links", [])) if found else None)

    async def message_get(self, queue: str, message_id: str) -> Message:
        response = await self._call("GET", f"{_queue(queue)}/messages/{quote(message_id)}")
        return Message.from_wire(_object(response))

    async def message_get_many(self, queue: str, ids: Sequence[str]) -> list[Message]:
        query = _query(ids=",".join(ids))
        document = _object(await self._call("GET", f"{_queue(queue)}/messages", query))
        return [Message.from_wire(item) for item in document["messages"]]

    async def message_delete(
        self, queue: str, message_id: str, claim_id: str | None = None
    ) -> None:
        query = _query(claim_id=claim_id)
        await self._call("DELETE", f"{_queue(queue)}/messages/{quote(message_id)}", query)

    async def message_delete_many(
        self, queue: str, ids: Sequence[str], claim_ids: Sequence[str] | None = None
    ) -> None:
        joined_claims = None if claim_ids is None else ",".join(claim_ids)
        query = _query(ids=",".join(ids), claim_ids=joined_claims)
        await self._call("DELETE", f"{_queue(queue)}/messages", query)

    async def message_pop(self, queue: str, count: int) -> list[Message]:
        """Claim and delete up to ``count`` messages in one step; return them."""
        document = _object(
            await self._call("DELETE", f"{_queue(queue)}/messages", _query(pop=count))
        )
        return [Message.from_wire(item) for item in document["messages"]]

    # Claims

    async def claim_create(
        self,
        queue: str,
        limit: int | None = None,
        ttl: int | None = None,
        grace: int | None = None,
        wait: int | None = None,
    ) -> Claim | None:
        """Claim up to ``limit`` messages; None when there is nothing to claim (after waiting
        up to ``wait`` seconds for a message, when given)."""
        body = _present(ttl=ttl, grace=grace)
        query = _query(limit=limit, wait=wait)
        response = await self._call("POST", f"{_queue(queue)}/claims", query, body)
        if response.status == 204:
            return None
        messages = [Message.from_wire(item) for item in _object(response)["messages"]]
        claim_id = response.headers["location"].rsplit("/", 1)[1]
        return Claim(claim_id, messages, ttl)

    async def claim_get(self, queue: str, claim_id: str) -> Claim:
        document = _object(await self._call("GET", _claim(queue, claim_id)))
        messages = [Message.from_wire(item) for item in document["messages"]]
        return Claim(claim_id, messages, document["ttl"], document["age"])

    async def claim_update(
        self, queue: str, claim_id: str, ttl: int | None = None, grace: int | None = None
    ) -> None:
        """Renew the claim: it expires ``ttl`` seconds from now."""
        await self._call("PATCH", _claim(queue, claim_id), body=_present(ttl=ttl, grace=grace))

    async def claim_delete(self, queue: str, claim_id: str) -> None:
        """Release the claim; its messages become claimable at once."""
        await self._call("DELETE", _claim(queue, claim_id))

    # Subscriptions

    async def subscription_create(
        self,
        queue: str,
        subscriber: str,
        ttl: int | None = None,
        options: Mapping[str, JSON] | None = None,
    ) -> str:
        """Subscribe ``subscriber`` (``queue:NAME``, ``https://...``, ``mailto:...``) to the
        queue; return the subscription id."""
        body = _present(subscriber=subscriber, ttl=ttl, options=options)
        response = await self._call("POST", f"{_queue(queue)}/subscriptions", body=body)
        subscription_id: str = _object(response)["subscription_id"]
        return subscription_id

    async def subscription_update(
        self, queue: str, subscription_id: str, ttl: int | None = None
    ) -> None:
        """Renew the subscription: it expires ``ttl`` seconds from now."""
        await self._call("PATCH", _subscription(queue, subscription_id), body=_present(ttl=ttl))

    async def subscription_delete(self, queue: str, subscription_id: str) -> None:
        await self._call("DELETE", _subscription(queue, subscription_id))

    async def _call(
        self,
        method: str,
        path: str,
        query: str = "",
        body: JSON = None,
        content_type: str | None = None,
    ) -> Response:
        target = f"{path}?{query}" if query else path
        if body is None:
            response = await self.transport.request(method, target, self._headers, None)
        else:
            headers = self._json_headers
            if content_type is not None:
                headers = {**headers, "Content-Type": content_type}
            response = await self.transport.request(method, target, headers, orjson.dumps(body))
        if response.status >= 400:
            raise error_for(response.status, response.body)
        return response


def _queue(name: str) -> str:
    return f"/v2/queues/{quote(name)}"


def _claim(queue: str, claim_id: str) -> str:
    return f"{_queue(queue)}/claims/{quote(claim_id)}"


def _subscription(queue: str, subscription_id: str) -> str:
    return f"{_queue(queue)}/subscriptions/{quote(subscription_id)}"


def _present(**values: Any) -> dict[str, Any] | None:
    """The given (non-None) values, or None when there are none."""
    found = {key: value for key, value in values.items() if value is not None}
    return found or None


def _query(**values: Any) -> str:
    """A query string of the given values; False and None are left out."""
    given = {
        key: value for key, value in values.items() if value is not None and value is not False
    }
    return urlencode({key: "true" if value is True else value for key, value in given.items()})


def _object(response: Response) -> dict[str, Any]:
    document = orjson.loads(response.body)
    if not isinstance(document, dict):
        raise ValueError(f"expected a JSON object, got {type(document).__name__}")
    return document
