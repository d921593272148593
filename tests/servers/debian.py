"""Debian packages the tests' servers need, installed when missing: a test never skips for
want of a server."""

from __future__ import annotations

import os
import shutil
import subprocess


def install(*packages: str) -> None:
    """``apt-get install`` the packages, without their recommendations."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", *packages],
        check=True,
        env=env,
        capture_output=True,
    )


def ensure_programs(programs: tuple[str, ...], packages: tuple[str, ...]) -> None:
    """Install ``packages`` unless every one of ``programs`` is on the PATH already."""
    if not all(shutil.which(program) for program in programs):
        install(*packages)
