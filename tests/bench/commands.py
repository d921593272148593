"""``tidings bench`` and ``tidings bench compare`` run as a user runs them, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``tidings bench ARGS``; ``env`` adds to the environment."""
    command = [sys.executable, "-m", "tidings.cli", "bench", *args, "--no-progress"]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def compare(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tidings.cli", "bench", "compare", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=240, check=False, cwd=cwd
    )
