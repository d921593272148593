"""The keystone form of the transport URL against a tidings that validates tokens with a
private Keystone (tests/servers/keystone.py; installed once per machine, then cached)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import oslo_messaging as om
import pytest

from tests.conftest import ServerProcess
from tests.oslo.conftest import eventually, rpc_servers
from tests.servers.keystone import (  # noqa: F401
    PASSWORD,
    START_TIMEOUT,
    Keystone,
    guarded_fixture,
    keystone_fixture,
)

pytestmark = pytest.mark.timeout(START_TIMEOUT)


def keystone_url(server: ServerProcess, keystone: Keystone, password: str = PASSWORD) -> str:
    return (
        f"tidings+keystone://a-member:{password}@127.0.0.1:{server.port}/"
        f"?project=tidings-a&auth_url={keystone.url}&wait=2"
    )


def test_calls_and_notifications_travel_with_keystone_tokens(
    guarded: ServerProcess,
    keystone: Keystone,
    transports: Callable[..., Any],
    started: Callable[[Any], Any],
) -> None:
    url = keystone_url(guarded, keystone)
    transport = transports(transport_url=url)
    rpc_servers(transport, started, "guarded", ["s1"])
    client = om.get_rpc_client(transport, om.Target(topic="guarded"), timeout=10)

    assert client.call({}, "echo", value="authenticated")["value"] == "authenticated"

    notifications = transports(notification=True, transport_url=url)
    seen: list[str] = []

    class Endpoint:
        def info(self, ctxt: Any, publisher: str, event: str, payload: Any, meta: Any) -> None:
            seen.append(event)

    targets = [om.Target(topic="notifications")]
    started(om.get_notification_listener(notifications, targets, [Endpoint()]))
    notifier = om.Notifier(notifications, "tests", driver="messagingv2", topics=["notifications"])
    notifier.info({}, "with.token", {})
    eventually(lambda: seen == ["with.token"])


def test_a_wrong_password_fails_the_delivery(
    guarded: ServerProcess, keystone: Keystone, transports: Callable[..., Any]
) -> None:
    transport = transports(transport_url=keystone_url(guarded, keystone, "wrong"))
    client = om.get_rpc_client(transport, om.Target(topic="guarded"), timeout=10)

    with pytest.raises(om.MessageDeliveryFailure, match="Keystone refused"):
        client.cast({}, "echo", value=1)
