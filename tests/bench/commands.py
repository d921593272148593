"""``tidings bench`` and ``tidings bench compare`` run as a user runs them, in a subprocess."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.processes import tidings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``tidings bench ARGS``; ``env`` adds to the environment."""
    return tidings("bench", *args, "--no-progress", env={**os.environ, **(env or {})})


def compare(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return tidings("bench", "compare", *args, cwd=cwd, timeout=240)
