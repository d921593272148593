"""Claim, post and delete cost against queue depth: 1,000 versus 1,000,000 messages; and a
claim's cost behind 50,000 claimed messages (consumers holding them), and behind 50,000
delayed ones, against none.

A benchmark, not a test of speed: it prints per-operation medians and the deep/shallow ratio
for each backend. Run it with ``pytest -m bench tests/benchmarks -s``; docs/performance.md
records the figures.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest

from tests.conftest import opened
from tests.servers.backends import storage_url
from tidings.models import NewMessage
from tidings.storage.base import Storage, storage_from_url

pytestmark = [pytest.mark.bench, pytest.mark.timeout(3600)]

PROJECT = "depth"
SHALLOW = 1_000
DEEP = 1_000_000
FILL_BATCH = 1_000
ROUNDS = 300
HELD = 50_000
HOLDING_CLAIM = 1_000


async def fill(storage: Storage, queue: str, count: int, now: float, delay: int = 0) -> None:
    for _ in range(count // FILL_BATCH):
        batch = [new_message(delay) for _ in range(FILL_BATCH)]
        await storage.messages_post(PROJECT, queue, batch, now)


def new_message(delay: int = 0) -> NewMessage:
    return NewMessage(id=str(uuid.uuid4()), body={"n": 0}, ttl=3600, delay=delay, client_id="c")


async def measure(storage: Storage, queue: str, now: float) -> dict[str, float]:
    """Median seconds of post-1, claim-10 and delete-10 on ``queue``, whose depth stays."""
    samples: dict[str, list[float]] = {"post": [], "claim": [], "delete": []}
    for _ in range(ROUNDS):
        one = [new_message()]
        started = time.perf_counter()
        await storage.messages_post(PROJECT, queue, one, now)
        claimed = time.perf_counter()
        claim = await storage.claim_create(PROJECT, queue, 300, 60, 10, now)
        deleted = time.perf_counter()
        assert claim is not None
        ids = [message.id for message in claim.messages]
        assert len(ids) == 10
        await storage.messages_delete(PROJECT, queue, ids, [claim.id], now)
        samples["post"].append(claimed - started)
        samples["claim"].append(deleted - claimed)
        samples["delete"].append(time.perf_counter() - deleted)
        # The round took 10 messages and posted 1: the rest, untimed, keeps the queue's depth
        await storage.messages_post(PROJECT, queue, [new_message() for _ in range(9)], now)
    return {name: statistics.median(values) for name, values in samples.items()}


@pytest.mark.parametrize("backend", ["sqlite-file", "redis", "postgres"])
async def test_cost_does_not_grow_with_queue_depth(
    request: pytest.FixtureRequest, backend: str
) -> None:
    async with opened(storage_from_url(storage_url(request, backend))) as storage:
        now = time.time()
        await fill(storage, "shallow", SHALLOW, now)
        await fill(storage, "deep", DEEP, now)
        shallow = await measure(storage, "shallow", now)
        deep = await measure(storage, "deep", now)
    for name in shallow:
        ratio = deep[name] / shallow[name]
        print(
            f"{backend:12} {name:7} 1k {shallow[name] * 1e3:7.3f} ms"
            f"  1M {deep[name] * 1e3:7.3f} ms  ratio {ratio:5.2f}"
        )


async def claim_median(storage: Storage, queue: str, now: float) -> float:
    """Median seconds of a claim of 10 on ``queue``; the messages stay claimed."""
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        assert await storage.claim_create(PROJECT, queue, 300, 60, 10, now) is not None
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def claimed_ahead(storage: Storage, queue: str, now: float) -> None:
    """``HELD`` messages at the head of ``queue``, held by consumers."""
    await fill(storage, queue, HELD, now)
    for _ in range(HELD // HOLDING_CLAIM):
        assert await storage.claim_create(PROJECT, queue, 300, 60, HOLDING_CLAIM, now)


async def delayed_ahead(storage: Storage, queue: str, now: float) -> None:
    """``HELD`` messages at the head of ``queue``, delayed beyond the benchmark."""
    await fill(storage, queue, HELD, now, delay=900)


@pytest.mark.parametrize("ahead", [claimed_ahead, delayed_ahead], ids=["claimed", "delayed"])
@pytest.mark.parametrize("backend", ["sqlite-file", "redis", "postgres"])
async def test_claim_cost_behind_messages_it_may_not_take(
    request: pytest.FixtureRequest,
    backend: str,
    ahead: Callable[[Storage, str, float], Awaitable[None]],
) -> None:
    async with opened(storage_from_url(storage_url(request, backend))) as storage:
        now = time.time()
        spare = ROUNDS * 10 + FILL_BATCH
        await fill(storage, "free", spare, now)
        await ahead(storage, "behind", now)
        await fill(storage, "behind", spare, now)
        free = await claim_median(storage, "free", now)
        behind = await claim_median(storage, "behind", now)
    kind = ahead.__name__.removesuffix("_ahead")
    print(
        f"{backend:12} claim behind 0 {free * 1e3:7.3f} ms, behind {HELD:,} {kind}"
        f" {behind * 1e3:7.3f} ms  ratio {behind / free:5.2f}"
    )
