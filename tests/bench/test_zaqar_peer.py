"""Real Zaqar 23.0.1, served by ``scripts/zaqar-peer`` on the session's private Redis: the bench
loads it in each scenario of the speed target, and ``bench compare`` measures tidings against
it, as docs/performance.md does. The first run installs Zaqar from the package index."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import orjson
import pytest

from tests.bench.commands import PROJECT_ROOT, bench, compare
from tests.servers.redis import RedisServer
from tidings.bench import servers
from tidings.bench.scenarios import TARGET_SCENARIOS

ZAQAR_PEER = PROJECT_ROOT / "scripts" / "zaqar-peer"
ZAQAR_DATABASE, TIDINGS_DATABASE = 1, 2
"""The two share the session's Redis, each in a database of its own."""


def zaqar_side(redis_server: RedisServer) -> str:
    """Zaqar as ``bench compare`` starts it: a command serving on ``{port}``."""
    uri = f"redis://127.0.0.1:{redis_server.port}?dbid={ZAQAR_DATABASE}"
    return f"cmd:{ZAQAR_PEER} serve {{port}} {uri}"


@pytest.fixture(scope="module")
def zaqar_installed() -> None:
    """Installed before any test starts it: a first install takes longer than a server is
    given to answer."""
    subprocess.run([ZAQAR_PEER, "install"], check=True, timeout=900)


@pytest.fixture(scope="module")
def zaqar(
    zaqar_installed: None, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("zaqar")
    with servers.serving(zaqar_side(redis_server), "", 2, workdir) as server:
        yield server.url


def test_the_bench_loads_zaqar_in_each_target_scenario(zaqar: str) -> None:
    chosen = [flag for name in TARGET_SCENARIOS for flag in ("--scenario", name)]

    done = bench(zaqar, *chosen, "--clients", "2", "--duration", "1", "--prefill", "300", "--json")

    assert done.returncode == 0, done.stderr
    runs = orjson.loads(done.stdout)["runs"]
    assert [run["scenario"]["name"] for run in runs] == list(TARGET_SCENARIOS)
    for run in runs:
        assert run["errors"] == 0, run["error_samples"]
        assert run["messages_per_second"] > 0
    consumed = {run["scenario"]["name"]: run["consumed"] for run in runs}
    assert consumed["claim-10-delete-each"] > 0
    assert consumed["claim-10-bulk-delete"] > 0


def test_compare_tidings_against_zaqar_on_one_redis(
    zaqar_installed: None, redis_server: RedisServer
) -> None:
    tidings_on_redis = f"redis://127.0.0.1:{redis_server.port}/{TIDINGS_DATABASE}"

    done = compare(
        *("--base", zaqar_side(redis_server), "--candidate", "."),
        *("--storage", tidings_on_redis, "--scenario", "post-1"),
        *("--rounds", "1", "--duration", "1", "--clients", "2", "--json"),
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr.count(" ms  0 errors") == 2  # Zaqar's run and tidings'
    [verdict] = orjson.loads(done.stdout)
    assert verdict["base"][0] > 0
    assert verdict["candidate"][0] > 0
    # Both were started here, so both servers' CPU per request is known: gunicorn's workers too
    assert verdict["base_cpu"][0] > 0
    assert verdict["candidate_cpu"][0] > 0
