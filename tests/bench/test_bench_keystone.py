"""``tidings bench URL`` against a server that validates tokens: the private Keystone of
tests/servers/keystone.py, and a ``tidings serve`` that asks it about every token."""

from __future__ import annotations

import os
import subprocess
import uuid

import httpx
import orjson
import pytest

from tests.processes import tidings
from tests.servers.keystone import (  # noqa: F401
    DOMAIN,
    PASSWORD,
    START_TIMEOUT,
    GuardedServer,
    Keystone,
    guarded_fixture,
    keystone_fixture,
)
from tidings.bench.runner import Options
from tidings.client.keystone import Credentials

pytestmark = pytest.mark.timeout(START_TIMEOUT)
PREFIX = "bench-keystone"


def bench(
    server: GuardedServer, *args: str, **environment: str
) -> subprocess.CompletedProcess[str]:
    return _tidings("bench", server.url, *args, "--no-progress", **environment)


def compare(
    server: GuardedServer, *args: str, **environment: str
) -> subprocess.CompletedProcess[str]:
    sides = ("--base", server.url, "--candidate", server.url, "--rounds", "1")
    run = ("--scenario", "post-1", "--clients", "2", "--duration", "1", "--json")
    return _tidings("bench", "compare", *sides, *run, *args, **environment)


def _tidings(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """A ``tidings`` command, with ``environment`` in place of the tests' own OS_ variables."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    return tidings(*args, env=clean | environment)


def credentials(keystone: Keystone, password: str = PASSWORD) -> dict[str, str]:
    """a-member's, as the openstack CLI reads them."""
    return {
        "OS_AUTH_URL": keystone.url,
        "OS_USERNAME": "a-member",
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": "tidings-a",
        "OS_USER_DOMAIN_NAME": DOMAIN,
        "OS_PROJECT_DOMAIN_NAME": DOMAIN,
    }


RUN = ("--scenario", "post-1", "--clients", "2", "--duration", "1", "--json", "--keep-queues")


def test_a_run_with_keystone_credentials_posts_into_the_token_s_project(
    guarded: GuardedServer, keystone: Keystone
) -> None:
    queue_prefix = f"{PREFIX}-password"

    done = bench(
        guarded, *RUN, "--keystone", "--queue-prefix", queue_prefix, **credentials(keystone)
    )

    assert done.returncode == 0, done.stderr
    [result] = orjson.loads(done.stdout)["runs"]
    assert result["errors"] == 0
    assert result["produced"] > 0
    assert _queues(guarded, keystone, "a-member", queue_prefix) == 4
    assert _queues(guarded, keystone, "b-member", queue_prefix) == 0
    assert result["options"]["auth"] == "keystone: a-member in tidings-a"
    assert PASSWORD not in done.stdout


def test_a_run_with_a_token_is_served(guarded: GuardedServer, keystone: Keystone) -> None:
    queue_prefix = f"{PREFIX}-token"

    done = bench(
        guarded, *RUN, "--token", keystone.tokens["b-member"], "--queue-prefix", queue_prefix
    )

    assert done.returncode == 0, done.stderr
    [result] = orjson.loads(done.stdout)["runs"]
    assert result["errors"] == 0
    assert result["produced"] > 0
    assert _queues(guarded, keystone, "b-member", queue_prefix) == 4
    assert result["options"]["auth"] == "token"
    assert keystone.tokens["b-member"] not in done.stdout


def test_a_run_without_a_token_is_refused_in_one_line(guarded: GuardedServer) -> None:
    done = bench(guarded, *RUN)

    assert done.returncode == 1
    assert done.stderr.startswith(f"tidings bench: {guarded.url}: Unauthorized")
    assert "Traceback" not in done.stderr


def test_a_password_keystone_refuses_stops_the_run_in_one_line(
    guarded: GuardedServer, keystone: Keystone
) -> None:
    done = bench(guarded, *RUN, "--keystone", **credentials(keystone, password="wrong"))

    assert done.returncode == 1
    assert "Keystone refused a token (401)" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "missing", ["OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME"]
)
def test_keystone_without_its_credentials_is_a_usage_error(
    guarded: GuardedServer, keystone: Keystone, missing: str
) -> None:
    given = credentials(keystone)
    del given[missing]

    done = bench(guarded, *RUN, "--keystone", **given)

    assert done.returncode == 2
    assert f"--keystone needs {missing} in the environment" in done.stderr


def test_a_token_and_keystone_are_one_or_the_other(guarded: GuardedServer) -> None:
    done = bench(guarded, *RUN, "--keystone", "--token", "t")

    assert done.returncode == 2
    assert "not allowed with argument" in done.stderr


def test_compare_loads_two_such_servers_with_keystone_credentials(
    guarded: GuardedServer, keystone: Keystone
) -> None:
    done = compare(guarded, "--keystone", **credentials(keystone))

    assert done.returncode == 0, done.stderr
    [verdict] = orjson.loads(done.stdout)
    assert verdict["scenario"] == "post-1"
    assert verdict["base"][0] > 0
    assert verdict["candidate"][0] > 0
    assert "0 errors" in done.stderr


def test_compare_stops_in_one_line_when_keystone_refuses(
    guarded: GuardedServer, keystone: Keystone
) -> None:
    done = compare(guarded, "--keystone", **credentials(keystone, password="wrong"))

    assert done.returncode == 1
    assert "tidings bench compare: PermissionError('Keystone refused a token (401)')" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_token_and_the_password_stay_out_of_reprs() -> None:
    credentials = Credentials("http://keystone/v3", "a-member", "s3cret", "tidings-a")
    options = Options("http://tidings", token="t0ken", keystone=credentials)

    assert "s3cret" not in repr(options)
    assert "t0ken" not in repr(options)
    assert "a-member" in repr(options)


def _queues(server: GuardedServer, keystone: Keystone, user: str, prefix: str) -> int:
    headers = {"X-Auth-Token": keystone.tokens[user], "Client-ID": str(uuid.uuid4())}
    page = httpx.get(f"{server.url}/v2/queues?limit=20", headers=headers, timeout=10)
    page.raise_for_status()
    return sum(queue["name"].startswith(prefix) for queue in page.json()["queues"])
