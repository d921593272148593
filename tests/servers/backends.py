"""The storage backends a suite can run on: each name gives a storage URL for one test.

A backend asks ``request.getfixturevalue`` for what it needs (a temp dir, a private server
started by a session fixture), so backends that no selected test uses cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def _sqlite_memory(request: pytest.FixtureRequest) -> str:
    return "sqlite:///:memory:"


def _sqlite_file(request: pytest.FixtureRequest) -> str:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return f"sqlite:///{tmp_path / 'tidings.db'}"


def _redis(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("redis_url")
    return url


def _redis_cluster(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("redis_cluster_url")
    return url


def _postgres(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("postgres_clean_url")
    return url


def _swift(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("swift_url")
    return url


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "sqlite": _sqlite_memory,
    "sqlite-file": _sqlite_file,
    "redis": _redis,
    "redis-cluster": _redis_cluster,
    "postgres": _postgres,
    "swift": _swift,
}
"""Backend name to the URL of a fresh, empty store for the requesting test."""

SERVED_BACKENDS = ("sqlite", "redis", "redis-cluster", "postgres", "swift")
"""The backends the HTTP API suite runs on (one SQLite variant is enough there)."""

VALIDATION_BACKENDS = ("sqlite", "redis", "redis-cluster", "postgres")
"""The backends the API's validation cases run on: the served ones but Swift. The cases check
what the API refuses before storage is reached; on Swift they took a third of the API suite's
time and would test nothing more."""

FIFO_BACKENDS = ("sqlite", "redis", "redis-cluster", "postgres")
"""The served backends that list messages in post order (Swift's listings are eventually
consistent: it declares no FIFO capability), which live push relies on."""


def storage_url(request: pytest.FixtureRequest, backend: str) -> str:
    return BACKENDS[backend](request)
