"""Cheap unique ids: UUID text, never repeated, apart between processes."""

from __future__ import annotations

import os
import uuid

import pytest

from tidings.ids import unique_id


def test_ids_are_distinct_version_4_uuids() -> None:
    ids = [unique_id() for _ in range(1000)]

    assert len(set(ids)) == 1000
    assert {uuid.UUID(value).version for value in ids} == {4}
    assert all(str(uuid.UUID(value)) == value for value in ids)


# eventlet (imported by the oslo.messaging tests of the same run) warns about every fork
@pytest.mark.filterwarnings("ignore:Using fork\\(\\) is a bad idea:DeprecationWarning")
def test_a_forked_process_draws_its_own_prefix() -> None:
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports its first id and leaves at once
        os.write(writer, unique_id().encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    child = os.read(reader, 100).decode()
    os.close(reader)

    assert child[:18] != unique_id()[:18]
