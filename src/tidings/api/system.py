"""Version discovery, the JSON-home document, ping and health."""

from __future__ import annotations

from typing import Any

from tidings.api.operation import Operation, Reply, Request
from tidings.service import Service

VERSIONS = {
    "versions": [
        {
            "id": "2",
            "status": "CURRENT",
            "updated": "2014-9-24T04:06:47Z",
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.messaging-v2+json"}
            ],
            "links": [{"href": "/v2/", "rel": "self"}],
        }
    ]
}


def _resource(template: str, allow: list[str], **variables: str) -> dict[str, Any]:
    href_vars = {name: f"param/{kind}" for name, kind in variables.items()}
    return {
        "href-template": template,
        "href-vars": href_vars,
        "hints": {"allow": allow, "formats": {"application/json": {}}},
    }


QUEUE = "/v2/queues/{queue_name}"
HOME = {
    "resources": {
        "rel/queues": _resource(
            "/v2/queues{?marker,limit,detailed}",
            ["GET"],
            marker="marker",
            limit="queue_limit",
            detailed="detailed",
        ),
        "rel/queue": _resource(QUEUE, ["PUT", "GET", "PATCH", "DELETE"], queue_name="queue_name"),
        "rel/queue_stats": _resource(f"{QUEUE}/stats", ["GET"], queue_name="queue_name"),
        "rel/queue_purge": _resource(f"{QUEUE}/purge", ["POST"], queue_name="queue_name"),
        "rel/queue_share": _resource(f"{QUEUE}/share", ["POST"], queue_name="queue_name"),
        "rel/messages": _resource(
            f"{QUEUE}/messages{{?marker,limit,echo,include_claimed}}",
            ["GET"],
            queue_name="queue_name",
            marker="marker",
            limit="messages_limit",
            echo="echo",
            include_claimed="include_claimed",
        ),
        "rel/post_messages": _resource(f"{QUEUE}/messages", ["POST"], queue_name="queue_name"),
        "rel/messages_delete": _resource(
            f"{QUEUE}/messages{{?ids,pop}}", ["DELETE"], queue_name="queue_name", ids="ids"
        ),
        "rel/message_get": _resource(
            f"{QUEUE}/messages/{{message_id}}", ["GET"], queue_name="queue_name", message_id="id"
        ),
        "rel/message_delete": _resource(
            f"{QUEUE}/messages/{{message_id}}{{?claim}}",
            ["DELETE"],
            queue_name="queue_name",
            message_id="id",
        ),
        "rel/post_claim": _resource(
            f"{QUEUE}/claims{{?limit}}", ["POST"], queue_name="queue_name", limit="claim_limit"
        ),
        "rel/claim": _resource(
            f"{QUEUE}/claims/{{claim_id}}",
            ["GET", "PATCH", "DELETE"],
            queue_name="queue_name",
            claim_id="claim_id",
        ),
        "rel/subscriptions_get": _resource(
            f"{QUEUE}/subscriptions{{?marker,limit}}",
            ["GET"],
            queue_name="queue_name",
            marker="marker",
            limit="subscription_limit",
        ),
        "rel/subscriptions_post": _resource(
            f"{QUEUE}/subscriptions", ["POST"], queue_name="queue_name"
        ),
        "rel/subscription": _resource(
            f"{QUEUE}/subscriptions/{{subscription_id}}",
            ["GET", "DELETE"],
            queue_name="queue_name",
            subscription_id="subscription_id",
        ),
        "rel/subscription_patch": _resource(
            f"{QUEUE}/subscriptions/{{subscription_id}}",
            ["PATCH"],
            queue_name="queue_name",
            subscription_id="subscription_id",
        ),
        "rel/ping": _resource("/v2/ping", ["GET", "HEAD"]),
    }
}


async def get_versions(service: Service, request: Request) -> Reply:
    return Reply(300, VERSIONS)


async def get_home_doc(service: Service, request: Request) -> Reply:
    return Reply(
        200,
        HOME,
        media_type="application/json-home",
        headers={"Cache-Control": "max-age=86400"},
    )


async def ping(service: Service, request: Request) -> Reply:
    return Reply(204 if await service.is_alive() else 503)


async def health(service: Service, request: Request) -> Reply:
    healthy, report = await service.health()
    return Reply(200 if healthy else 503, report)


OPERATIONS = (
    Operation(
        "get_versions",
        "GET",
        "/",
        "The API versions this server speaks",
        "",
        get_versions,
        responses={300: "The versions"},
        authenticated=False,
    ),
    Operation(
        "get_home_doc",
        "GET",
        "/v2/",
        "The JSON-home document of the v2 API",
        "",
        get_home_doc,
        responses={200: "The resources"},
    ),
    Operation(
        "ping_node",
        "GET",
        "/v2/ping",
        "204 when the storage answers",
        "ping:get",
        ping,
        responses={204: "Alive", 503: "Storage unreachable"},
    ),
    Operation(
        "check_node_health",
        "GET",
        "/v2/health",
        "Health of this node and its storage (admin only)",
        "health:get",
        health,
        responses={200: "Healthy", 403: "Not an admin", 503: "Storage unreachable"},
    ),
)
