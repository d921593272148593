"""The ``openstack messaging`` commands (python-openstackclient with python-zaqarclient's
plugin), unchanged, against a ``tidings serve`` that validates tokens with the session's
Keystone. The commands log in with a password and find tidings in Keystone's catalog, as an
OpenStack user's do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import running
from tests.servers.keystone import DOMAIN, PASSWORD, GuardedServer, Keystone, register_endpoint

OPENSTACK = str(Path(sys.executable).with_name("openstack"))


@dataclass(frozen=True)
class Cloud:
    """The ``openstack`` command as the session's users run it against one tidings."""

    keystone: Keystone
    region: str
    home: Path
    server: GuardedServer

    def run(self, *args: str, user: str = "a-member") -> subprocess.CompletedProcess[str]:
        project = {"a": "tidings-a", "b": "tidings-b"}[user[0]]
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "OS_AUTH_URL": self.keystone.url,
            "OS_IDENTITY_API_VERSION": "3",
            "OS_USERNAME": user,
            "OS_PASSWORD": PASSWORD,
            "OS_PROJECT_NAME": project,
            "OS_USER_DOMAIN_NAME": DOMAIN,
            "OS_PROJECT_DOMAIN_NAME": DOMAIN,
            "OS_REGION_NAME": self.region,
            "OS_MESSAGE_CLIENT_ID": str(uuid.uuid4()),
        }
        return subprocess.run(
            [OPENSTACK, *args], capture_output=True, text=True, env=env, timeout=120, check=False
        )

    def ok(self, *args: str, user: str = "a-member") -> str:
        """The output of a command that must succeed."""
        done = self.run(*args, user=user)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def json(self, *args: str, user: str = "a-member") -> Any:
        """The ``-f json`` output of a command that must succeed."""
        return json.loads(self.ok(*args, "-f", "json", user=user))

    def refused(self, *args: str, user: str = "a-member") -> str:
        """The error output of a command that must fail."""
        done = self.run(*args, user=user)
        assert done.returncode == 1, done.stdout
        return done.stderr


@pytest.fixture(scope="module")
def cloud(keystone: Keystone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """A tidings that signs URLs, holds pools in SQLite files, and is the catalog's
    ``messaging`` service in a region of its own."""
    directory = tmp_path_factory.mktemp("openstack-cli")
    env = keystone.server_environment() | {"TIDINGS_SIGNED_URL_SECRET_KEY": "cli-signing-key"}
    with running(GuardedServer(directory / "tidings.db", env=env)) as server:
        region = register_endpoint(keystone.url, "messaging", server.url)
        yield Cloud(keystone, region, directory, server)


def test_a_queue_is_created_listed_described_purged_and_deleted(cloud: Cloud) -> None:
    assert cloud.json("messaging", "queue", "create", "jobs") == {"Name": "jobs"}
    cloud.ok("messaging", "queue", "set", "metadata", "jobs", '{"color": "red"}')

    listed = cloud.json("messaging", "queue", "list", "--detailed")
    metadata = cloud.json("messaging", "queue", "get", "metadata", "jobs")["Metadata"]
    cloud.ok("messaging", "message", "post", "jobs", '[{"body": 1}, {"body": 2}]')
    stats = cloud.json("messaging", "queue", "stats", "jobs")["Stats"]["messages"]

    assert [queue["Name"] for queue in listed] == ["jobs"]
    assert listed[0]["Href"] == "/v2/queues/jobs"
    assert metadata["color"] == "red"
    assert metadata["_default_message_ttl"] == 3600
    assert (stats["total"], stats["free"], stats["claimed"]) == (2, 2, 0)
    assert cloud.json("messaging", "queue", "list", user="b-member") == []

    cloud.ok("messaging", "queue", "purge", "jobs", "--resource_types", "messages")
    assert cloud.json("messaging", "queue", "stats", "jobs")["Stats"]["messages"]["total"] == 0
    cloud.ok("messaging", "queue", "delete", "jobs")
    assert cloud.json("messaging", "queue", "list") == []


def test_messages_are_posted_claimed_renewed_and_released(cloud: Cloud) -> None:
    cloud.ok("messaging", "message", "post", "work", '[{"body": {"n": 1}, "ttl": 600}]')

    listed = cloud.json("messaging", "message", "list", "work", "--echo")
    claimed = cloud.json("messaging", "claim", "create", "work", "--ttl", "120", "--limit", "5")
    claim = claimed[0]["Claim_ID"]
    queried = cloud.json("messaging", "claim", "query", "work", claim)
    renewed = cloud.json("messaging", "claim", "renew", "work", claim, "--ttl", "300")
    hidden = cloud.json("messaging", "message", "list", "work", "--echo")
    cloud.ok("messaging", "claim", "release", "work", claim)
    released = cloud.json("messaging", "message", "list", "work", "--echo")

    assert [(message["Body"], message["TTL"]) for message in listed] == [({"n": 1}, 600)]
    assert [(message["Message_ID"], message["Messages"]) for message in claimed] == [
        (listed[0]["ID"], {"n": 1})
    ]
    # (the plugin reads these two listings' ids from an attribute its messages lack: blank)
    assert [(message["Message"], message["TTL"]) for message in queried] == [({"n": 1}, 600)]
    assert [message["Message"] for message in renewed] == [{"n": 1}]
    assert hidden == []
    assert [message["ID"] for message in released] == [listed[0]["ID"]]


def test_subscriptions_are_created_shown_updated_and_deleted(cloud: Cloud) -> None:
    created = cloud.json(
        "messaging", "subscription", "create", "events", "http://127.0.0.1:9/hook", "3600"
    )
    subscription = created["ID"]
    cloud.ok(
        "messaging",
        "subscription",
        "update",
        "events",
        subscription,
        "--ttl",
        "7200",
        "--subscriber",
        "http://127.0.0.1:9/other",
    )
    shown = cloud.json("messaging", "subscription", "show", "events", subscription)
    listed = cloud.json("messaging", "subscription", "list", "events")
    cloud.ok("messaging", "subscription", "delete", "events", subscription)

    assert (shown["Subscriber"], shown["TTL"]) == ("http://127.0.0.1:9/other", 7200)
    assert [entry["ID"] for entry in listed] == [subscription]
    assert cloud.json("messaging", "subscription", "list", "events") == []


def test_a_signed_url_made_by_the_command_reads_the_queue(cloud: Cloud) -> None:
    cloud.ok("messaging", "message", "post", "shared", '[{"body": "hello"}]')

    signed = cloud.json(
        "messaging", "queue", "signed", "url", "shared", "--paths", "messages", "--methods", "GET"
    )
    headers = {
        "URL-Signature": signed["Signature"],
        "URL-Expires": signed["Expires"],
        "URL-Methods": signed["Methods"],
        "URL-Paths": signed["Paths"],
        "X-Project-ID": signed["Project ID"],
        "Client-ID": str(uuid.uuid4()),
    }
    response = httpx.get(f"{cloud.server.url}/v2/queues/shared/messages?echo=true", headers=headers)

    assert signed["Project ID"] == cloud.keystone.projects["tidings-a"]
    assert response.status_code == 200, response.text
    assert [message["body"] for message in response.json()["messages"]] == ["hello"]


def test_pools_and_flavors_are_managed_by_admins(cloud: Cloud) -> None:
    uri = f"sqlite:///{cloud.home / 'pool-1.db'}"
    admin = "a-admin"

    created = cloud.json("messaging", "pool", "create", "pool-1", uri, "10", user=admin)
    flavor = cloud.json(
        "messaging", "flavor", "create", "durable", "--pool_list", "pool-1", user=admin
    )
    cloud.ok("messaging", "pool", "update", "pool-1", "--pool_weight", "20", user=admin)
    pools = cloud.json("messaging", "pool", "list", user=admin)
    flavors = cloud.json("messaging", "flavor", "list", user=admin)
    cloud.ok("messaging", "flavor", "delete", "durable", user=admin)
    cloud.ok("messaging", "pool", "delete", "pool-1", user=admin)

    assert (created["Name"], created["Weight"], created["URI"]) == ("pool-1", 10, uri)
    assert (flavor["Name"], flavor["Pool list"]) == ("durable", ["pool-1"])
    assert [(pool["Name"], pool["Weight"]) for pool in pools] == [("pool-1", 20)]
    assert [entry["Name"] for entry in flavors] == ["durable"]
    assert cloud.json("messaging", "pool", "list", user=admin) == []


def test_ping_health_and_the_home_document(cloud: Cloud) -> None:
    assert cloud.json("messaging", "ping") == {"Pingable": True}
    assert "storage_reachable" in cloud.ok("messaging", "health", user="a-admin")
    assert "rel/queues" in cloud.ok("messaging", "homedoc")


INVALID = "400. Title: Invalid API request. Description:"
REFUSALS = [
    (("message", "post", "q", '[{"ttl": 60}]'), "a-member", f'{INVALID} Missing "body" field.'),
    (
        ("message", "post", "q", '[{"body": 1, "ttl": 1}]'),
        "a-member",
        f"{INVALID} The TTL for a message may not exceed 1209600 seconds, and must be at least",
    ),
    (
        ("claim", "create", "q", "--ttl", "5"),
        "a-member",
        f"{INVALID} The TTL for a claim may not exceed 43200 seconds, and must be at least",
    ),
    (
        ("claim", "query", "q", str(uuid.UUID(int=7))),
        "a-member",
        "404. Title: Not found. Description: The specified claim does not exist or has expired.",
    ),
    (
        ("subscription", "create", "q", "ftp://x", "3600"),
        "a-member",
        f"{INVALID} The subscriber type of subscription must be supported in the list",
    ),
    (
        ("pool", "create", "p", "nope://x", "1"),
        "a-admin",
        f"{INVALID} cannot connect to nope://x: unknown storage URL scheme 'nope'",
    ),
    (("pool", "list"), "a-member", "403. Title: Not authorized."),
    (("health",), "a-member", "403. Title: Not authorized."),
]
"""Each command, the user who runs it, and what the server's refusal says."""


@pytest.mark.parametrize(("args", "user", "reason"), REFUSALS)
def test_bad_input_is_refused_with_the_servers_reason(
    cloud: Cloud, args: tuple[str, ...], user: str, reason: str
) -> None:
    refusal = cloud.refused("messaging", *args, user=user)

    assert f"Error response from Zaqar. Code: {reason}" in refusal
