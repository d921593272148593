"""Real-time delivery: push latency, long-poll wake-up latency, and the CPU that 1,000 idle
long-pollers cost, with two ``tidings serve`` processes on one store (the post goes through
one process, the socket or the waiting request is held by the other).

A benchmark: it prints p50/p99 latencies and CPU seconds per backend; docs/performance.md
records the figures. Run it with ``pytest -m bench tests/benchmarks/test_realtime.py -s``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, caller_headers
from tests.websocket.support import opened

pytestmark = [pytest.mark.bench, pytest.mark.timeout(1800)]

ROUNDS = 200
POLLERS = 1_000
IDLE_WINDOW = 10.0
"""Most seconds over which the server's CPU time is read, with and without the pollers."""
WAIT = 20
RAMP = 50
"""Long polls started at once, 0.1 s apart."""
SETTLE_SLICES = 10
HEADERS = caller_headers("bench")


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def post(client: httpx.AsyncClient, server: ServerProcess, queue: str, body: object) -> None:
    response = await client.post(
        f"{server.url}/v2/queues/{queue}/messages", json={"messages": [{"body": body}]}
    )
    assert response.status_code == 201


async def push_latencies(holder: ServerProcess, poster: ServerProcess) -> list[float]:
    """Seconds from the start of a POST on one process to the push on the other's socket."""
    samples = []
    ws_url = holder.url.replace("http", "ws") + "/v2/ws"
    async with httpx.AsyncClient(headers=HEADERS) as client, opened(ws_url, headers=HEADERS) as ws:
        assert (await ws.call("subscription_create", queue_name="pushed"))[0] == 201
        for n in range(ROUNDS):
            started = time.perf_counter()
            await post(client, poster, "pushed", n)
            assert (await ws.pushed())["body"] == n
            samples.append(time.perf_counter() - started)
    return samples


async def wake_latencies(waiter: ServerProcess, poster: ServerProcess) -> list[float]:
    """Seconds from the start of a POST on one process to the answer of a claim waiting on
    the other."""
    samples = []
    async with httpx.AsyncClient(headers=HEADERS, timeout=30) as client:
        for n in range(ROUNDS):
            claim = asyncio.create_task(
                client.post(f"{waiter.url}/v2/queues/woken/claims", params={"wait": 20})
            )
            await asyncio.sleep(0.05)  # the claim is waiting
            started = time.perf_counter()
            await post(client, poster, "woken", n)
            response = await claim
            samples.append(time.perf_counter() - started)
            assert response.status_code == 201
            assert response.json()["messages"][0]["body"] == n
    return samples


async def settled(server: ServerProcess) -> None:
    """Wait until the server's CPU use is back to idle (every poll is in and waiting)."""
    for _ in range(SETTLE_SLICES):
        before = cpu_seconds(server.pid)
        await asyncio.sleep(0.5)
        if cpu_seconds(server.pid) - before <= 0.01:
            return


async def idle_cpu(server: ServerProcess, pollers: int) -> float:
    """The share of a core the server uses while ``pollers`` long polls wait on it, over at
    most IDLE_WINDOW seconds that end before the first of them expires. They arrive in batches
    (as consumers start, not all in one millisecond), 20 a queue."""
    limits = httpx.Limits(max_connections=pollers + 10)
    async with httpx.AsyncClient(headers=HEADERS, timeout=60, limits=limits) as client:
        started = time.monotonic()
        waiting = []
        for n in range(pollers):
            url = f"{server.url}/v2/queues/idle-{n % 50}/messages"
            waiting.append(asyncio.create_task(client.get(url, params={"wait": WAIT})))
            if n % RAMP == RAMP - 1:
                await asyncio.sleep(0.1)
        await settled(server)
        window = min(IDLE_WINDOW, started + WAIT - 1 - time.monotonic())
        assert window >= IDLE_WINDOW / 2, "the long polls took too long to start"
        before = cpu_seconds(server.pid)
        await asyncio.sleep(window)
        share = (cpu_seconds(server.pid) - before) / window
        ended = [task.result().text for task in waiting if task.done() and not task.exception()]
        assert not ended, ended[:3]
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
    return share


async def test_realtime_delivery(
    two_servers: tuple[ServerProcess, ServerProcess], request: pytest.FixtureRequest
) -> None:
    holder, poster = two_servers
    backend = request.node.callspec.id
    pushes = await push_latencies(holder, poster)
    wakes = await wake_latencies(holder, poster)
    quiet = await idle_cpu(holder, 0)
    one = await idle_cpu(holder, 1)
    many = await idle_cpu(holder, POLLERS)
    print(
        f"\n{backend}: push {percentiles(pushes)}; long-poll wake-up {percentiles(wakes)};"
        f" CPU (share of a core): {quiet:.1%} with no long poll, {one:.1%} with 1,"
        f" {many:.1%} with {POLLERS} waiting"
    )
    assert many - one < 0.01  # a waiting long poll costs no CPU
