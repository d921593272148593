"""Settings as the config file and the environment give them: each value is read as its kind,
and one that is not of it stops the server with the setting's name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tidings.clock import FakeClock
from tidings.config import ConfigError, SignedUrlSettings, load_settings
from tidings.transport.signed_url import SignedUrlVerifier


def from_toml(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "tidings.toml"
    config.write_text(text)
    return config


def test_a_whole_number_in_the_file_serves_a_setting_of_seconds(tmp_path: Path) -> None:
    config = from_toml(tmp_path, "[storage]\ngc_interval = 30\n[notification]\nsmtp_timeout = 5\n")

    settings = load_settings(config)

    assert settings.storage.gc_interval == 30.0
    assert isinstance(settings.storage.gc_interval, float)
    assert settings.notification.smtp_timeout == 5.0


@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
def test_a_number_that_is_not_finite_is_refused_from_the_file(tmp_path: Path, text: str) -> None:
    config = from_toml(tmp_path, f"[notification]\nwebhook_timeout = {text}\n")

    with pytest.raises(ConfigError, match=r"^notification\.webhook_timeout must be a finite"):
        load_settings(config)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "Infinity"])
def test_a_number_that_is_not_finite_is_refused_from_the_environment(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^storage\.gc_interval must be a finite number"):
        load_settings(None, {"TIDINGS_STORAGE_GC_INTERVAL": text})


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({"TIDINGS_STORAGE_GC_INTERVAL": "soon"}, "storage.gc_interval must be a number"),
        ({"TIDINGS_SERVER_PORT": "eighty"}, "server.port must be a whole number"),
        ({"TIDINGS_SERVER_PORT": "80.5"}, "server.port must be a whole number"),
        ({"TIDINGS_OBSERVABILITY_METRICS": "maybe"}, "observability.metrics must be true or"),
        ({"TIDINGS_NOTIFICATION_SMTP_PORT": "0"}, "notification.smtp_port must be from 1 to"),
        ({"TIDINGS_NOTIFICATION_SMTP_PORT": "99999"}, "notification.smtp_port must be from 1"),
    ],
)
def test_a_value_not_of_its_setting_s_kind_is_refused(
    environ: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, environ)

    assert str(refused.value).startswith(complaint)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[server]\nport = 8888.0\n", "server.port must be a whole number"),
        ("[server]\nport = true\n", "server.port must be a whole number"),
        ("[storage]\ngc_interval = true\n", "storage.gc_interval must be a number"),
        ("[storage]\ngc_interval = [1]\n", "storage.gc_interval must be a number"),
        ("[storage]\nurl = 5\n", "storage.url must be a string"),
        ("[server\nport = 1\n", "cannot read config file"),
        ("storage = 1\n", "[storage] must be a table"),
        ("[queues]\nmax = 1\n", "unknown config section [queues]"),
        ("[server]\nprot = 1234\n", "unknown config key server.prot"),
        ('[observability]\nlog_level = "loud"\n', "observability.log_level must be one of DEBUG"),
        (
            "[notification]\nrequire_confirmation = true\n",
            "notification.require_confirmation needs signed_url.secret_key",
        ),
    ],
)
def test_a_file_that_does_not_make_settings_is_refused_with_the_reason(
    tmp_path: Path, text: str, complaint: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(from_toml(tmp_path, text))

    assert str(refused.value).startswith(complaint)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("STORAGE_GC_INTERVAL", "0", "storage.gc_interval must be more than 0, not 0.0"),
        ("STORAGE_CATALOG_REFRESH", "-1", "storage.catalog_refresh must be more than 0, not -1.0"),
        ("NOTIFICATION_WORKERS", "-1", "notification.workers must be at least 0, not -1"),
        ("NOTIFICATION_POLL_INTERVAL", "0", "notification.poll_interval must be more than 0"),
        ("NOTIFICATION_WEBHOOK_TIMEOUT", "-5", "notification.webhook_timeout must be more than 0"),
        ("NOTIFICATION_SMTP_TIMEOUT", "0", "notification.smtp_timeout must be more than 0"),
        (
            "OBSERVABILITY_BACKLOG_INTERVAL",
            "-15",
            "observability.backlog_interval must be at least 0, not -15.0",
        ),
        (
            "OBSERVABILITY_SLOW_OPERATION_MS",
            "-1",
            "observability.slow_operation_ms must be at least 0, not -1.0",
        ),
    ],
)
def test_a_setting_out_of_its_range_is_refused_with_its_name(
    name: str, value: str, problem: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(problem)}"):
        load_settings(None, {f"TIDINGS_{name}": value})


def test_a_backlog_read_at_every_scrape_is_allowed() -> None:
    assert load_settings(None, {"TIDINGS_OBSERVABILITY_BACKLOG_INTERVAL": "0"}).observability


@pytest.mark.parametrize("sender", ["tidings", "tidings@", "a@x.example, b@x.example", ""])
def test_a_sender_that_is_not_one_address_is_refused(sender: str) -> None:
    with pytest.raises(ConfigError, match=r"^notification\.mail_from must be one address"):
        load_settings(None, {"TIDINGS_NOTIFICATION_MAIL_FROM": sender})


@pytest.mark.parametrize("sender", ["tidings@localhost", "Tidings <tidings@x.example>"])
def test_a_sender_may_have_a_display_name(sender: str) -> None:
    assert (
        load_settings(None, {"TIDINGS_NOTIFICATION_MAIL_FROM": sender}).notification.mail_from
        == sender
    )


def test_starttls_and_ssl_together_are_refused() -> None:
    environment = {
        "TIDINGS_NOTIFICATION_SMTP_STARTTLS": "true",
        "TIDINGS_NOTIFICATION_SMTP_SSL": "1",
    }

    with pytest.raises(ConfigError, match=r"smtp_starttls and notification\.smtp_ssl exclude"):
        load_settings(None, environment)


def test_a_config_file_that_is_not_there_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file .*missing\.toml"):
        load_settings(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    "keys", [{"secret_key": "a,b"}, {"secret_key": "k", "previous_keys": ("old,er",)}]
)
def test_a_signing_key_holding_a_comma_is_refused(keys: dict[str, Any]) -> None:
    settings = SignedUrlSettings(previous_keys_until="2030-01-01T00:00:00", **keys)

    with pytest.raises(ConfigError, match="signed_url keys may not contain commas"):
        SignedUrlVerifier(settings, FakeClock(0.0))
