"""The auth and signed-URL settings: how they are read, and what is refused at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.config import ConfigError, load_settings, settings_as_environ


def test_keystone_settings_come_from_the_environment() -> None:
    settings = load_settings(
        environ={
            "TIDINGS_AUTH_STRATEGY": "keystone",
            "TIDINGS_AUTH_KEYSTONE_URL": "http://keystone:5000/v3",
            "TIDINGS_AUTH_SERVICE_USER": "tidings",
            "TIDINGS_AUTH_SERVICE_PASSWORD": "secret",
            "TIDINGS_AUTH_SERVICE_PROJECT": "service",
            "TIDINGS_AUTH_POLICY_FILE": "/etc/tidings/policy.yaml",
        }
    )

    assert settings.auth.strategy == "keystone"
    assert settings.auth.service_domain == "Default"
    assert settings.auth.policy_file == "/etc/tidings/policy.yaml"


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"TIDINGS_AUTH_STRATEGY": "ldap"}, "auth.strategy must be one of noauth, keystone"),
        ({"TIDINGS_AUTH_STRATEGY": "keystone"}, "needs auth.keystone_url, auth.service_user"),
        (
            {"TIDINGS_SIGNED_URL_PREVIOUS_KEYS": "old"},
            "signed_url.previous_keys needs signed_url.previous_keys_until",
        ),
        (
            {
                "TIDINGS_SIGNED_URL_PREVIOUS_KEYS": "old",
                "TIDINGS_SIGNED_URL_PREVIOUS_KEYS_UNTIL": "x",
            },
            "must be an ISO-8601 time",
        ),
    ],
)
def test_incomplete_auth_settings_are_refused(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_settings(environ=environ)


def test_previous_keys_are_a_list_in_toml(tmp_path: Path) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text(
        '[signed_url]\nsecret_key = "new"\nprevious_keys = ["old", "older"]\n'
        'previous_keys_until = "2030-01-01T00:00:00Z"\n'
    )

    settings = load_settings(config)

    assert settings.signed_url.previous_keys == ("old", "older")
    assert settings.signed_url.previous_keys_deadline() == 1893456000.0


def test_previous_keys_are_comma_separated_in_the_environment() -> None:
    settings = load_settings(
        environ={
            "TIDINGS_SIGNED_URL_PREVIOUS_KEYS": "old, older",
            "TIDINGS_SIGNED_URL_PREVIOUS_KEYS_UNTIL": "2030-01-01T00:00:00",
        }
    )

    assert settings.signed_url.previous_keys == ("old", "older")
    assert settings.signed_url.previous_keys_deadline() == 1893456000.0


def test_previous_keys_must_be_strings(tmp_path: Path) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text("[signed_url]\nprevious_keys = [1, 2]\n")

    with pytest.raises(ConfigError, match="must be a list of strings"):
        load_settings(config)


def test_auth_settings_reach_worker_processes_unchanged() -> None:
    settings = load_settings(
        environ={
            "TIDINGS_AUTH_TRUST_ROLE_HEADERS": "true",
            "TIDINGS_SIGNED_URL_SECRET_KEY": "new",
            "TIDINGS_SIGNED_URL_PREVIOUS_KEYS": "old,older",
            "TIDINGS_SIGNED_URL_PREVIOUS_KEYS_UNTIL": "2030-01-01T00:00:00+00:00",
        }
    )

    assert load_settings(environ=settings_as_environ(settings)) == settings
