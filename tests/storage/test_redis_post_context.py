"""On Redis, a post to a queue whose context did not change since this process last read it is
one script. (That such a post still sees every change:
``tests/contract/test_storage_post_context.py``.)"""

from __future__ import annotations

import uuid

from tidings.models import NewMessage, PostContext, PreparedPost
from tidings.storage.base import Storage
from tidings.storage.redis import RedisStorage

PROJECT = "project-a"
QUEUE = "fizbit"
NOW = 1_700_000_000.0


def _one_message(context: PostContext) -> PreparedPost:
    return PreparedPost([NewMessage(str(uuid.uuid4()), "x", 300, 0, "client")], ())


async def _post(storage: Storage) -> str:
    [posted] = await storage.messages_post_in_context(PROJECT, QUEUE, NOW, _one_message)
    return posted


async def _script_calls(storage: RedisStorage) -> int:
    stats = await storage._client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_redis_posts_to_an_unchanged_queue_in_one_script(
    redis_storage: RedisStorage,
) -> None:
    # Given a queue this process has posted to once
    await redis_storage.queue_create(PROJECT, QUEUE, {}, NOW)
    await _post(redis_storage)

    # When it posts again, Then that post runs one script (the insert) and is stored
    before = await _script_calls(redis_storage)
    posted = await _post(redis_storage)
    assert await _script_calls(redis_storage) - before == 1
    assert len(await redis_storage.messages_get(PROJECT, QUEUE, [posted], NOW)) == 1
