"""The frame protocol: encodings, the response envelope, and the errors of the WebSocket API
itself (Zaqar's texts and statuses)."""

from __future__ import annotations

import re
from typing import Any

import msgpack
import orjson
import pytest

from tests.websocket.conftest import OpenSocket
from tests.websocket.support import Socket

pytestmark = pytest.mark.parametrize("served", ["sqlite"], indirect=True)
"""The binding does not depend on the backend: one is enough."""

REQUEST_ID = r"req-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"
NO_REQUEST: dict[str, Any] = {"action": None, "body": {}, "headers": None, "api": "v2"}


async def test_a_response_holds_the_request_and_the_status(ws: Socket) -> None:
    frame = await ws.request("queue_create", {"queue_name": "fizbit"})

    assert frame == {
        "request": {
            "action": "queue_create",
            "body": {"queue_name": "fizbit"},
            "headers": ws.headers,
            "api": "v2",
        },
        "body": "Queue fizbit created.",
        "headers": {
            "status": 201,
            "X-OpenStack-Request-Id": frame["headers"]["X-OpenStack-Request-Id"],
        },
    }


async def test_every_answer_carries_a_request_id_of_its_own(ws: Socket) -> None:
    answers = [
        await ws.request("queue_create", {"queue_name": "ids"}),
        await ws.request("claim_get", {"queue_name": "ids", "claim_id": "a" * 24}),
        await ws.request("no_such_action", {}),
    ]
    await ws.send("not json")
    answers.append(await ws.response())

    ids = [answer["headers"]["X-OpenStack-Request-Id"] for answer in answers]
    assert [answer["headers"]["status"] for answer in answers] == [201, 404, 400, 400]
    assert all(re.fullmatch(REQUEST_ID, id_) for id_ in ids)
    assert len(set(ids)) == len(ids)


async def test_the_handshake_answer_carries_a_request_id_of_its_own(ws: Socket) -> None:
    assert ws.connection.response is not None
    handshake = ws.connection.response.headers["X-OpenStack-Request-Id"]
    answer = await ws.request("queue_list", {})

    assert re.fullmatch(REQUEST_ID, handshake)
    assert handshake != answer["headers"]["X-OpenStack-Request-Id"]


async def test_text_frames_are_answered_in_text(ws: Socket) -> None:
    await ws.call("queue_list")

    assert ws.kinds == [str]


async def test_binary_frames_are_messagepack_and_answered_in_messagepack(
    open_socket: OpenSocket,
) -> None:
    ws = await open_socket(binary=True)

    status, body = await ws.call("queue_create", queue_name="packed")
    listing = await ws.call("queue_list")

    assert (status, body) == (201, "Queue packed created.")
    assert listing == (200, {"queues": [{"name": "packed"}]})
    assert ws.kinds == [bytes, bytes]


async def test_the_root_path_speaks_the_same_api(open_socket: OpenSocket) -> None:
    """Zaqar's WebSocket server listens at / (on its own port)."""
    ws = await open_socket("/")

    assert await ws.call("queue_list") == (200, {"queues": []})


async def test_undecodable_json_is_400(ws: Socket) -> None:
    await ws.send("{not json")

    frame = await ws.response()

    assert frame["headers"]["status"] == 400
    assert frame["request"] == NO_REQUEST
    assert frame["body"]["error"].startswith("Can't decode text (JSON) request. JSONDecodeError")


async def test_undecodable_messagepack_is_400_in_messagepack(ws: Socket) -> None:
    await ws.send(b"\xc1")

    frame = await ws.response()

    assert ws.kinds == [bytes]
    assert frame["headers"]["status"] == 400
    assert frame["body"]["error"].startswith("Can't decode binary (MessagePack) request.")


@pytest.mark.parametrize("payload", [[1, 2], "text", 7, None])
async def test_a_frame_that_is_not_an_object_is_400(ws: Socket, payload: object) -> None:
    await ws.send(orjson.dumps(payload).decode())

    frame = await ws.response()

    assert frame["headers"]["status"] == 400
    assert frame["body"] == {"error": "Unexpected body type. Expected dict or dict like."}


async def test_an_unknown_action_is_400(ws: Socket) -> None:
    assert await ws.call("queue_explode") == (400, {"error": "queue_explode is not a valid action"})


async def test_a_frame_without_action_is_400(ws: Socket) -> None:
    await ws.send(orjson.dumps({"headers": ws.headers}).decode())

    assert (await ws.response())["body"] == {"error": "None is not a valid action"}


@pytest.mark.parametrize("missing", ["Client-ID", "X-Project-ID"])
async def test_a_missing_identity_header_fails_the_schema(ws: Socket, missing: str) -> None:
    headers = {name: value for name, value in ws.headers.items() if name != missing}
    await ws.send(orjson.dumps({"action": "queue_list", "headers": headers}).decode())

    frame = await ws.response()

    assert frame["headers"]["status"] == 400
    assert frame["body"] == {"error": "Schema validation failed."}


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("queue_create", {}),  # queue_name is required
        ("message_get", {"queue_name": "q"}),  # message_id is required
        ("message_list", {"queue_name": "q", "limit": 2.5}),
        ("message_list", {"queue_name": "q", "echo": 3}),
        ("message_get_many", {"queue_name": "q", "message_ids": [1, 2]}),
        ("queue_get", {"queue_name": 12}),
    ],
)
async def test_a_body_of_the_wrong_shape_fails_the_schema(
    ws: Socket, action: str, body: dict[str, object]
) -> None:
    assert await ws.call(action, **body) == (400, {"error": "Schema validation failed."})


@pytest.mark.parametrize("part", ["headers", "body"])
async def test_headers_or_body_that_are_not_objects_fail_the_schema(ws: Socket, part: str) -> None:
    frame = {"action": "queue_list", "headers": ws.headers, part: ["nope"]}
    await ws.send(orjson.dumps(frame).decode())

    assert (await ws.response())["body"] == {"error": "Schema validation failed."}


async def test_an_operations_error_names_its_title_and_description(ws: Socket) -> None:
    status, body = await ws.call("queue_create", queue_name="bad name!")

    assert status == 400
    assert body["exception"] == "Invalid queue identification"
    assert "Queue names may only contain" in body["error"]


async def test_a_string_that_is_no_integer_is_refused_as_in_a_query(ws: Socket) -> None:
    status, body = await ws.call("message_list", queue_name="q", limit="ten")

    assert status == 400
    assert body["error"] == 'The "limit" parameter is invalid. The value must be an integer.'


@pytest.mark.parametrize(
    ("action", "body", "headers", "error"),
    [
        (
            "queue_create",
            {"queue_name": "q"},
            {"X-Project-ID": "a\x00b"},
            "X-Project-ID may not hold a NUL character.",
        ),
        ("queue_list", {"marker": "a\x00"}, {}, "marker"),
        ("message_get", {"queue_name": "q", "message_id": "m\x00"}, {}, "message_id"),
        ("message_delete_many", {"queue_name": "q", "message_ids": ["m", "n\x00"]}, {}, "ids"),
        ("claim_get", {"queue_name": "q", "claim_id": "c\x00"}, {}, "claim_id"),
    ],
)
async def test_a_nul_in_a_header_or_parameter_is_refused(
    ws: Socket, action: str, body: dict[str, Any], headers: dict[str, str], error: str
) -> None:
    frame = await ws.request(action, body, **headers)

    assert frame["headers"]["status"] == 400
    assert error in frame["body"]["error"]
    assert frame["body"]["error"].endswith("may not hold a NUL character.")


async def test_spaces_around_a_header_are_not_part_of_it(ws: Socket) -> None:
    await ws.call("queue_create", queue_name="q")
    project = ws.headers["X-Project-ID"]

    frame = await ws.request("queue_list", {}, **{"X-Project-ID": f"\t{project} "})

    assert [queue["name"] for queue in frame["body"]["queues"]] == ["q"]


async def test_strings_are_read_like_query_values(ws: Socket) -> None:
    for body in ("a", "b", "c"):
        await ws.call("message_post", queue_name="q", messages=[{"body": body}])

    status, body = await ws.call("message_list", queue_name="q", limit="2", echo="true")

    assert status == 200
    assert [message["body"] for message in body["messages"]] == ["a", "b"]


async def test_frames_are_answered_in_order(ws: Socket) -> None:
    frames = [
        {
            "action": "message_post",
            "headers": ws.headers,
            "body": {"queue_name": "q", "messages": [{"body": n}]},
        }
        for n in range(20)
    ]
    for frame in frames:
        await ws.send(msgpack.packb(frame))

    answers = [await ws.response() for _ in frames]

    assert [answer["request"]["body"]["messages"][0]["body"] for answer in answers] == list(
        range(20)
    )
    _, body = await ws.call("message_list", queue_name="q", echo=True, limit=20)
    assert [message["body"] for message in body["messages"]] == list(range(20))


async def test_a_text_frame_keeps_64_bit_integers_exact_and_refuses_larger_ones(
    ws: Socket,
) -> None:
    """As over HTTP: orjson would turn an integer beyond 64 bits into a float."""

    async def post(number: str) -> dict[str, Any]:
        frame = {"action": "message_post", "headers": ws.headers, "body": {"queue_name": "q"}}
        text = (
            orjson.dumps(frame)
            .decode()
            .replace('"queue_name":"q"', f'"queue_name":"q","messages":[{{"body":{number}}}]')
        )
        await ws.send(text)
        return await ws.response()

    refused = await post("123456789012345678901234567890")
    kept = await post(str(2**64 - 1))

    assert refused["headers"]["status"] == 400
    assert refused["body"] == {
        "exception": "Invalid request body",
        "error": "JSON contains integer that is too large.",
    }
    assert kept["headers"]["status"] == 201
    status, listed = await ws.call("message_list", queue_name="q", echo=True)
    assert status == 200
    assert [message["body"] for message in listed["messages"]] == [2**64 - 1]


def nested(levels: int) -> Any:
    document: Any = 1
    for _ in range(levels):
        document = [document]
    return document


@pytest.mark.parametrize("binary", [False, True], ids=["json", "messagepack"])
async def test_a_frame_nested_too_deep_is_refused_and_one_as_deep_as_allowed_kept(
    open_socket: OpenSocket, binary: bool
) -> None:
    # orjson, which writes what is stored and answered, stops at 254 levels (a 500 before)
    ws = await open_socket(binary=binary)

    # The frame, its body, the messages and a message: 4 levels above those of a message's body
    refused = await ws.request(
        "message_post", {"queue_name": "q", "messages": [{"body": nested(197)}]}
    )
    status, _ = await ws.call("message_post", queue_name="q", messages=[{"body": nested(196)}])
    listed_status, listed = await ws.call("message_list", queue_name="q", echo=True)

    assert refused["headers"]["status"] == 400
    assert refused["body"] == {
        "exception": "Invalid request body",
        "error": "Request body is nested more than 200 levels deep.",
    }
    assert (status, listed_status) == (201, 200)
    assert [message["body"] for message in listed["messages"]] == [nested(196)]
