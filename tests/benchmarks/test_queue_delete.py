"""What deleting a large queue does to everyone else's posts: a ``tidings serve`` with two
workers on one SQLite file, 16 clients posting single messages for 6 s, and, 3 s in, the
delete of another queue of 100,000 messages (200-byte bodies). The same load without the
delete is the reference, in the same run.

A benchmark: it prints the posts' p99 and longest latency in both runs and how long the
delete took; docs/performance.md records the figures. Run it with
``pytest -m bench tests/benchmarks/test_queue_delete.py -s``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tidings.bench.report import latency_figures
from tidings.bench.runner import Options, run
from tidings.bench.scenarios import SCENARIOS
from tidings.client import Client

pytestmark = [pytest.mark.bench, pytest.mark.timeout(600)]

PROJECT = "bench-delete"
BIG = "big"
MESSAGES = 100_000
BATCH = 10
FILLERS = 16
BODY = {"pad": "x" * 200}
POSTERS = SCENARIOS["post-1"].with_clients(16)
SECONDS = 6.0
DELETE_AFTER = 3.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path / "delete.db", workers=2)
    process.start()
    yield process
    process.stop()


async def _fill(client: Client) -> None:
    async def filler(posts: int) -> None:
        for _ in range(posts):
            await client.message_post(BIG, [{"ttl": 3600, "body": BODY}] * BATCH)

    await asyncio.gather(*(filler(MESSAGES // BATCH // FILLERS) for _ in range(FILLERS)))


async def _posts_ms(url: str) -> dict[str, float]:
    outcome = await run(POSTERS, Options(url, duration=SECONDS, project=PROJECT))
    assert outcome.recorder.errors == 0
    return latency_figures(outcome.recorder.operations["message_post"].latencies)


async def _delete_later(client: Client) -> float:
    await asyncio.sleep(DELETE_AFTER)
    began = time.perf_counter()
    await client.queue_delete(BIG)
    return time.perf_counter() - began


async def test_posts_while_a_large_queue_is_deleted(server: ServerProcess) -> None:
    async with Client(server.url, PROJECT) as client:
        alone = await _posts_ms(server.url)
        await _fill(client)
        assert (await client.queue_get_stats(BIG)).total == MESSAGES
        beside, took = await asyncio.gather(_posts_ms(server.url), _delete_later(client))
        assert BIG not in [queue.name for queue in (await client.queue_list()).queues]

    for label, figures in (("alone", alone), ("beside the delete", beside)):
        print(
            f"\nposts {label}: p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms,"
            f" longest {figures['max_ms']:.1f} ms"
        )
    print(f"deleting {MESSAGES:,} messages took {took * 1000:.0f} ms")
