"""``tidings bench URL`` against a real server: short runs, their figures and their shape.
No figure is compared with a speed: only that the run did what it says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.bench.commands import bench
from tests.conftest import ServerProcess, free_port
from tests.processes import running
from tests.servers.certificates import Certificate
from tests.servers.tls import TlsServer
from tidings.bench import report
from tidings.bench.runner import Options, run
from tidings.bench.scenarios import SCENARIOS
from tidings.client import Client


def test_a_server_behind_tls_is_benched(tmp_path: Path) -> None:
    # Given a server that speaks HTTPS only, with a certificate no system trusts
    certificate = Certificate.create(tmp_path)
    database = tmp_path / "tls.db"
    storage = {"TIDINGS_STORAGE_URL": f"sqlite:///{database}"}
    with running(TlsServer(database=database, env=storage, certificate=certificate)) as server:
        # When it is benched trusting its certificate, and without
        run = ("--scenario", "post-1", "--clients", "2", "--duration", "1")
        trusted = bench(
            server.url, *run, "--json", env={"SSL_CERT_FILE": str(certificate.certificate)}
        )
        untrusted = bench(server.url, *run)

    # Then the run trusting it posts, and the other stops at the handshake, saying why
    assert trusted.returncode == 0, trusted.stderr
    [result] = orjson.loads(trusted.stdout)["runs"]
    assert result["errors"] == 0
    assert result["produced"] > 0
    assert untrusted.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    assert "Traceback" not in untrusted.stderr


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("127.0.0.1:8888", "'127.0.0.1:8888' is not an http:// or https:// URL with a host"),
        ("ftp://127.0.0.1/", "'ftp://127.0.0.1/' is not an http:// or https:// URL"),
        ("http://", "'http://' is not an http:// or https:// URL with a host"),
        ("http://127.0.0.1:65536", "'http://127.0.0.1:65536' is not a URL: Port out of range"),
        ("http://[::1", "'http://[::1' is not a URL: Invalid IPv6 URL"),
    ],
)
def test_a_url_that_names_no_server_is_refused(url: str, complaint: str) -> None:
    done = bench(url, "--duration", "1")

    assert done.returncode == 2
    assert f"tidings bench: error: argument url: {complaint}" in done.stderr
    assert "Traceback" not in done.stderr


def test_json_of_a_post_run(target: ServerProcess) -> None:
    done = bench(target.url, "--scenario", "post-10", "--clients", "2", "--duration", "1", "--json")

    assert done.returncode == 0, done.stderr
    [result] = orjson.loads(done.stdout)["runs"]
    post = result["operations"]["message_post"]
    assert result["scenario"]["name"] == "post-10"
    assert result["scenario"]["producers"] == 2
    assert result["errors"] == 0
    assert result["produced"] == 10 * post["requests"] > 0
    assert result["messages_per_second"] > 0
    assert 0 < post["p50_ms"] <= post["p95_ms"] <= post["p99_ms"] <= post["max_ms"]
    assert sum(second["requests"] for second in result["timeline"]) <= post["requests"]


def test_table_and_plot(target: ServerProcess, tmp_path: Path) -> None:
    picture = tmp_path / "run.png"

    done = bench(
        target.url, "--scenario", "post-1", "--clients", "2", "--duration", "1",
        "--plot", str(picture),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "message_post" in done.stdout
    assert "p99 ms" in done.stdout
    assert picture.read_bytes().startswith(b"\x89PNG")


def test_the_table_tells_why_requests_failed(target: ServerProcess) -> None:
    too_large = ("--message-size", "300000")  # above the server's 256 KiB for a post

    failing = bench(target.url, "--scenario", "post-1", "--duration", "1", *too_large)
    passing = bench(target.url, "--scenario", "post-1", "--duration", "1")

    assert failing.returncode == passing.returncode == 0, failing.stderr + passing.stderr
    lines = failing.stdout.splitlines()
    assert lines[-1] == "message_post: InvalidRequest: Request body is too large. Max size 262144"
    assert "InvalidRequest" not in passing.stdout


async def run_scenario(target: ServerProcess, name: str, **options: Any) -> dict[str, Any]:
    scenario = SCENARIOS[name].with_clients(2)
    settings = Options(url=target.url, duration=options.pop("duration", 1.0), **options)
    return report.summary(scenario, settings, await run(scenario, settings))


async def test_claim_and_delete_each_consumes_the_prefill(target: ServerProcess) -> None:
    result = await run_scenario(target, "claim-10-delete-each", prefill=60, duration=30.0)

    assert result["drained"]
    assert result["consumed"] == 60
    assert result["operations"]["message_delete"]["requests"] == 60
    assert result["operations"]["claim_create"]["requests"] >= 6
    assert result["errors"] == 0


async def test_claim_and_bulk_delete(target: ServerProcess) -> None:
    result = await run_scenario(target, "claim-10-bulk-delete", prefill=40, duration=30.0)

    assert result["consumed"] == 40
    assert "message_delete" not in result["operations"]
    assert result["operations"]["message_delete_many"]["requests"] == 4


async def test_the_default_prefill_lasts_the_run_at_the_target_concurrency(
    target: ServerProcess,
) -> None:
    scenario = SCENARIOS["claim-10-bulk-delete"].with_clients(32)
    settings = Options(url=target.url, duration=1.0)

    result = report.summary(scenario, settings, await run(scenario, settings))

    assert not result["drained"]
    assert result["elapsed_s"] >= 1.0
    assert result["consumed"] > 0
    assert result["errors"] == 0


async def test_mixed_roles_run_together(target: ServerProcess) -> None:
    result = await run_scenario(target, "mixed", prefill=0)

    assert set(result["operations"]) >= {"message_post", "claim_create", "message_list"}
    assert result["produced"] > 0
    assert result["listed"] >= 0
    assert not result["drained"]


async def test_the_queues_are_removed_afterwards(target: ServerProcess) -> None:
    await run_scenario(target, "post-1", queue_prefix="tidy", project="tidy-project")

    async with Client(target.url, "tidy-project") as client:
        assert (await client.queue_list()).queues == []


def test_an_unreachable_server_is_reported() -> None:
    done = bench(f"http://127.0.0.1:{free_port()}", "--scenario", "post-1", "--duration", "1")

    assert done.returncode == 1
    assert "cannot connect" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (("--clients", "0"), "argument --clients: must be at least 1, not 0"),
        (("--clients", "eight"), "argument --clients: 'eight' is not a whole number"),
        (("--duration", "0"), "argument --duration: must be more than 0 seconds, not 0"),
        (("--duration", "-1"), "argument --duration: must be more than 0 seconds, not -1"),
        (("--duration", "nan"), "argument --duration: 'nan' is not a finite number"),
        (("--duration", "soon"), "argument --duration: 'soon' is not a number"),
        (("--queues", "0"), "argument --queues: must be at least 1, not 0"),
        (("--message-size", "-5"), "argument --message-size: must be at least 0, not -5"),
        (("--prefill", "-1"), "argument --prefill: must be at least 0, not -1"),
        (("--producers", "-2"), "argument --producers: must be at least 0, not -2"),
        (("--consumers", "-1"), "argument --consumers: must be at least 0, not -1"),
        (("--observers", "-1"), "argument --observers: must be at least 0, not -1"),
        (("--batch-size", "0"), "argument --batch-size: must be at least 1, not 0"),
        (("--messages-per-claim", "0"), "argument --messages-per-claim: must be at least 1"),
        (("--messages-per-list", "0"), "argument --messages-per-list: must be at least 1"),
        (
            ("--plot", "/nonexistent/run.png"),
            "argument --plot: cannot write in /nonexistent: No such file",
        ),
        (("--plot", "/"), "argument --plot: / is a directory"),
        (("--plot", "/proc/run.png"), "argument --plot: cannot write in /proc"),
        (("--scenario", "post-1", "--producers", "0"), "every role of the scenario has 0 clients"),
        (
            ("--scenario", "mixed", "--producers", "0", "--consumers", "0", "--observers", "0"),
            "every role of the scenario has 0 clients",
        ),
    ],
)
def test_an_option_out_of_range_is_refused_before_any_request(
    flags: tuple[str, ...], complaint: str
) -> None:
    # The port answers nothing: a run that started would fail to connect instead
    done = bench(f"http://127.0.0.1:{free_port()}", *flags)

    assert done.returncode == 2
    assert f"tidings bench: error: {complaint}" in done.stderr
    assert "cannot connect" not in done.stderr
