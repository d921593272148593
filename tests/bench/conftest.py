"""A real server for the bench to load, shared by the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import ServerProcess
from tests.processes import running


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(
        ServerProcess(database=tmp_path_factory.mktemp("bench") / "tidings.db")
    ) as process:
        yield process
