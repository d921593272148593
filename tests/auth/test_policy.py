"""Policy: Zaqar's rule names and defaults, oslo.policy's rule language, a policy file that
changes a rule (with Keystone roles), and roles in noauth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from oslo_config import cfg
from oslo_policy import policy

from tests.api.support import assert_error
from tests.auth.conftest import MakeApi, user
from tests.conftest import in_process_client
from tests.servers.keystone import Keystone
from tidings.api import OPERATIONS
from tidings.api.policy import DEFAULTS, Policy
from tidings.clock import FakeClock
from tidings.config import AuthSettings, ConfigError, Settings, StorageSettings

CREDS = {
    "project_id": "p1",
    "roles": ["member", "Reader"],
    "is_admin": False,
    "user": {"name": "alice", "groups": [{"id": "g1"}, {"id": "g2"}]},
}
TARGET = {"project_id": "p1", "role": "member", "enabled": True, "owner": "p2"}
RULES = {"ctx": "rule:admin_or_owner"}

# Each rule's result for CREDS and TARGET; oslo.policy itself reads the table the same way
# (test_oslo_policy_gives_the_same_results).
LANGUAGE = [
    ("", True),
    ("@", True),
    ("!", False),
    ("role:member", True),
    ("role:MEMBER", True),
    ("role:reader", True),
    ("role:admin", False),
    ("project_id:%(project_id)s", True),
    ("project_id:%(owner)s", False),
    ("is_admin:True", False),
    ("is_admin:False", True),
    ("role:admin or role:member", True),
    ("role:admin and role:member", False),
    ("not role:admin", True),
    ("not role:admin and role:member", True),
    ("role:member or role:admin and !", True),
    ("(role:member or role:admin) and !", False),
    ("rule:admin_or_owner", True),
    ("rule:context_is_admin", False),
    ("'member':%(role)s", True),
    ("True:%(enabled)s", True),
    ("project_id:%(missing)s", False),
    ("roles:member", True),
    ("user.name:alice", True),
    ("user.groups.id:g2", True),
    ("user.groups.id:g3", False),
    ("((role:member))", True),
    ("role:member AND role:reader", True),
    ("role:%(project_id)s", False),
    ("not not role:member", True),
    ("project_id:p1", True),
    ("( role:admin ) or ( project_id:%(project_id)s and not role:admin )", True),
    ("role:member and (role:admin or not (role:reader and !))", True),
    ("rule:missing or @", True),
    ("not (role:member or role:admin)", False),
    ("rule:ctx and role:member", True),
]


@pytest.mark.parametrize(("rule", "expected"), LANGUAGE)
def test_the_rule_language_reads_as_oslo_policy(rule: str, expected: bool) -> None:
    policy = Policy({**RULES, "under-test": rule})

    assert policy.allows("under-test", TARGET, CREDS) is expected


@pytest.fixture(scope="module")
def oslo_enforcer() -> policy.Enforcer:
    conf = cfg.ConfigOpts()
    conf([], project="tidings-test")
    return policy.Enforcer(conf, use_conf=False)


@pytest.mark.parametrize(("rule", "expected"), LANGUAGE)
def test_oslo_policy_gives_the_same_results(
    oslo_enforcer: policy.Enforcer, rule: str, expected: bool
) -> None:
    rules = policy.Rules.from_dict({**DEFAULTS, **RULES, "under-test": rule})
    oslo_enforcer.set_rules(rules, overwrite=True, use_conf=False)

    assert oslo_enforcer.enforce("under-test", TARGET, CREDS) is expected


@pytest.mark.parametrize(
    "rule",
    [
        "role:admin and",
        "(role:admin",
        "role:admin)",
        "admin",
        ":admin",
        "role:a role:b",
        "and role:a",
        "not",
        "()",
        " ",
        "http://policy.example/check",
    ],
)
def test_a_rule_that_does_not_parse_stops_the_server(rule: str) -> None:
    with pytest.raises(ConfigError, match="policy rule 'queues:create'"):
        Policy({"queues:create": rule})


@pytest.mark.parametrize(
    "rules",
    [
        {"a": "rule:a"},
        {"a": "rule:b", "b": "role:x or rule:a"},
        {"queues:get": "rule:admin_or_owner", "admin_or_owner": "rule:queues:get"},
    ],
)
def test_rules_that_refer_to_each_other_in_a_loop_stop_the_server(
    rules: dict[str, str],
) -> None:
    with pytest.raises(ConfigError, match="loop"):
        Policy(rules)


def test_the_defaults_are_zaqars() -> None:
    unprotected = {name for name, rule in DEFAULTS.items() if rule == ""}
    admin = {name for name, rule in DEFAULTS.items() if rule == "role:admin"}

    assert admin == {
        "context_is_admin",
        "health:get",
        "flavors:create",
        "flavors:update",
        "flavors:delete",
        *(f"pools:{action}" for action in ("get_all", "create", "get", "update", "delete")),
    }
    assert {"queues:share", "messages:get_all", "claims:update", "ping:get"} <= unprotected
    assert len(unprotected) == 8 + 5 + 4 + 6 + 7 + 1 + 2
    assert DEFAULTS["admin_or_owner"] == "is_admin:True or project_id:%(project_id)s"


def test_every_operation_names_a_zaqar_rule() -> None:
    unprotected = {op.name for op in OPERATIONS.values() if not op.policy}

    assert {op.policy for op in OPERATIONS.values() if op.policy} <= set(DEFAULTS)
    assert unprotected == {"get_versions", "get_home_doc"}
    assert OPERATIONS["message_get_many"].policy == "messages:get_all"
    assert OPERATIONS["queue_share"].policy == "queues:share"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("- queues:create\n", "must map rule names", id="a-list"),
        pytest.param('"queues:create": true\n', "must map rule names", id="not-a-string"),
        pytest.param('"queues:create": [\n', "cannot read", id="not-yaml"),
    ],
)
def test_a_bad_policy_file_stops_the_server(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError, match=problem):
        Policy.from_file(str(path))


def test_a_missing_policy_file_stops_the_server(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Policy.from_file(str(tmp_path / "absent.yaml"))


def test_an_empty_policy_file_keeps_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("# nothing changed\n")

    policy = Policy.from_file(str(path))

    assert policy.allows("health:get", {}, {"roles": ["admin"]})
    assert not policy.allows("health:get", {}, {"roles": ["member"]})


def write_policy(tmp_path: Path, rules: dict[str, str]) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text("".join(f'"{name}": "{rule}"\n' for name, rule in rules.items()))
    return str(path)


async def test_a_policy_file_changes_a_rule(
    make_api: MakeApi, keystone: Keystone, tmp_path: Path
) -> None:
    # Given only admins may create queues
    api = await make_api(
        auth={"policy_file": write_policy(tmp_path, {"queues:create": "role:admin"})}
    )

    # Then a member may not, an admin may, and the other rules are unchanged
    assert_error(await api.put("/v2/queues/work"), 403, "Not authorized")
    admin = await api.put("/v2/queues/work", headers=user(keystone, "a-admin"))
    assert admin.status_code == 201
    assert (await api.get("/v2/queues")).status_code == 200


async def test_a_policy_file_can_open_health_to_members(make_api: MakeApi, tmp_path: Path) -> None:
    api = await make_api(
        auth={"policy_file": write_policy(tmp_path, {"health:get": "role:member"})}
    )

    assert (await api.get("/v2/health")).status_code == 200


async def test_who_is_admin_follows_context_is_admin(
    make_api: MakeApi, keystone: Keystone, tmp_path: Path
) -> None:
    # Given admins are those with role "operator", and health is for admins
    rules = {"context_is_admin": "role:operator", "health:get": "is_admin:True"}
    api = await make_api(auth={"policy_file": write_policy(tmp_path, rules)})

    # Then Keystone's admin role is not enough
    response = await api.get("/v2/health", headers=user(keystone, "a-admin"))
    assert_error(response, 403, "Not authorized")


@pytest.mark.parametrize(("trusted", "status"), [(False, 403), (True, 200)])
async def test_noauth_honours_x_roles_only_when_told(
    clock: FakeClock, trusted: bool, status: int
) -> None:
    settings = Settings(
        storage=StorageSettings(url="sqlite:///:memory:"),
        auth=AuthSettings(trust_role_headers=trusted),
    )
    async with in_process_client(settings, clock) as api:
        response = await api.get("/v2/health", headers={"X-Roles": "admin"})

    assert response.status_code == status


async def test_noauth_still_needs_a_project(clock: FakeClock) -> None:
    settings = Settings(storage=StorageSettings(url="sqlite:///:memory:"))
    async with in_process_client(settings, clock) as api:
        request = api.build_request("GET", "/v2/queues")
        del request.headers["X-Project-ID"]
        response = await api.send(request)

    assert_error(response, 400, "Missing header value", "X-Project-ID")


def test_credentials_are_project_roles_and_admin() -> None:
    creds: dict[str, Any] = Policy().credentials("p1", frozenset({"admin", "member"}))

    assert creds == {"project_id": "p1", "roles": ["admin", "member"], "is_admin": True}
