"""Settings, resolved once: defaults, then the TOML file, then ``TIDINGS_<SECTION>_<KEY>``
environment variables, then command-line flags."""

from __future__ import annotations

import dataclasses
import datetime
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tidings.mail_addresses import is_sender

SHORTEST_TTL = 60
"""Seconds: the shortest lifetime the API takes for a message, a claim or a subscription, and
the shortest claim grace (Zaqar's)."""


def _within(name: str, value: float, lowest: float, highest: float = math.inf) -> None:
    """Refuse a setting's value outside ``lowest`` .. ``highest`` (both included)."""
    if lowest <= value <= highest:
        return
    span = f"at least {lowest}" if highest == math.inf else f"from {lowest} to {highest}"
    raise ConfigError(f"{name} must be {span}, not {value}")


def _positive(name: str, value: float) -> None:
    """Refuse a length of time (or the like) that is not above zero."""
    if not value > 0:
        raise ConfigError(f"{name} must be more than 0, not {value}")


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8888
    workers: int = 1

    def __post_init__(self) -> None:
        _within("server.port", self.port, 0, 65535)
        _within("server.workers", self.workers, 1)


@dataclasses.dataclass(frozen=True)
class StorageSettings:
    url: str = "sqlite:///./data/tidings.db"
    gc_interval: float = 30.0
    catalog_refresh: float = 1.0
    """Seconds a server trusts what it read of the pool catalog before it checks the
    catalog's version again (pool and flavor changes reach every server within this)."""

    def __post_init__(self) -> None:
        _positive("storage.catalog_refresh", self.catalog_refresh)
        _positive("storage.gc_interval", self.gc_interval)


STRATEGIES = ("noauth", "keystone")


@dataclasses.dataclass(frozen=True)
class AuthSettings:
    strategy: str = "noauth"
    keystone_url: str = ""
    """The identity v3 endpoint, e.g. ``http://keystone:5000/v3``."""
    service_user: str = ""
    service_password: str = ""
    service_project: str = ""
    service_domain: str = "Default"
    trust_role_headers: bool = False
    policy_file: str = ""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"auth.strategy must be one of {', '.join(STRATEGIES)}")
        needed = ("keystone_url", "service_user", "service_password", "service_project")
        missing = [key for key in needed if not getattr(self, key)]
        if self.strategy == "keystone" and missing:
            raise ConfigError(f"auth.strategy = keystone needs auth.{', auth.'.join(missing)}")


@dataclasses.dataclass(frozen=True)
class SignedUrlSettings:
    secret_key: str = ""
    """Signs pre-signed URLs; empty disables them."""
    previous_keys: tuple[str, ...] = ()
    """Keys that still verify (never sign) until ``previous_keys_until``."""
    previous_keys_until: str = ""
    """An ISO-8601 moment (UTC when it names no offset)."""

    def __post_init__(self) -> None:
        if self.previous_keys and not self.previous_keys_until:
            raise ConfigError("signed_url.previous_keys needs signed_url.previous_keys_until")
        if self.previous_keys_until:
            self.previous_keys_deadline()

    def previous_keys_deadline(self) -> float:
        """``previous_keys_until`` in seconds since the epoch."""
        try:
            moment = datetime.datetime.fromisoformat(self.previous_keys_until)
        except ValueError:
            raise ConfigError("signed_url.previous_keys_until must be an ISO-8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        return moment.timestamp()


@dataclasses.dataclass(frozen=True)
class EncryptionSettings:
    key: str = ""
    """Secret for queues with ``_enable_encrypt_messages``; empty disables encryption."""


LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclasses.dataclass(frozen=True)
class ObservabilitySettings:
    metrics: bool = True
    """Serve Prometheus metrics at ``/metrics``."""
    tracing: bool = False
    """Export OpenTelemetry spans (needs the ``tracing`` extra)."""
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    service_name: str = "tidings"
    backlog_interval: float = 15.0
    """Seconds between two readings of the backlog gauges."""
    log_format: str = "text"
    log_level: str = "info"
    slow_operation_ms: float = 1000.0
    """Log an operation at WARNING when it takes longer (a long poll's wait not counted);
    0 logs none."""

    def __post_init__(self) -> None:
        _within("observability.backlog_interval", self.backlog_interval, 0)
        _within("observability.slow_operation_ms", self.slow_operation_ms, 0)
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"observability.log_format must be one of {', '.join(LOG_FORMATS)}")
        if self.log_level.upper() not in LOG_LEVELS:
            raise ConfigError(f"observability.log_level must be one of {', '.join(LOG_LEVELS)}")


SUBSCRIBER_TYPES = ("http", "https", "mailto", "queue")
COUNT_LIMITS = (
    "max_queues_per_page",
    "max_messages_per_page",
    "max_messages_per_claim_or_pop",
    "max_queue_metadata",
    "max_messages_post_size",
    "max_subscriptions_per_page",
    "max_pools_per_page",
    "max_flavors_per_page",
)
"""The ``[limits]`` that count items or bytes: none would leave nothing to list or post."""
CLIENT_ID_CHECKS = ("strict", "off")
"""``strict``: a Client-ID must be a UUID; ``off``: any text of the lengths allowed."""


@dataclasses.dataclass(frozen=True)
class NotificationSettings:
    """Delivery of notifications to subscribers."""

    require_confirmation: bool = False
    """Deliver only to subscriptions confirmed with ``PUT .../confirm`` (needs
    ``signed_url.secret_key``)."""
    external_confirmation_url: str = ""
    """A page the operator hosts that confirms an e-mail subscription from its link."""
    public_url: str = ""
    """The API's public base URL, e.g. ``https://tidings.example.com``; named in confirmations."""
    workers: int = 10
    """Deliveries in flight at once in each server process; 0 turns delivery off."""
    poll_interval: float = 1.0
    """Seconds a worker waits before looking again when it found no job."""
    webhook_timeout: float = 10.0
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_ca_file: str = ""
    """PEM certificates to trust for the SMTP server's TLS; empty: the system's."""
    smtp_timeout: float = 10.0
    smtp_command: str = ""
    """A sendmail-like command (e.g. ``/usr/sbin/sendmail -t -oi``) used instead of SMTP."""
    mail_from: str = "tidings@localhost"

    def __post_init__(self) -> None:
        if self.smtp_starttls and self.smtp_ssl:
            raise ConfigError(
                "notification.smtp_starttls and notification.smtp_ssl exclude each other"
            )
        _within("notification.workers", self.workers, 0)
        _positive("notification.poll_interval", self.poll_interval)
        _positive("notification.webhook_timeout", self.webhook_timeout)
        _positive("notification.smtp_timeout", self.smtp_timeout)
        _within("notification.smtp_port", self.smtp_port, 1, 65535)
        if not is_sender(self.mail_from):
            raise ConfigError(
                "notification.mail_from must be one address, such as 'tidings@example.com'"
                f" or 'Tidings <tidings@example.com>'; got {self.mail_from!r}"
            )


@dataclasses.dataclass(frozen=True)
class Limits:
    """Zaqar's ``[transport]`` limits, with the same names and defaults."""

    default_message_ttl: int = 3600
    default_message_delay: int = 0
    default_claim_ttl: int = 300
    default_claim_grace: int = 60
    max_queues_per_page: int = 20
    max_messages_per_page: int = 20
    max_messages_per_claim_or_pop: int = 20
    max_queue_metadata: int = 65536
    max_messages_post_size: int = 262144
    max_message_ttl: int = 1209600
    max_message_delay: int = 900
    max_claim_ttl: int = 43200
    max_claim_grace: int = 43200
    message_delete_with_claim_id: bool = False
    client_id_uuid_safe: str = "strict"
    min_length_client_id: int = 10
    max_length_client_id: int = 36
    max_wait_seconds: int = 20
    """Longest long poll (``wait``, ``_default_wait_seconds``); beyond Zaqar, as SQS's 20 s."""
    default_subscription_ttl: int = 3600
    max_subscriptions_per_page: int = 20
    max_pools_per_page: int = 20
    max_flavors_per_page: int = 20
    subscriber_types: tuple[str, ...] = ("http", "https", "mailto", "queue")
    """URI schemes a subscriber may use; ``trust+http(s)`` is not supported."""

    def __post_init__(self) -> None:
        unknown = set(self.subscriber_types) - set(SUBSCRIBER_TYPES)
        if unknown:
            raise ConfigError(
                f"limits.subscriber_types may only name {', '.join(SUBSCRIBER_TYPES)}, "
                f"not {', '.join(sorted(unknown))}"
            )
        if self.client_id_uuid_safe not in CLIENT_ID_CHECKS:
            raise ConfigError(
                f"limits.client_id_uuid_safe must be one of {', '.join(CLIENT_ID_CHECKS)}"
            )
        for name, lowest, highest in self._ranges():
            _within(f"limits.{name}", getattr(self, name), lowest, highest)

    def _ranges(self) -> list[tuple[str, int, int | float]]:
        """Each limit's range: a default the API itself would refuse would fail every
        request that leaves the value out."""
        return [
            *((name, 1, math.inf) for name in COUNT_LIMITS),
            ("max_message_ttl", SHORTEST_TTL, math.inf),
            ("max_claim_ttl", SHORTEST_TTL, math.inf),
            ("max_claim_grace", SHORTEST_TTL, math.inf),
            ("max_message_delay", 0, math.inf),
            ("max_wait_seconds", 0, math.inf),
            ("default_message_ttl", SHORTEST_TTL, self.max_message_ttl),
            ("default_message_delay", 0, self.max_message_delay),
            ("default_claim_ttl", SHORTEST_TTL, self.max_claim_ttl),
            ("default_claim_grace", SHORTEST_TTL, self.max_claim_grace),
            ("default_subscription_ttl", SHORTEST_TTL, math.inf),
            ("min_length_client_id", 1, self.max_length_client_id),
        ]


@dataclasses.dataclass(frozen=True)
class Settings:
    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    auth: AuthSettings = AuthSettings()
    limits: Limits = Limits()
    encryption: EncryptionSettings = EncryptionSettings()
    signed_url: SignedUrlSettings = SignedUrlSettings()
    observability: ObservabilitySettings = ObservabilitySettings()
    notification: NotificationSettings = NotificationSettings()

    def __post_init__(self) -> None:
        if self.notification.require_confirmation and not self.signed_url.secret_key:
            raise ConfigError("notification.require_confirmation needs signed_url.secret_key")


class ConfigError(ValueError):
    """The configuration is not valid."""


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve settings; ``flags`` maps ``section.key`` to values already typed."""
    layers: dict[str, dict[str, Any]] = {}
    if config_file is not None:
        _merge(layers, _read_toml(config_file))
    _merge(layers, _from_environ(environ or {}))
    for dotted, value in (flags or {}).items():
        if value is not None:
            section, key = dotted.split(".", 1)
            layers.setdefault(section, {})[key] = value
    return _build(layers)


def settings_as_environ(settings: Settings) -> dict[str, str]:
    """The environment variables that reproduce ``settings`` (for worker processes)."""
    environ = {}
    for section in dataclasses.fields(settings):
        values = dataclasses.asdict(getattr(settings, section.name))
        for key, value in values.items():
            text = _as_text(value)
            environ[f"TIDINGS_{section.name}_{key}".upper()] = text
    return environ


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def _read_toml(path: Path) -> dict[str, dict[str, Any]]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc


def _from_environ(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for section in dataclasses.fields(Settings):
        for field in dataclasses.fields(section.default):  # type: ignore[arg-type]
            name = f"TIDINGS_{section.name}_{field.name}".upper()
            if name in environ:
                found.setdefault(section.name, {})[field.name] = environ[name]
    return found


def _merge(into: dict[str, dict[str, Any]], layer: Mapping[str, Any]) -> None:
    for section, values in layer.items():
        if not isinstance(values, dict):
            raise ConfigError(f"[{section}] must be a table")
        into.setdefault(section, {}).update(values)


def _build(layers: Mapping[str, Mapping[str, Any]]) -> Settings:
    sections: dict[str, Any] = {}
    known = {field.name: field for field in dataclasses.fields(Settings)}
    for name, values in layers.items():
        if name not in known:
            raise ConfigError(f"unknown config section [{name}]")
        default = known[name].default
        sections[name] = _build_section(name, default, values)
    return Settings(**sections)


def _build_section(name: str, default: Any, values: Mapping[str, Any]) -> Any:
    fields = {field.name: field for field in dataclasses.fields(default)}
    typed = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"unknown config key {name}.{key}")
        typed[key] = _coerce(f"{name}.{key}", type(getattr(default, key)), value)
    return dataclasses.replace(default, **typed)


KINDS = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}
"""What each type of setting is called in the complaint about a value of another."""


def _coerce(name: str, kind: type, value: Any) -> Any:
    if kind is tuple:
        return _strings(name, value)
    if kind is float:
        return _finite(name, value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be {KINDS[kind]}")
    if kind is bool:
        if value.lower() in {"1", "true", "yes", "on"}:
            return True
        if value.lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name} must be true or false")
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{name} must be {KINDS[kind]}") from None


def _finite(name: str, value: Any) -> float:
    """A number of seconds and the like: a TOML integer or float, or text; never nan or inf
    (a timeout of nan passed every check and failed the server's start)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{name} must be {KINDS[float]}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be {KINDS[float]}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be a finite number, not {value}")
    return number


def _strings(name: str, value: Any) -> tuple[str, ...]:
    """A list of strings: a TOML array, or one comma-separated string."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise ConfigError(f"{name} must be a list of strings")
    return tuple(item.strip() for item in items if item.strip())
