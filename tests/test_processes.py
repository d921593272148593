"""Waiting for a server the tests start: ready when it answers, a failure with its log when it
exits first or never answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.processes import wait_until_ready


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])


def test_a_server_is_ready_once_it_answers_and_not_before() -> None:
    tries: list[int] = []

    def answers() -> bool:
        tries.append(1)
        if len(tries) < 3:
            raise httpx.ConnectError("refused")
        return len(tries) == 4

    process = sleeper()
    try:
        wait_until_ready("sleeper", answers, [process], lambda: "", timeout=10)
    finally:
        process.kill()
        process.wait()

    assert len(tries) == 4


def test_a_server_that_exits_first_fails_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.exit('cannot bind the port')"], stderr=output
        )
    process.wait()

    with pytest.raises(RuntimeError, match="crasher exited: cannot bind the port"):
        wait_until_ready("crasher", lambda: True, [process], log.read_text, timeout=10)


def test_a_server_that_never_answers_fails_when_the_time_is_up() -> None:
    process = sleeper()
    try:
        with pytest.raises(RuntimeError, match=r"mute did not become ready in 0\.3 s: its log"):
            wait_until_ready("mute", lambda: False, [process], lambda: "its log", timeout=0.3)
    finally:
        process.kill()
        process.wait()


def test_an_error_that_is_not_a_refusal_is_raised_at_once() -> None:
    process = sleeper()

    def answers() -> bool:
        raise ValueError("a bug in the check")

    try:
        with pytest.raises(ValueError, match="a bug in the check"):
            wait_until_ready("buggy", answers, [process], lambda: "", timeout=10)
    finally:
        process.kill()
        process.wait()
