"""Settings, resolved once: defaults, then the TOML file, then ``TIDINGS_<SECTION>_<KEY>``
environment variables, then command-line flags."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8888
    workers: int = 1


@dataclasses.dataclass(frozen=True)
class StorageSettings:
    url: str = "sqlite:///./data/tidings.db"
    gc_interval: float = 30.0


@dataclasses.dataclass(frozen=True)
class AuthSettings:
    strategy: str = "noauth"
    trust_role_headers: bool = False


@dataclasses.dataclass(frozen=True)
class EncryptionSettings:
    key: str = ""
    """Secret for queues with ``_enable_encrypt_messages``; empty disables encryption."""


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


@dataclasses.dataclass(frozen=True)
class Settings:
    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    auth: AuthSettings = AuthSettings()
    limits: Limits = Limits()
    encryption: EncryptionSettings = EncryptionSettings()


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
            text = str(value).lower() if isinstance(value, bool) else str(value)
            environ[f"TIDINGS_{section.name}_{key}".upper()] = text
    return environ


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


def _coerce(name: str, kind: type, value: Any) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a {kind.__name__}")
    if kind is bool:
        if value.lower() in {"1", "true", "yes", "on"}:
            return True
        if value.lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name} must be true or false")
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{name} must be a {kind.__name__}") from None
