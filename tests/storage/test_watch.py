"""``Watchers``, the per-process half of ``Storage.watch``, over a feed the test controls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection

import pytest

from tidings.storage import watch
from tidings.storage.watch import Key, Watchers

NEWS: Key = ("p", "news")
SPORTS: Key = ("p", "sports")


class FakeFeed:
    def __init__(self) -> None:
        self.listening: set[Key] = set()
        self.connections = 0
        self.refusals = 0
        self._posted: Callable[[Key], None] = lambda key: None
        self._lost: asyncio.Future[None] | None = None

    async def connect(self, posted: Callable[[Key], None]) -> None:
        self.connections += 1
        if self.refusals:
            self.refusals -= 1
            raise ConnectionError("refused")
        self._posted = posted
        self._lost = asyncio.get_running_loop().create_future()

    async def listen(self, keys: Collection[Key]) -> None:
        self.listening |= set(keys)

    async def unlisten(self, keys: Collection[Key]) -> None:
        self.listening -= set(keys)

    async def lost(self) -> None:
        assert self._lost is not None
        await self._lost

    async def close(self) -> None:
        self.listening.clear()

    def post(self, key: Key) -> None:
        if key in self.listening:
            self._posted(key)

    def drop(self) -> None:
        assert self._lost is not None
        self._lost.set_result(None)


@pytest.fixture
def feed() -> FakeFeed:
    return FakeFeed()


@pytest.fixture
async def watchers(feed: FakeFeed, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Watchers]:
    monkeypatch.setattr(watch, "RETRY", 0.01)
    watchers = Watchers(feed, linger=0.2)
    yield watchers
    await watchers.close()


async def waiting(watchers: Watchers, key: Key = NEWS, seconds: float = 5) -> asyncio.Task[bool]:
    task = asyncio.create_task(watchers.watch(key, seconds))
    await asyncio.sleep(0)
    return task


async def test_the_first_watch_answers_true_once_the_feed_listens(
    watchers: Watchers, feed: FakeFeed
) -> None:
    assert await watchers.watch(NEWS, 5)
    assert feed.listening == {NEWS}


async def test_a_reported_post_wakes_the_waiters_of_its_queue_only(
    watchers: Watchers, feed: FakeFeed
) -> None:
    await watchers.watch(NEWS, 5)
    await watchers.watch(SPORTS, 5)
    news = [await waiting(watchers) for _ in range(3)]
    sports = await waiting(watchers, SPORTS, 0.2)

    feed.post(NEWS)

    assert await asyncio.gather(*news) == [True, True, True]
    assert not await sports


async def test_without_a_post_a_watch_ends_false(watchers: Watchers) -> None:
    await watchers.watch(NEWS, 5)

    assert not await watchers.watch(NEWS, 0.05)


async def test_a_queue_is_listened_to_a_while_after_its_last_waiter(
    watchers: Watchers, feed: FakeFeed
) -> None:
    await watchers.watch(NEWS, 5)
    await asyncio.sleep(0.1)
    assert feed.listening == {NEWS}

    await asyncio.sleep(0.3)

    assert feed.listening == set()


async def test_a_lost_feed_reconnects_and_sends_the_waiters_to_look_again(
    watchers: Watchers, feed: FakeFeed
) -> None:
    await watchers.watch(NEWS, 5)
    waiter = await waiting(watchers)
    feed.refusals = 2

    feed.drop()

    assert await asyncio.wait_for(waiter, 2)
    assert feed.connections == 4
    assert feed.listening == {NEWS}


async def test_closing_sends_the_waiters_to_look_again(watchers: Watchers) -> None:
    await watchers.watch(NEWS, 5)
    waiter = await waiting(watchers)

    await watchers.close()

    assert await waiter
    assert await watchers.watch(NEWS, 5)


async def test_a_watch_of_no_time_does_not_listen(watchers: Watchers, feed: FakeFeed) -> None:
    assert not await watchers.watch(NEWS, 0)
    assert feed.connections == 0
