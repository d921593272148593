"""The client stands apart from the server: it imports only models and errors from it."""

from __future__ import annotations

import subprocess
import sys

SERVER_PACKAGES = ("tidings.api", "tidings.service", "tidings.storage", "tidings.transport")


def test_the_client_loads_no_server_module() -> None:
    probe = (
        "import sys, tidings.client, tidings.bench.cli; "
        "print(' '.join(name for name in sys.modules if name.startswith('tidings.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()

    assert "tidings.client" in loaded
    assert [name for name in loaded if name.startswith(SERVER_PACKAGES)] == []
