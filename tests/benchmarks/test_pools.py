"""Throughput with one versus two Redis pools when Redis is the bottleneck.

A benchmark, not a test of speed: it prints messages per second for each layout. Each private
Redis server is held to a share of one CPU (a cgroup CPU quota), standing in for a Redis host
that is saturated, while the client (the pool router, driven directly by many concurrent
producers and consumers over many queues) has the rest of the machine. Without the quota, on a
small machine the Python client is the bottleneck and a second pool cannot help; the run
without it is printed too. Run it with ``pytest -m bench tests/benchmarks/test_pools.py -s``;
docs/performance.md records the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.redis import RedisServer
from tidings.models import NewMessage, Pool
from tidings.storage.pooled import PooledStorage, pooled_from_url

pytestmark = [pytest.mark.bench, pytest.mark.timeout(900)]

CGROUPS = Path("/sys/fs/cgroup/cpu")
"""cgroup v1's CPU controller (with v2, ``cpu.max`` would do the same)."""
PERIOD_US = 40_000
REDIS_CPU = 0.03
"""Share of one CPU each Redis may use when throttled."""
QUEUES = 64
WORKERS = 64
SECONDS = 8.0
ROUNDS = 3
PROJECT = "bench"


@contextlib.contextmanager
def cpu_quota(pid: int, share: float, name: str) -> Iterator[None]:
    """Hold the process to ``share`` of one CPU while in the block."""
    group = CGROUPS / name
    group.mkdir()
    try:
        (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (group / "cpu.cfs_quota_us").write_text(str(int(PERIOD_US * share)))
        (group / "cgroup.procs").write_text(str(pid))
        yield
    finally:
        (CGROUPS / "cgroup.procs").write_text(str(pid))
        group.rmdir()


async def worker(router: PooledStorage, number: int, deadline: float) -> int:
    """Post one message, claim it and delete it, over and over; the messages handled."""
    queue = f"q{number % QUEUES}"
    handled = 0
    while time.monotonic() < deadline:
        now = time.time()
        message = NewMessage(str(uuid.uuid4()), {"n": handled}, 300, 0, "bench")
        await router.messages_post(PROJECT, queue, [message], now)
        claim = await router.claim_create(PROJECT, queue, 60, 60, 1, now)
        if claim is not None:
            ids = [each.id for each in claim.messages]
            await router.messages_delete(PROJECT, queue, ids, [claim.id], now)
            handled += len(ids)
    return handled


async def measure(management: str, redis: list[RedisServer]) -> float:
    """Messages per second (each posted, claimed and deleted) over the given Redis pools."""
    for server in redis:
        server.flush()
    router = pooled_from_url(management)
    await router.open()
    try:
        for existing in await router.catalog.pool_list(None, None):
            await router.catalog.pool_delete(existing.name)
        for number, server in enumerate(redis):
            await router.catalog.pool_put(Pool(f"redis-{number}", server.url, 1))
        router.invalidate()
        await worker(router, 0, time.monotonic() + 1)  # warm up: open the pools
        deadline = time.monotonic() + SECONDS
        handled = await asyncio.gather(*(worker(router, n, deadline) for n in range(WORKERS)))
    finally:
        await router.close()
    return sum(handled) / SECONDS


async def test_two_redis_pools_carry_twice_the_load_of_one(tmp_path: Path) -> None:
    servers = [RedisServer(tmp_path / f"redis-{number}") for number in range(2)]
    for server in servers:
        server.start()
    rates: dict[tuple[bool, int], list[float]] = {}
    try:
        for throttled in (False, True):
            with contextlib.ExitStack() as stack:
                if throttled:
                    for server in servers:
                        assert server.process is not None
                        name = f"tidings-bench-{server.port}"
                        stack.enter_context(cpu_quota(server.process.pid, REDIS_CPU, name))
                for run in range(ROUNDS if throttled else 1):  # alternate: noise hits both
                    for count in (1, 2):
                        database = tmp_path / f"management-{throttled}-{count}-{run}.db"
                        rate = await measure(f"sqlite:///{database}", servers[:count])
                        rates.setdefault((throttled, count), []).append(rate)
    finally:
        for server in servers:
            server.stop()
    for throttled in (False, True):
        label = f"Redis held to {REDIS_CPU:.0%} of a CPU" if throttled else "Redis unthrottled"
        one, two = (statistics.median(rates[throttled, count]) for count in (1, 2))
        pairs = zip(rates[throttled, 1], rates[throttled, 2], strict=True)
        runs = " ".join(f"{one_pool:.0f}/{two_pools:.0f}" for one_pool, two_pools in pairs)
        print(
            f"{label:28} 1 pool {one:6.0f} msg/s  2 pools {two:6.0f} msg/s  x{two / one:.2f}"
            f"  (rounds, 1/2 pools: {runs})"
        )
    assert all(rate > 0 for found in rates.values() for rate in found)
