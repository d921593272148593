"""Schemathesis fuzzes a real server from its own ``/openapi.json``: no input may cause a 5xx,
every request the document refuses is refused with a 4xx, a method a path does not take is a
405 with ``Allow``, and every answer's status, headers and body are ones the document gives.

Not checked: that every request the document takes is taken. The document cannot say that
``ids`` or ``pop`` is needed, that an integer must fit in 64 bits and have no fraction, nor
what a marker or a share's key must be (docs/api.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tests.processes import running

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = (
    "not_a_server_error",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
MIN_CASES = 500
RUN_WITHIN = 400
"""Seconds the whole schemathesis run may take (about 60 on an idle 2-core machine)."""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose long polls (``wait``, ``_default_wait_seconds``) last a second at most,
    so that generated waits keep the run short."""
    env = {"TIDINGS_LIMITS_MAX_WAIT_SECONDS": "1"}
    with running(ServerProcess(database=tmp_path / "tidings.db", env=env)) as process:
        yield process


def run_schemathesis(
    server: ServerProcess, max_examples: int, headers: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """schemathesis' checks against ``server``; ``headers`` go with every request."""
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(max_examples),
        # One worker: with more, hypothesis parses lambdas' source in several threads at once,
        # which trips CPython 3.11's non-thread-safe AST recursion counter (SystemError).
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--no-color",
    ]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=RUN_WITHIN,
        cwd=server.database.parent,
        env=env,
    )


def count(pattern: str, output: str) -> int:
    found = re.search(pattern, output)
    assert found, f"no {pattern!r} in schemathesis output:\n{output}"
    return int(found.group(1))


def assert_all_passed(result: subprocess.CompletedProcess[str], server: ServerProcess) -> None:
    """Enough cases ran, none failed a check, and the server logged no crash."""
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    generated = count(r"(\d+) generated", output)
    passed = count(r"(\d+) passed", output.split("Test cases:")[-1])
    assert passed >= MIN_CASES, output
    assert passed == generated, output
    assert "Traceback" not in server.log_text()


@pytest.mark.timeout(RUN_WITHIN + 60)
def test_generated_requests_get_the_answers_the_document_gives(server: ServerProcess) -> None:
    # Given a running server, whose schema declares the required Client-ID/X-Project-ID headers

    # When schemathesis generates valid and invalid requests for every operation
    result = run_schemathesis(server, max_examples=40)

    # Then enough cases ran, none failed a check, and the server logged no crash
    assert_all_passed(result, server)
