"""Generated frames, valid and not, for every action: each is answered, and none with a 5xx
(the WebSocket's counterpart of the HTTP API's schemathesis run)."""

from __future__ import annotations

import random
from typing import Any

import msgpack
import orjson
import pytest

from tests.conftest import caller_headers
from tests.websocket.support import Socket
from tidings.api import OPERATIONS

pytestmark = pytest.mark.parametrize("served", ["sqlite"], indirect=True)
"""The frames are read by the binding, whatever the store."""

FRAMES = 5_000
NAMES = ["q", "fuzzed", "a" * 64, "a" * 65, "bad name", "", "x#outbox", "ü"]
VALID_NAMES = 3
"""Queue names: valid ones (the first three), so that frames reach the store, and others."""
VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 60, 2**31, 2**63 - 1, -(2**63), 1.5, -0.0, 1e308,
    "", "x", "q", "-1", "60", "abc" * 400, "🙂", "\x00", "null",
    "2026-12-07T00:00:00Z", "00000000-0000-0000-0000-000000000000",
    "http://127.0.0.1:1/hook", "mailto:a@b.c", "queue:q", "trust+http://x", [], {},
]  # fmt: skip
KEYS = [
    "body", "ttl", "delay", "grace", "limit", "messages", "subscriber", "options", "metadata",
    "_max_claim_count", "_dead_letter_queue", "_default_message_ttl", "op", "path", "value",
]  # fmt: skip


class Frames:
    """Frames drawn from a seeded generator: the same ones on every run."""

    def __init__(self, seed: int) -> None:
        self.draw = random.Random(seed)

    def value(self, depth: int = 0) -> Any:
        if depth < 2 and self.draw.random() < 0.25:
            if self.draw.random() < 0.5:
                return [self.value(depth + 1) for _ in range(self.draw.randint(0, 4))]
            keys = range(self.draw.randint(0, 4))
            return {self.draw.choice(KEYS): self.value(depth + 1) for _ in keys}
        return self.draw.choice(VALUES)

    def ttl(self) -> Any:
        return self.draw.choice([60, 3600, self.value()])

    def body(self, action: str) -> dict[str, Any]:
        body: dict[str, Any] = {}
        operation = OPERATIONS.get(action)
        for param in operation.params if operation else ():
            key, dice = param.ws_name or param.name, self.draw.random()
            if dice < 0.15:
                continue
            if key.endswith("_name") and dice < 0.6:
                body[key] = self.draw.choice(NAMES[:VALID_NAMES] if dice < 0.45 else NAMES)
            else:
                body[key] = self.value()
        if action.endswith("message_post") and self.draw.random() < 0.8:
            count = self.draw.randint(0, 3)
            body["messages"] = [{"body": self.value(), "ttl": self.ttl()} for _ in range(count)]
        if self.draw.random() < 0.2:
            body[self.draw.choice(KEYS)] = self.value()
        return body

    def frame(self) -> Any:
        action = self.draw.choice([*sorted(OPERATIONS), "authenticate", "nope", ""])
        headers: dict[str, Any] = caller_headers()
        dice = self.draw.random()
        if dice < 0.05:
            del headers[self.draw.choice(sorted(headers))]
        elif dice < 0.1:
            headers[self.draw.choice(sorted(headers))] = self.value()
        frame = {"action": action, "headers": headers, "body": self.body(action)}
        if self.draw.random() < 0.05:
            return self.draw.choice([{"action": action}, {"headers": headers}, [frame], "x"])
        return frame

    def encoded(self) -> str | bytes:
        """A frame in text (JSON) or, one in three, binary (MessagePack)."""
        frame = self.frame()
        return msgpack.packb(frame) if self.draw.random() < 0.3 else orjson.dumps(frame).decode()


async def test_no_generated_frame_gets_a_server_error(ws: Socket) -> None:
    # Given frames of every action, with bodies and headers of any shape
    frames = Frames(seed=7)
    statuses = []
    for _ in range(FRAMES):
        # When each is sent
        await ws.send(frames.encoded())

        # Then it is answered, with a status below 500
        answer = await ws.response()
        statuses.append(answer["headers"]["status"])
        assert statuses[-1] < 500, answer

    # And some got through to the store while others were refused
    assert any(status < 300 for status in statuses)
    assert any(400 <= status < 500 for status in statuses)
