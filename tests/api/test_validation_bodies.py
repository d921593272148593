"""One case per validation rule of request bodies: messages, queue metadata and its JSON
patch, claims and purge. Each checks the status, the title and the description."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.support import JSON_PATCH, assert_error, post_messages
from tests.servers.backends import VALIDATION_BACKENDS

BAD_BODY = "Invalid request body"
BAD_REQUEST = "Invalid API request"
MESSAGES = "/v2/queues/fizbit/messages"
MESSAGE_TTL = "The TTL for a message may not exceed 1209600 seconds, and must be at least 60"
MESSAGE_DELAY = "The delay for a message may not exceed 900 seconds, and must be at least 0"
CLAIM_TTL = "The TTL for a claim may not exceed 43200 seconds, and must be at least 60"
CLAIM_GRACE = "The grace for a claim may not exceed 43200 seconds, and must be at least 60"


pytestmark = pytest.mark.parametrize("api", VALIDATION_BACKENDS, indirect=True)


def nested(levels: int, opening: bytes = b"[", closing: bytes = b"]") -> bytes:
    """A JSON value of ``levels`` containers, one in the other, around a 1."""
    return opening * levels + b"1" + closing * levels


def case(name: str, *values: Any) -> Any:
    return pytest.param(*values, id=name)


def one(message: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [message]}


@pytest.fixture(autouse=True)
async def fizbit(api: httpx.AsyncClient) -> None:
    """Every case runs beside an existing queue ``fizbit`` holding one message."""
    await post_messages(api, "fizbit")


# Raw bodies


@pytest.mark.parametrize(
    ("method", "url", "content", "content_type", "title", "text"),
    [
        case("not-json", "POST", MESSAGES, b"{messages", None, BAD_BODY, "could not be parsed."),
        case("truncated", "PUT", "/v2/queues/q", b'{"a": ', None, BAD_BODY, "could not be parsed"),
        case("nan", "PUT", "/v2/queues/q", b'{"a": NaN}', None, BAD_BODY, "could not be parsed"),
        case(
            "infinity",
            "POST",
            MESSAGES,
            b'{"messages": [{"body": 1e999}]}',
            None,
            BAD_BODY,
            "could not be parsed",
        ),
        case(
            "lone-surrogate",
            "POST",
            MESSAGES,
            b'{"messages": [{"body": "\\ud800"}]}',
            None,
            BAD_BODY,
            "could not be parsed",
        ),
        case(
            "deep-nesting",
            "POST",
            MESSAGES,
            b'{"messages": [{"body": ' + b"[" * 5000 + b"]" * 5000 + b"}]}",
            None,
            BAD_BODY,
            "could not be parsed",
        ),
        case("empty", "POST", MESSAGES, b"", None, BAD_BODY, "Request body can not be empty"),
        case(
            "blank", "POST", MESSAGES, b" \t\r\n", None, BAD_BODY, "Request body can not be empty"
        ),
        case("vertical-tab", "POST", MESSAGES, b"\x0b", None, BAD_BODY, "could not be parsed"),
        case(
            "form-feed",
            "POST",
            "/v2/queues/q/purge",
            b"\x0c",
            None,
            BAD_BODY,
            "could not be parsed",
        ),
        case(
            "empty-patch",
            "PATCH",
            "/v2/queues/fizbit",
            b"",
            JSON_PATCH,
            BAD_BODY,
            "Request body can not be empty",
        ),
        case(
            "form",
            "POST",
            MESSAGES,
            b"messages=1",
            "application/x-www-form-urlencoded",
            BAD_BODY,
            "Invalid Content-Type",
        ),
        case(
            "form-on-put",
            "PUT",
            "/v2/queues/q",
            b"a=1",
            "application/x-www-form-urlencoded; charset=utf-8",
            BAD_BODY,
            "Invalid Content-Type",
        ),
        case(
            "integer-too-large",
            "POST",
            MESSAGES,
            b'{"messages": [{"body": 123456789012345678901234567890}]}',
            None,
            BAD_BODY,
            "JSON contains integer that is too large.",
        ),
        case(
            "negative-integer-too-large",
            "PUT",
            "/v2/queues/q",
            b'{"n": -99999999999999999999}',
            None,
            BAD_BODY,
            "JSON contains integer that is too large.",
        ),
        case(
            "message-nested-too-deep",
            "POST",
            MESSAGES,
            b'{"messages": [{"body": ' + nested(198) + b"}]}",
            None,
            BAD_BODY,
            "Request body is nested more than 200 levels deep.",
        ),
        case(
            "metadata-nested-too-deep",
            "PUT",
            "/v2/queues/q",
            b'{"a": ' + nested(200, b'{"b": ', b"}") + b"}",
            None,
            BAD_BODY,
            "Request body is nested more than 200 levels deep.",
        ),
    ],
)
async def test_unparsable_body(
    api: httpx.AsyncClient,
    method: str,
    url: str,
    content: bytes,
    content_type: str | None,
    title: str,
    text: str,
) -> None:
    headers = {"Content-Type": content_type or "application/json"}
    response = await api.request(method, url, content=content, headers=headers)

    assert_error(response, 400, title, text)


async def test_a_body_as_deep_as_allowed_is_kept(api: httpx.AsyncClient) -> None:
    # orjson, which writes what is stored and answered, stops at 254 levels (a 500 before)
    content = b'{"messages": [{"body": ' + nested(197) + b"}]}"

    posted = await api.post("/v2/queues/deep/messages", content=content)
    listed = await api.get("/v2/queues/deep/messages", params={"echo": "true"})

    assert posted.status_code == 201, posted.text
    assert [message["body"] for message in listed.json()["messages"]] == [json.loads(nested(197))]


async def test_integers_up_to_64_bits_are_accepted(api: httpx.AsyncClient) -> None:
    content = b'{"messages": [{"body": [18446744073709551615, -9223372036854775808]}]}'

    response = await api.post(MESSAGES, content=content)

    assert response.status_code == 201


# Message posts


@pytest.mark.parametrize(
    ("document", "title", "text"),
    [
        case("list-document", [{"body": 1}], BAD_BODY, "Document type not supported."),
        case("string-document", "messages", BAD_BODY, "Document type not supported."),
        case("no-messages-key", {"body": 1}, BAD_REQUEST, "No messages were found"),
        case("messages-not-list", {"messages": {"body": 1}}, BAD_BODY, "type not supported."),
        case("messages-empty", {"messages": []}, BAD_REQUEST, "No messages to enqueue"),
        case("message-not-object", {"messages": [1]}, BAD_BODY, "Message type not supported."),
        case("message-is-list", {"messages": [[{"body": 1}]]}, BAD_BODY, "type not supported."),
        case("missing-body", one({"ttl": 60}), BAD_REQUEST, 'Missing "body" field.'),
        case("ttl-string", one({"body": 1, "ttl": "60"}), BAD_REQUEST, '"ttl" field must be a int'),
        case("ttl-true", one({"body": 1, "ttl": True}), BAD_REQUEST, '"ttl" field must be a int'),
        case("ttl-float", one({"body": 1, "ttl": 60.5}), BAD_REQUEST, '"ttl" field must be a int'),
        case("ttl-too-short", one({"body": 1, "ttl": 59}), BAD_REQUEST, MESSAGE_TTL),
        case("ttl-too-long", one({"body": 1, "ttl": 1209601}), BAD_REQUEST, MESSAGE_TTL),
        case("ttl-64-bit", one({"body": 1, "ttl": 2**64 - 1}), BAD_REQUEST, MESSAGE_TTL),
        case("delay-string", one({"body": 1, "delay": "1"}), BAD_REQUEST, '"delay" field must'),
        case("delay-bool", one({"body": 1, "delay": False}), BAD_REQUEST, '"delay" field must'),
        case("delay-negative", one({"body": 1, "delay": -1}), BAD_REQUEST, MESSAGE_DELAY),
        case("delay-too-long", one({"body": 1, "delay": 901}), BAD_REQUEST, MESSAGE_DELAY),
    ],
)
async def test_bad_message_post(
    api: httpx.AsyncClient, document: Any, title: str, text: str
) -> None:
    response = await api.post(MESSAGES, json=document)

    assert_error(response, 400, title, text)


async def test_one_bad_message_rejects_the_whole_batch(api: httpx.AsyncClient) -> None:
    document = {"messages": [{"body": "good"}, {"body": "bad", "ttl": 1}]}

    response = await api.post("/v2/queues/batch/messages", json=document)

    assert_error(response, 400, BAD_REQUEST, MESSAGE_TTL)
    assert (await api.get("/v2/queues/batch/stats")).json()["messages"]["total"] == 0


async def test_post_larger_than_the_server_limit(api: httpx.AsyncClient) -> None:
    document = one({"body": "x" * 262144})

    response = await api.post(MESSAGES, json=document)

    assert_error(response, 400, None, "too large. Max size 262144")


async def test_post_larger_than_the_queue_limit(api: httpx.AsyncClient) -> None:
    await api.put("/v2/queues/small", json={"_max_messages_post_size": 100})

    response = await api.post("/v2/queues/small/messages", json=one({"body": "x" * 100}))

    assert_error(response, 400, BAD_REQUEST, "Message collection size is too large. Max size 100")


async def test_post_within_the_queue_limit(api: httpx.AsyncClient) -> None:
    await api.put("/v2/queues/small", json={"_max_messages_post_size": 100})

    response = await api.post("/v2/queues/small/messages", json=one({"body": "x"}))

    assert response.status_code == 201


# Queue metadata, on PUT and on PATCH

RESERVED_CASES = [
    case("default-ttl-string", "_default_message_ttl", "60", "must be a int"),
    case("default-ttl-bool", "_default_message_ttl", True, "must be a int"),
    case("default-ttl-low", "_default_message_ttl", 59, MESSAGE_TTL),
    case("default-ttl-high", "_default_message_ttl", 1209601, MESSAGE_TTL),
    case("post-size-string", "_max_messages_post_size", "1", "must be a int"),
    case("post-size-low", "_max_messages_post_size", 0, "post size of a queue must be at least 1"),
    case("post-size-high", "_max_messages_post_size", 262145, "may not exceed 262144 bytes"),
    case("delay-float", "_default_message_delay", 1.5, "must be a int"),
    case("delay-low", "_default_message_delay", -1, MESSAGE_DELAY),
    case("delay-high", "_default_message_delay", 901, MESSAGE_DELAY),
    case("dlq-int", "_dead_letter_queue", 1, '"_dead_letter_queue" field must be a str'),
    case("dlq-bad-name", "_dead_letter_queue", "bad name", "Queue names may only contain"),
    case("dlq-too-long", "_dead_letter_queue", "x" * 65, "Queue names may only contain"),
    case("claim-count-string", "_max_claim_count", "2", '"_max_claim_count" field must be a int'),
    case("claim-count-low", "_max_claim_count", 0, "claim count must be at least 1"),
    case("claim-count-high", "_max_claim_count", 2**31, "claim count must be at least 1"),
    case("dlq-ttl-string", "_dead_letter_queue_messages_ttl", "60", "must be a int"),
    case("dlq-ttl-low", "_dead_letter_queue_messages_ttl", 59, MESSAGE_TTL),
    case("dlq-ttl-high", "_dead_letter_queue_messages_ttl", 1209601, MESSAGE_TTL),
    case("encrypt-string", "_enable_encrypt_messages", "true", "must be a bool"),
    case("encrypt-int", "_enable_encrypt_messages", 1, "must be a bool"),
    case("retry-policy-string", "_retry_policy", "often", "must be a dict"),
    case("flavor-int", "_flavor", 3, '"_flavor" field must be a str'),
]


@pytest.mark.parametrize(("key", "value", "text"), RESERVED_CASES)
async def test_bad_reserved_metadata_on_put(
    api: httpx.AsyncClient, key: str, value: Any, text: str
) -> None:
    response = await api.put("/v2/queues/fresh", json={key: value})

    assert_error(response, 400, None, text)
    assert (await api.get("/v2/queues")).json()["queues"] == [
        {"name": "fizbit", "href": "/v2/queues/fizbit"}
    ]


@pytest.mark.parametrize(("key", "value", "text"), RESERVED_CASES)
async def test_bad_reserved_metadata_on_patch(
    api: httpx.AsyncClient, key: str, value: Any, text: str
) -> None:
    operation = {"op": "add", "path": f"/metadata/{key}", "value": value}

    response = await api.patch(
        "/v2/queues/fizbit", json=[operation], headers={"Content-Type": JSON_PATCH}
    )

    assert_error(response, 400, None, text)
    assert (await api.get("/v2/queues/fizbit")).json()["_dead_letter_queue"] is None


async def test_queue_metadata_must_be_an_object(api: httpx.AsyncClient) -> None:
    response = await api.put("/v2/queues/q", json=["a"])

    assert_error(response, 400, BAD_BODY, "type not supported.")


async def test_queue_metadata_too_large_on_put(api: httpx.AsyncClient) -> None:
    response = await api.put("/v2/queues/q", json={"blob": "x" * 65536})

    assert_error(response, 400, BAD_REQUEST, "Queue metadata is too large. Max size: 65536")


async def test_queue_metadata_too_large_on_patch(api: httpx.AsyncClient) -> None:
    operation = {"op": "add", "path": "/metadata/blob", "value": "x" * 65536}

    response = await api.patch(
        "/v2/queues/fizbit", json=[operation], headers={"Content-Type": JSON_PATCH}
    )

    assert_error(response, 400, BAD_REQUEST, "Queue metadata is too large")


# JSON patch


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
async def test_patch_with_another_media_type_is_415(
    api: httpx.AsyncClient, content_type: str | None
) -> None:
    request = api.build_request(
        "PATCH",
        "/v2/queues/fizbit",
        content=b'[{"op": "add", "path": "/metadata/a", "value": 1}]',
        headers={"Content-Type": content_type or ""},
    )
    if content_type is None:
        del request.headers["Content-Type"]

    response = await api.send(request)

    assert_error(response, 415, "Unsupported media type", f"Accept-Patch: {JSON_PATCH}")


@pytest.mark.parametrize(
    ("document", "title", "text"),
    [
        case("not-a-list", {"op": "add"}, BAD_BODY, "non-empty JSON-patch array"),
        case("empty-list", [], BAD_BODY, "non-empty JSON-patch array"),
        case("operation-not-object", ["add"], BAD_BODY, "must be an object"),
        case("unknown-op", [{"op": "move", "path": "/metadata/a"}], BAD_REQUEST, "op must be"),
        case("missing-op", [{"path": "/metadata/a", "value": 1}], BAD_REQUEST, "op must be"),
        case("path-outside", [{"op": "add", "path": "/a", "value": 1}], BAD_REQUEST, "path must"),
        case("path-no-key", [{"op": "remove", "path": "/metadata"}], BAD_REQUEST, "path must"),
        case("path-empty-key", [{"op": "remove", "path": "/metadata/"}], BAD_REQUEST, "path must"),
        case("path-deep", [{"op": "remove", "path": "/metadata/a/b"}], BAD_REQUEST, "path must"),
        case("path-relative", [{"op": "remove", "path": "metadata/a"}], BAD_REQUEST, "path must"),
        case("path-not-string", [{"op": "remove", "path": 1}], BAD_REQUEST, "path must"),
        case("missing-path", [{"op": "remove"}], BAD_REQUEST, "path must"),
        case("add-no-value", [{"op": "add", "path": "/metadata/a"}], BAD_REQUEST, '"value"'),
        case(
            "replace-no-value",
            [{"op": "replace", "path": "/metadata/color"}],
            BAD_REQUEST,
            '"value"',
        ),
    ],
)
async def test_bad_json_patch(api: httpx.AsyncClient, document: Any, title: str, text: str) -> None:
    response = await api.patch(
        "/v2/queues/fizbit", json=document, headers={"Content-Type": JSON_PATCH}
    )

    assert_error(response, 400, title, text)


@pytest.mark.parametrize("op", ["replace", "remove"])
async def test_patch_of_an_absent_key_is_409(api: httpx.AsyncClient, op: str) -> None:
    operation = {"op": op, "path": "/metadata/absent", "value": 1}

    response = await api.patch(
        "/v2/queues/fizbit", json=[operation], headers={"Content-Type": JSON_PATCH}
    )

    assert_error(response, 409, "Resource conflict", "does not exist")


async def test_a_failed_patch_changes_nothing(api: httpx.AsyncClient) -> None:
    operations = [
        {"op": "add", "path": "/metadata/color", "value": "red"},
        {"op": "remove", "path": "/metadata/absent"},
    ]

    response = await api.patch(
        "/v2/queues/fizbit", json=operations, headers={"Content-Type": JSON_PATCH}
    )

    assert response.status_code == 409
    assert "color" not in (await api.get("/v2/queues/fizbit")).json()


async def test_patch_of_a_missing_queue_is_404(api: httpx.AsyncClient) -> None:
    operation = {"op": "add", "path": "/metadata/a", "value": 1}

    response = await api.patch(
        "/v2/queues/nowhere", json=[operation], headers={"Content-Type": JSON_PATCH}
    )

    assert_error(response, 404, "Not found", "Queue does not exist")


# Claims


CLAIM_CASES = [
    case("ttl-low", {"ttl": 59}, BAD_REQUEST, CLAIM_TTL),
    case("ttl-high", {"ttl": 43201}, BAD_REQUEST, CLAIM_TTL),
    case("ttl-string", {"ttl": "60"}, BAD_REQUEST, '"ttl" field must be a int'),
    case("ttl-bool", {"ttl": True}, BAD_REQUEST, '"ttl" field must be a int'),
    case("grace-low", {"grace": 59}, BAD_REQUEST, CLAIM_GRACE),
    case("grace-high", {"grace": 43201}, BAD_REQUEST, CLAIM_GRACE),
    case("grace-float", {"grace": 60.0}, BAD_REQUEST, '"grace" field must be a int'),
    case("not-object", [60], BAD_BODY, "Document type not supported."),
]


@pytest.mark.parametrize(("document", "title", "text"), CLAIM_CASES)
async def test_bad_claim_create(
    api: httpx.AsyncClient, document: Any, title: str, text: str
) -> None:
    response = await api.post("/v2/queues/fizbit/claims", json=document)

    assert_error(response, 400, title, text)
    assert (await api.get("/v2/queues/fizbit/stats")).json()["messages"]["claimed"] == 0


@pytest.mark.parametrize(("document", "title", "text"), CLAIM_CASES)
async def test_bad_claim_renew(
    api: httpx.AsyncClient, document: Any, title: str, text: str
) -> None:
    created = await api.post("/v2/queues/fizbit/claims")

    response = await api.patch(created.headers["location"], json=document)

    assert_error(response, 400, title, text)


# Purge


@pytest.mark.parametrize(
    "document",
    [
        {"resource_types": ["queues"]},
        {"resource_types": ["messages", "claims"]},
        {"resource_types": []},
        {"resource_types": [1]},
    ],
)
async def test_bad_purge_resource_types(api: httpx.AsyncClient, document: Any) -> None:
    response = await api.post("/v2/queues/fizbit/purge", json=document)

    assert_error(response, 400, BAD_REQUEST, "Resource types must be a sub set of")
    assert (await api.get("/v2/queues/fizbit/stats")).json()["messages"]["total"] == 1


async def test_purge_resource_types_must_be_a_list(api: httpx.AsyncClient) -> None:
    response = await api.post("/v2/queues/fizbit/purge", json={"resource_types": "messages"})

    assert_error(response, 400, BAD_REQUEST, '"resource_types" field must be a list')


async def test_purge_body_must_be_an_object(api: httpx.AsyncClient) -> None:
    response = await api.post("/v2/queues/fizbit/purge", json=["messages"])

    assert_error(response, 400, BAD_BODY, "Document type not supported.")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("PUT", "/v2/queues/fizbit"),
        ("POST", "/v2/queues/fizbit/claims"),
        ("POST", "/v2/queues/fizbit/purge"),
    ],
)
async def test_a_null_body_is_not_one_left_out(
    api: httpx.AsyncClient, method: str, url: str
) -> None:
    # Given an operation whose body may be left out, When its body is a JSON null
    response = await api.request(method, url, content=b"null")

    # Then it is refused, and nothing was done
    assert_error(response, 400, BAD_BODY, "Document type not supported.")
    counts = (await api.get("/v2/queues/fizbit/stats")).json()["messages"]
    assert (counts["free"], counts["claimed"], counts["total"]) == (1, 0, 1)


async def test_a_null_claim_update_is_refused(api: httpx.AsyncClient) -> None:
    claimed = await api.post("/v2/queues/fizbit/claims", json={"ttl": 60})
    before = (await api.get(claimed.headers["location"])).json()

    response = await api.patch(claimed.headers["location"], content=b"null")

    assert_error(response, 400, BAD_BODY, "Document type not supported.")
    assert (await api.get(claimed.headers["location"])).json()["ttl"] == before["ttl"] == 60
