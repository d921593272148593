"""What a server process sets up for itself when it builds its app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tidings.app import YOUNG_OBJECTS_BEFORE_COLLECTION

REPORT = """
import gc, json
from tidings.app import app_from_environ
before = gc.get_threshold()
app_from_environ()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_a_server_process_collects_garbage_cycles_less_often(tmp_path: Path) -> None:
    environ = {**os.environ, "TIDINGS_STORAGE_URL": f"sqlite:///{tmp_path / 'g.db'}"}

    done = subprocess.run(
        [sys.executable, "-c", REPORT], env=environ, capture_output=True, text=True, check=True
    )

    report = json.loads(done.stdout.splitlines()[-1])
    assert report["before"][0] < YOUNG_OBJECTS_BEFORE_COLLECTION
    assert report["after"] == [YOUNG_OBJECTS_BEFORE_COLLECTION, *report["before"][1:]]
    assert report["frozen"] > 10_000  # what it loaded is left out of the collector's scans
