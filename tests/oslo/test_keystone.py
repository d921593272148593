"""The keystone form of the transport URL against a tidings that validates tokens with a
private Keystone (tests/servers/keystone.py; installed once per machine, then cached)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import oslo_messaging as om
import pytest

from tests.conftest import ServerProcess
from tests.oslo.conftest import eventually, rpc_servers
from tests.servers.keystone import (  # noqa: F401
    DOMAIN,
    PASSWORD,
    SERVICE,
    START_TIMEOUT,
    Keystone,
    keystone_fixture,
)

pytestmark = pytest.mark.timeout(START_TIMEOUT)


class GuardedServer(ServerProcess):
    """Ready when it answers ``GET /``, the one request that needs no token."""

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while self.process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/", timeout=1).status_code == 300:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"server not ready: {self.log_text()!r}")


@pytest.fixture(scope="module")
def guarded(
    keystone: Keystone, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A tidings that validates tokens with the session's Keystone."""
    user, project, _ = SERVICE
    env = {
        "TIDINGS_AUTH_STRATEGY": "keystone",
        "TIDINGS_AUTH_KEYSTONE_URL": keystone.url,
        "TIDINGS_AUTH_SERVICE_USER": user,
        "TIDINGS_AUTH_SERVICE_PASSWORD": PASSWORD,
        "TIDINGS_AUTH_SERVICE_PROJECT": project,
        "TIDINGS_AUTH_SERVICE_DOMAIN": DOMAIN,
    }
    process = GuardedServer(tmp_path_factory.mktemp("oslo-keystone") / "tidings.db", env=env)
    process.start()
    try:
        yield process
    finally:
        process.stop()


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
