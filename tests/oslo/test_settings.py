"""Queue names and transport URLs: pure functions, no server."""

from __future__ import annotations

import re
from typing import Any

import oslo_messaging as om
import pytest
from oslo_config import cfg

from tidings.integrations.oslo_messaging import (
    DriverSettings,
    fanout_queue,
    notification_queue,
    pool_queue,
    queue_name,
    rpc_queue,
    server_queue,
)

VALID = re.compile(r"[a-zA-Z0-9_.-]{1,64}")


def settings(url: str) -> DriverSettings:
    return DriverSettings.from_url(om.TransportURL.parse(cfg.CONF, url))


def test_plain_names_read_as_their_parts() -> None:
    assert rpc_queue("nova", "conductor") == "rpc.nova.conductor"
    assert server_queue("nova", "compute", "host-1.example.org") == (
        "rpc-server.nova.compute.host-1.example.org"
    )
    assert notification_queue("nova", "notifications.info") == "notify.nova.notifications.info"
    assert pool_queue("nova", "ceilometer", "notifications.info") == (
        "notify-pool.nova.ceilometer.notifications.info"
    )


@pytest.mark.parametrize(
    "parts",
    [
        ("openstack", "x" * 80),
        ("open stack", "compute"),
        ("nova", "t\u00e9l\u00e9", "h"),
        ("a.b", "c"),
    ],
)
def test_long_unsafe_or_ambiguous_parts_give_a_valid_hashed_name(parts: tuple[str, ...]) -> None:
    name = queue_name("rpc", *parts)

    assert VALID.fullmatch(name)
    assert re.search(r"\.[0-9a-f]{12}$", name)
    assert name.startswith("rpc.")


def test_parts_that_join_alike_still_get_distinct_names() -> None:
    assert queue_name("rpc", "a.b", "c") != queue_name("rpc", "a", "b.c")
    assert queue_name("rpc", "x" * 80 + "1") != queue_name("rpc", "x" * 80 + "2")


def test_each_fanout_listener_gets_a_queue_of_its_own() -> None:
    first, second = fanout_queue("compute"), fanout_queue("compute")

    assert first != second
    assert first.startswith("oslo-tmp.fanout.")
    assert VALID.fullmatch(fanout_queue("t" * 100))


def test_the_noauth_url_names_the_server_and_the_project() -> None:
    found = settings("tidings://10.0.0.5:9000/?project=p1&wait=5&message_ttl=600")

    assert found.endpoint == "http://10.0.0.5:9000"
    assert found.project == "p1"
    assert found.credentials is None
    assert found.bus.wait == 5
    assert found.message_ttl == 600


def test_the_url_has_defaults() -> None:
    found = settings("tidings://")

    assert found.endpoint == "http://127.0.0.1:8888"
    assert found.project == "openstack"
    assert (found.bus.wait, found.bus.lease, found.claim_ttl) == (20, 300, 300)


def test_the_keystone_form_carries_credentials_and_https() -> None:
    url = (
        "tidings+keystone+https://nova:s3cret@mq.example.org:443/?project=service"
        "&auth_url=https://keystone.example.org:5000/v3&user_domain=ops"
    )

    found = settings(url)

    assert found.endpoint == "https://mq.example.org:443"
    assert found.credentials is not None
    assert found.credentials.username == "nova"
    assert found.credentials.password == "s3cret"
    assert found.credentials.project == "service"
    assert found.credentials.auth_url == "https://keystone.example.org:5000/v3"
    assert (found.credentials.user_domain, found.credentials.project_domain) == ("ops", "Default")


@pytest.mark.parametrize(
    "url",
    [
        "tidings+tls://h:1/",
        "tidings://h:1/?colour=blue",
        "tidings://h:1/?wait=21",
        "tidings://h:1/?message_ttl=ten",
        "tidings+keystone://h:1/?auth_url=http://k/v3",
        "tidings+keystone://u:p@h:1/",
    ],
)
def test_a_wrong_url_is_refused(url: str) -> None:
    with pytest.raises(om.InvalidTransportURL):
        settings(url)


def test_loading_a_wrong_url_fails_at_once(conf: Any) -> None:
    with pytest.raises(om.InvalidTransportURL):
        om.get_rpc_transport(conf, url="tidings://h:1/?colour=blue")
