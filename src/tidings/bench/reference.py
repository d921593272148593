"""The reference server: an ASGI app that answers the bench's requests as a Zaqar server
would, storing nothing, served by the same server stack as ``tidings serve`` (``tidings.serving``).

``tidings bench compare --base reference --candidate .`` measures tidings against it: the
share of its server stack's own speed that tidings keeps. Posts answer 201 with the ids'
locations; claims answer 204 (nothing to claim); the rest answers 201 to a PUT, else 204.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import orjson
from starlette.types import Receive, Scope, Send

from tidings.serving import run_server

MESSAGE_ID = "5f8e2d52-3c3c-4b7e-9a83-7a1c1b2f6d10"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    body = await _body(receive)
    status, answer = _answer(scope["method"], scope["path"], body)
    headers = [(b"content-type", b"application/json")]
    if status != 204:
        headers.append((b"content-length", str(len(answer)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


def _answer(method: str, path: str, body: bytes) -> tuple[int, bytes]:
    if method == "POST" and path.endswith("/messages"):
        count = len(orjson.loads(body)["messages"])
        resources = [f"{path}/{MESSAGE_ID}"] * count
        return 201, orjson.dumps({"resources": resources})
    return (201 if method == "PUT" else 204), b""


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tidings.bench.reference")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    run_server("tidings.bench.reference:app", args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
