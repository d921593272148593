"""``tidings bench compare``: two real servers, alternating rounds, ratios, and the gate."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import asyncpg
import orjson
import pytest

from tests.bench.commands import PROJECT_ROOT, compare
from tests.conftest import ServerProcess
from tests.processes import running
from tests.servers.postgres import PostgresServer, run_coroutine
from tidings.bench.compare import Measured, Measurements, confirmed, judge
from tidings.bench.scenarios import SCENARIOS, Scenario

SHORT = ("--rounds", "2", "--duration", "1", "--clients", "2", "--scenario", "post-1")


def test_a_consistent_slowdown_fails() -> None:
    verdict = judge("post-1", [1000, 1010, 990], [880, 900, 890], floor=0.05)

    assert verdict.slower
    assert verdict.tolerance == 0.05


def test_a_slowdown_inside_the_noise_passes() -> None:
    # Ratios 0.7 .. 1.1: half the spread (0.2) is the tolerance; the median 0.9 is inside it
    verdict = judge("post-1", [1000, 1000, 1000], [700, 900, 1100], floor=0.05)

    assert verdict.median == pytest.approx(0.9)
    assert verdict.tolerance == pytest.approx(0.2)
    assert not verdict.slower


def test_faster_passes() -> None:
    assert not judge("post-1", [1000, 1000], [1500, 1400], floor=0.05).slower


def test_the_cpu_ratio_is_the_median_of_the_rounds_and_unknown_without_figures() -> None:
    cpu = ([0.10, 0.10, 0.20], [0.12, 0.09, 0.30])

    assert judge("post-1", [1, 1, 1], [1, 1, 1], 0.05, cpu).cpu_ratio == pytest.approx(1.2)
    assert judge("post-1", [1, 1, 1], [1, 1, 1], 0.05).cpu_ratio is None


def figures(**scenarios: tuple[list[float], list[float]]) -> Measurements:
    """Base and candidate msgs/s of each scenario (``post_1`` for post-1), round by round."""
    return {
        name.replace("_", "-"): {"base": Measured(base), "candidate": Measured(candidate)}
        for name, (base, candidate) in scenarios.items()
    }


class Rounds:
    """Stands for the servers' rounds: gives the figures it holds, one set per call, and
    keeps which scenarios each call ran."""

    def __init__(self, *answers: Measurements) -> None:
        self.answers = list(answers)
        self.asked: list[list[str]] = []

    async def __call__(self, chosen: Sequence[Scenario]) -> Measurements:
        self.asked.append([scenario.name for scenario in chosen])
        return self.answers.pop(0)


BOTH = [SCENARIOS["post-1"], SCENARIOS["post-10"]]
STEADY = ([1000.0, 1000.0, 1000.0], [1000.0, 1010.0, 990.0])


async def test_a_slowdown_the_confirming_rounds_do_not_show_passes() -> None:
    rounds = Rounds(
        figures(post_1=([1000.0] * 3, [880.0, 890.0, 900.0]), post_10=STEADY),
        figures(post_1=([1000.0] * 3, [1010.0, 1000.0, 990.0])),
    )

    measured = await confirmed(BOTH, rounds, floor=0.05)

    assert rounds.asked == [["post-1", "post-10"], ["post-1"]]  # only the doubtful one again
    post_1 = measured["post-1"]
    assert len(post_1["base"].rates) == len(post_1["candidate"].rates) == 6
    assert not judge("post-1", post_1["base"].rates, post_1["candidate"].rates, 0.05).slower


async def test_a_slowdown_that_holds_in_the_confirming_rounds_fails() -> None:
    slower = ([1000.0] * 3, [880.0, 890.0, 900.0])
    rounds = Rounds(figures(post_1=slower, post_10=STEADY), figures(post_1=slower))

    measured = await confirmed(BOTH, rounds, floor=0.05)

    post_1 = measured["post-1"]
    assert judge("post-1", post_1["base"].rates, post_1["candidate"].rates, 0.05).slower


async def test_no_round_is_run_again_when_nothing_is_slower() -> None:
    rounds = Rounds(figures(post_1=STEADY, post_10=STEADY))

    await confirmed(BOTH, rounds, floor=0.05)

    assert rounds.asked == [["post-1", "post-10"]]


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with (
        running(ServerProcess(database=tmp_path / "base.db")) as base,
        running(ServerProcess(database=tmp_path / "candidate.db")) as candidate,
    ):
        yield base, candidate


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (("--rounds", "0"), "argument --rounds: must be at least 1, not 0"),
        (("--workers", "0"), "argument --workers: must be at least 1, not 0"),
        (("--tolerance", "-0.1"), "argument --tolerance: must be from 0 up to 1"),
        (("--tolerance", "1"), "argument --tolerance: must be from 0 up to 1"),
        (("--clients", "0"), "argument --clients: must be at least 1, not 0"),
        (("--duration", "0"), "argument --duration: must be more than 0 seconds"),
    ],
)
def test_an_option_out_of_range_is_refused_before_any_server_starts(
    flags: tuple[str, ...], complaint: str
) -> None:
    done = compare("--base", ".", "--candidate", ".", *flags)

    assert done.returncode == 2
    assert f"tidings bench compare: error: {complaint}" in done.stderr
    assert "base:" not in done.stderr  # no server was started


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (
            ("--base", "no-such-revision"),
            "argument --base: 'no-such-revision' is none of '.', 'reference', a URL",
        ),
        (("--base", ".", "--candidate", "/no/such/tree"), "argument --candidate: '/no/such/tree'"),
        (("--base", "cmd: "), "argument --base: cmd: needs a command to run"),
        (("--base", "http://127.0.0.1:65536"), "argument --base: 'http://127.0.0.1:65536' is not"),
    ],
)
def test_a_side_that_is_none_of_the_forms_is_refused_before_any_server_starts(
    flags: tuple[str, ...], complaint: str
) -> None:
    done = compare(*flags)

    assert done.returncode == 2
    assert f"tidings bench compare: error: {complaint}" in done.stderr
    assert not done.stderr.startswith("base:")  # no server was started


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        (("--base", "cmd:exit 3"), "the server exited with code 3: (it logged nothing)"),
        (
            ("--base", ".", "--storage", "nosuch://x"),
            "the server exited with code 2: tidings: unknown storage URL scheme 'nosuch'",
        ),
    ],
)
def test_a_server_that_does_not_start_is_reported_in_a_line(
    flags: tuple[str, ...], complaint: str
) -> None:
    done = compare(*flags, *SHORT)

    assert done.returncode == 1
    assert f"tidings bench compare: {complaint}" in done.stderr
    assert "Traceback" not in done.stderr


def test_compare_two_running_servers(two_servers: tuple[ServerProcess, ServerProcess]) -> None:
    base, candidate = two_servers

    done = compare("--base", base.url, "--candidate", candidate.url, *SHORT, "--json")

    assert done.returncode == 0, done.stderr
    [verdict] = orjson.loads(done.stdout)
    assert verdict["scenario"] == "post-1"
    assert len(verdict["base"]) == len(verdict["candidate"]) == len(verdict["ratios"]) == 2
    assert verdict["min"] <= verdict["median"] <= verdict["max"]
    assert verdict["tolerance"] >= 0.05
    assert done.stderr.count("round ") == 4
    assert verdict["base_cpu"] == verdict["candidate_cpu"] == []  # servers it did not start
    assert verdict["cpu_ratio"] is None


def test_compare_tells_why_requests_failed(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    base, candidate = two_servers

    done = compare(
        "--base", base.url, "--candidate", candidate.url, *SHORT, "--message-size", "300000"
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    why = "  message_post: InvalidRequest: Request body is too large. Max size 262144"
    assert done.stderr.splitlines().count(why) == 4  # under each run's line


def test_compare_tells_of_runs_that_ran_dry(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    base, candidate = two_servers
    dry = ("--scenario", "claim-10-bulk-delete", "--prefill", "40", "--duration", "30")
    sides = ("--base", base.url, "--candidate", candidate.url, "--rounds", "1", "--clients", "2")

    as_json = compare(*sides, *dry, "--json")
    as_table = compare(*sides, *dry)

    assert as_json.returncode == 0, as_json.stderr
    [verdict] = orjson.loads(as_json.stdout)
    assert verdict["drained"] == 2
    assert as_json.stderr.count("ran dry after") == 2
    assert "claim-10-bulk-delete: 2 of 2 runs ran dry" in as_table.stdout
    assert "raise --prefill" in as_table.stdout


def test_compare_starts_both_servers_from_the_working_tree() -> None:
    done = compare("--base", ".", "--candidate", ".", "--workers", "1", *SHORT)

    assert done.returncode == 0, done.stderr
    assert "candidate / base msgs/s over 2 rounds" in done.stdout
    assert "post-1" in done.stdout
    assert "CPU/request ratio" in done.stdout


def test_a_command_side_is_stopped_with_all_it_started(tmp_path: Path) -> None:
    # The shell leaves the server in the background; stopping the shell alone would orphan it
    ports = tmp_path / "ports"
    serve = f"{sys.executable} -m tidings.cli serve --port {{port}} --workers 2"
    side = (
        f"cmd:echo {{port}} >> {ports}; {serve} --storage sqlite:///{tmp_path}/{{port}}.db & wait"
    )

    done = compare("--base", side, "--candidate", side, *SHORT)

    assert done.returncode == 0, done.stderr
    served = [int(port) for port in ports.read_text().split()]
    assert len(served) == 2
    for port in served:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_a_command_runs_where_compare_was_started(tmp_path: Path) -> None:
    script = tmp_path / "serve.sh"
    serve = f"{sys.executable} -m tidings.cli serve --workers 1"
    script.write_text(f'exec {serve} --port "$1" --storage sqlite:///"$PWD"/"$1".db\n')
    side = "cmd:bash ./serve.sh {port}"  # a path relative to where compare runs

    done = compare("--base", side, "--candidate", side, *SHORT, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert len(list(tmp_path.glob("*.db"))) == 2  # each side's database, made here


def test_each_side_can_have_a_database_of_its_own(postgres_server: PostgresServer) -> None:
    # Two trees whose schemas differ must not share one: the newer would migrate the older's
    with postgres_server.new_database() as base, postgres_server.new_database() as candidate:
        done = compare(
            *("--base", ".", "--candidate", "."),
            *("--base-storage", base, "--candidate-storage", candidate),
            *("--workers", "1", *SHORT),
        )

        assert done.returncode == 0, done.stderr
        assert messages_posted(base) > 0
        assert messages_posted(candidate) > 0


def messages_posted(url: str) -> int:
    """How many messages were ever posted to the database (NULL: its sequence never used)."""

    async def last_seq() -> int:
        connection = await asyncpg.connect(url)
        try:
            used = "SELECT coalesce(pg_sequence_last_value('messages_seq_seq'), 0)"
            return int(await connection.fetchval(used))
        finally:
            await connection.close()

    return run_coroutine(last_seq())


def test_compare_against_the_reference_server() -> None:
    done = compare("--base", "reference", "--candidate", ".", "--workers", "1", *SHORT, "--json")

    assert done.returncode == 0, done.stderr  # slower, but no --gate
    assert "the reference server (answers without storing)" in done.stderr
    [verdict] = orjson.loads(done.stdout)
    assert all(rate > 0 for rate in verdict["base"] + verdict["candidate"])
    assert done.stderr.count(" ms  0 errors") == 4  # every run of either side
    # Each side's server CPU per request, every round: a post costs more than an answer
    assert len(verdict["base_cpu"]) == len(verdict["candidate_cpu"]) == 2
    assert all(cpu > 0 for cpu in verdict["base_cpu"] + verdict["candidate_cpu"])
    assert verdict["cpu_ratio"] > 1
    assert done.stderr.count("ms/request") == 4


def test_the_perf_gate_fails_on_a_slower_candidate() -> None:
    # The reference answers without storing: tidings as the candidate is several times slower
    done = subprocess.run(
        ["make", "perf-gate", "BASE=reference", f"PERF_ARGS=--workers 1 {' '.join(SHORT)}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert done.returncode != 0, done.stdout
    assert "slower: post-1; as many rounds again to confirm" in done.stderr
    assert done.stderr.count("round 1/2 post-1") == 4  # both sides, then both again
    assert "slower (beyond" in done.stdout
    assert "perf-gate" in done.stderr  # make names the target that failed


def test_the_gate_passes_a_faster_candidate() -> None:
    done = compare("--base", ".", "--candidate", "reference", "--workers", "1", *SHORT, "--gate")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "slower" not in done.stdout
    assert " ok " in done.stdout


@pytest.mark.bench
def test_compare_a_git_revision_in_its_own_venv() -> None:
    """Installs HEAD from the package index into a cached virtual environment (slow once)."""
    done = compare("--base", "HEAD", "--candidate", ".", "--workers", "1", *SHORT, "--gate")

    assert done.returncode in (0, 1), done.stderr
    assert "revision HEAD" in done.stderr
