"""oslo.messaging RPC over tidings: call round-trip latency (one caller, calls one after the
other) and calls per second with 50 concurrent callers. The tidings server, the RPC server and
the callers are three processes on one machine.

A benchmark: it prints the figures; docs/performance.md records them. Run it with
``pytest -m bench tests/benchmarks/test_oslo_rpc.py -s`` (``OSLO_BENCH_WORKERS=2`` for two
server workers).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.benchmarks.test_realtime import cpu_seconds
from tests.conftest import ServerProcess

# conf is a fixture; om is oslo_messaging, imported there with its deprecation warnings quieted
from tests.oslo.conftest import conf, om  # type: ignore[attr-defined]  # noqa: F401
from tests.processes import running

pytestmark = [pytest.mark.bench, pytest.mark.timeout(600)]

WARMUP = 200
SEQUENTIAL = 1_000
CALLERS = 50
DURATION = 5.0
TOPIC = "bench"


@pytest.fixture
def tidings(tmp_path: Path) -> Iterator[ServerProcess]:
    workers = int(os.environ.get("OSLO_BENCH_WORKERS", "1"))
    with running(ServerProcess(database=tmp_path / "bench.db", workers=workers)) as process:
        yield process


@pytest.fixture
def url(tidings: ServerProcess) -> str:
    return f"tidings://127.0.0.1:{tidings.port}/?project=bench"


@pytest.fixture
def rpc_server(url: str) -> Iterator[subprocess.Popen[str]]:
    command = [sys.executable, "-m", "tests.benchmarks.oslo_echo_server", url, TOPIC]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdin is not None
    with process.stdout, process.stdin:
        assert process.stdout.readline().strip() == "ready"
        try:
            yield process
        finally:
            process.stdin.close()
            process.wait(30)


@pytest.fixture
def client(conf: Any, url: str, rpc_server: subprocess.Popen[str]) -> Iterator[Any]:  # noqa: F811
    transport = om.get_rpc_transport(conf, url=url)
    yield om.get_rpc_client(transport, om.Target(topic=TOPIC), timeout=30)
    transport.cleanup()


def summary(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return f"p50 {cuts[49] * 1000:.2f} ms, p99 {cuts[98] * 1000:.2f} ms"


def timed_call(client: Any, value: int) -> float:
    start = time.perf_counter()
    assert client.call({}, "echo", value=value) == value
    return time.perf_counter() - start


def callers(client: Any, seconds: float) -> list[float]:
    """Every call's latency while ``CALLERS`` threads call for ``seconds``."""
    samples: list[float] = []
    deadline = time.monotonic() + seconds

    def caller() -> None:
        n = 0
        while time.monotonic() < deadline:
            samples.append(timed_call(client, n))
            n += 1

    threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def test_rpc_call_latency_and_throughput(
    tidings: ServerProcess, rpc_server: subprocess.Popen[str], client: Any
) -> None:
    for n in range(WARMUP):
        timed_call(client, n)
    sequential = [timed_call(client, n) for n in range(SEQUENTIAL)]
    print(f"\none caller, {SEQUENTIAL} calls: {summary(sequential)}")

    pids = {"tidings": tidings.pid, "rpc server": rpc_server.pid, "callers": os.getpid()}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    start = time.monotonic()
    concurrent = callers(client, DURATION)
    elapsed = time.monotonic() - start
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    print(
        f"{CALLERS} callers, {elapsed:.1f} s: {len(concurrent) / elapsed:,.0f} calls/s,"
        f" {summary(concurrent)}"
    )
    print("CPU seconds: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items()))
