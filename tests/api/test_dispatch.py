"""The operation routes are matched ahead of Starlette's router, as that router would."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from tidings.transport.dispatch import Dispatch, OperationRoute


class Recorder:
    def __init__(self, name: str, calls: list[tuple[str, dict[str, str]]]) -> None:
        self.name = name
        self.calls = calls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls.append((self.name, dict(scope.get("path_params", {}))))


async def _route(method: str, path: str, **scope: str) -> list[tuple[str, dict[str, str]]]:
    calls: list[tuple[str, dict[str, str]]] = []
    dispatch = Dispatch(
        [
            OperationRoute.of("/v2/queues/{queue_name}", "GET", Recorder("get", calls)),
            OperationRoute.of("/v2/queues/{queue_name}/messages", "POST", Recorder("post", calls)),
        ],
        Recorder("fallback", calls),
    )

    async def nothing() -> dict[str, str]:
        return {}

    async def ignore(message: object) -> None:
        pass

    await dispatch({"type": "http", "method": method, "path": path, **scope}, nothing, ignore)
    return calls


async def test_an_operation_route_gets_its_path_parameters() -> None:
    assert await _route("POST", "/v2/queues/q1/messages") == [("post", {"queue_name": "q1"})]


async def test_a_get_route_answers_head() -> None:
    assert await _route("HEAD", "/v2/queues/q1") == [("get", {"queue_name": "q1"})]


async def test_other_methods_paths_and_mounts_go_to_the_fallback() -> None:
    assert await _route("DELETE", "/v2/queues/q1") == [("fallback", {})]
    assert await _route("GET", "/v2/queues/q1/") == [("fallback", {})]
    assert await _route("GET", "/v2/queues/a/b") == [("fallback", {})]
    assert await _route("GET", "/api/v2/queues/q1", root_path="/api") == [("fallback", {})]
