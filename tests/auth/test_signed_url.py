"""Pre-signed URLs: ``POST /v2/queues/{q}/share`` and requests that carry its ``URL-*`` headers
instead of a token. Signatures are recomputed here the way Zaqar computes them, independently
of tidings' code."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import uuid
from typing import Any

import httpx
import jsonschema
import pytest

from tests.api.support import assert_error, post_messages
from tests.auth.conftest import SECRET, MakeApi
from tests.servers.keystone import Keystone
from tidings.clock import FakeClock

QUEUE = "shared"
MESSAGES = f"/v2/queues/{QUEUE}/messages"


def zaqar_signature(
    key: str, paths: list[str], methods: list[str], project: str, expires: str
) -> str:
    """Zaqar's ``create_signed_url``: the fields joined by a backslash and an n."""
    body = "\\n".join([",".join(sorted(paths)), ",".join(sorted(methods)), project, expires])
    return hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()


def signed_headers(share: dict[str, Any]) -> dict[str, str]:
    """What a client sends with a share: the URL-* headers, its project and a Client-ID (no
    token)."""
    return {
        "URL-Signature": share["signature"],
        "URL-Expires": share["expires"],
        "URL-Methods": ",".join(share["methods"]),
        "URL-Paths": ",".join(share["paths"]),
        "X-Project-ID": share["project"],
        "Client-ID": str(uuid.uuid4()),
    }


async def send_signed(
    api: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], **kwargs: Any
) -> httpx.Response:
    """Send with ``headers`` in place of the client's own caller headers (so with no token):
    only the signature speaks for the caller."""
    request = api.build_request(method, url, **kwargs)
    for name in ("X-Auth-Token", "Client-ID", "X-Project-ID"):
        request.headers.pop(name, None)
    request.headers.update(headers)
    return await api.send(request)


def expiry(clock: FakeClock, seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(clock.now + seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


async def share(api: httpx.AsyncClient, **document: Any) -> dict[str, Any]:
    response = await api.post(f"/v2/queues/{QUEUE}/share", json=document)
    assert response.status_code == 200, response.text
    shared: dict[str, Any] = response.json()
    return shared


async def test_share_defaults_to_reading_messages_for_a_day(
    api: httpx.AsyncClient, keystone: Keystone, clock: FakeClock
) -> None:
    shared = await share(api)

    project = keystone.projects["tidings-a"]
    assert shared == {
        "paths": [MESSAGES],
        "methods": ["GET"],
        "project": project,
        "expires": expiry(clock, 86400),
        "signature": zaqar_signature(SECRET, [MESSAGES], ["GET"], project, shared["expires"]),
    }


@pytest.mark.parametrize(
    "document",
    [
        {"paths": None, "methods": None, "expires": None},
        {"paths": [], "methods": []},
    ],
    ids=["nulls", "empty-lists"],
)
async def test_share_takes_null_or_empty_lists_for_the_defaults(
    api: httpx.AsyncClient, clock: FakeClock, document: dict[str, Any]
) -> None:
    # Given the document /openapi.json gives the share's body
    schema = (await api.get("/openapi.json")).json()["paths"]["/v2/queues/{queue_name}/share"]
    (content,) = schema["post"]["requestBody"]["content"].values()

    # When fields are sent null or empty
    shared = await share(api, **document)

    # Then the document takes them, and the URL is the default one
    assert jsonschema.Draft202012Validator(content["schema"]).is_valid(document)
    assert shared["paths"] == [MESSAGES]
    assert shared["methods"] == ["GET"]
    assert shared["expires"] == expiry(clock, 86400)


async def test_share_signs_what_it_is_asked(api: httpx.AsyncClient, keystone: Keystone) -> None:
    shared = await share(
        api,
        paths=["messages", "claims"],
        methods=["POST", "GET"],
        expires="2099-01-01T01:30:00+02:00",
    )

    paths = [f"/v2/queues/{QUEUE}/claims", MESSAGES]
    project = keystone.projects["tidings-a"]
    assert shared["paths"] == paths
    assert shared["methods"] == ["GET", "POST"]
    assert shared["expires"] == "2098-12-31T23:30:00"
    assert shared["signature"] == zaqar_signature(
        SECRET, paths, ["GET", "POST"], project, "2098-12-31T23:30:00"
    )


@pytest.mark.parametrize(
    ("document", "text"),
    [
        pytest.param({"paths": ["messages"], "ttl": 60}, "Unknown keys: {'ttl'}", id="unknown"),
        pytest.param({"paths": ["queues"]}, "Invalid paths: {'queues'}", id="bad-path"),
        pytest.param({"paths": "messages"}, "Invalid paths", id="paths-not-a-list"),
        pytest.param({"methods": "GET"}, "`methods` should be a list", id="methods-not-a-list"),
        pytest.param({"paths": 0}, "Invalid paths", id="paths-zero"),
        pytest.param({"paths": ""}, "Invalid paths", id="paths-empty-text"),
        pytest.param({"methods": False}, "`methods` should be a list", id="methods-false"),
        pytest.param({"methods": {}}, "`methods` should be a list", id="methods-empty-object"),
        pytest.param({"expires": ""}, "should be date format", id="empty-expires"),
        pytest.param({"expires": 1893456000}, "not integer value", id="integer-expires"),
        pytest.param({"expires": "1893456000"}, "not integer value", id="integer-text"),
        pytest.param({"expires": "soon"}, "should be date format", id="not-a-date"),
        pytest.param({"expires": "2001-01-01T00:00:00"}, "lower than the current", id="past"),
        pytest.param(["messages"], "Document type not supported", id="not-an-object"),
    ],
)
async def test_share_refuses_invalid_documents(
    api: httpx.AsyncClient, document: Any, text: str
) -> None:
    response = await api.post(f"/v2/queues/{QUEUE}/share", json=document)

    assert_error(response, 400, text=text)


async def test_share_needs_a_body(api: httpx.AsyncClient) -> None:
    response = await api.post(f"/v2/queues/{QUEUE}/share")

    assert_error(response, 400, "Invalid request body", "can not be empty")


async def test_share_validates_the_queue_name(api: httpx.AsyncClient) -> None:
    response = await api.post("/v2/queues/bad%20name/share", json={})

    assert_error(response, 400, "Invalid queue identification")


async def test_share_needs_a_signing_key(make_api: MakeApi) -> None:
    api = await make_api(signed_url={"secret_key": ""})

    response = await api.post(f"/v2/queues/{QUEUE}/share", json={})

    assert_error(response, 400, "Invalid API request", "The `key` can't be None")


async def test_a_signed_url_reads_and_posts_without_a_token(api: httpx.AsyncClient) -> None:
    # Given a URL that grants GET and POST on the queue's messages
    [message_id] = await post_messages(api, QUEUE, {"body": "for-the-bearer"})
    headers = signed_headers(await share(api, methods=["GET", "POST"]))

    # Then its bearer lists, reads one and posts, with no token at all
    listed = await send_signed(api, "GET", f"{MESSAGES}?echo=true", headers)
    one = await send_signed(api, "GET", f"{MESSAGES}/{message_id}", headers)
    posted = await send_signed(api, "POST", MESSAGES, headers, json={"messages": [{"body": 1}]})

    assert [message["body"] for message in listed.json()["messages"]] == ["for-the-bearer"]
    assert one.json()["body"] == "for-the-bearer"
    assert posted.status_code == 201


async def test_a_signature_made_the_zaqar_way_verifies(
    api: httpx.AsyncClient, keystone: Keystone, clock: FakeClock
) -> None:
    # Given headers signed here with Zaqar's algorithm, never seen by POST .../share
    project = keystone.projects["tidings-a"]
    paths = [MESSAGES, f"/v2/queues/{QUEUE}/claims"]
    methods = ["POST", "GET"]
    expires = expiry(clock, 3600)
    headers = {
        "URL-Signature": zaqar_signature(SECRET, paths, methods, project, expires),
        "URL-Expires": expires,
        "URL-Methods": ",".join(methods),
        "URL-Paths": ",".join(paths),
        "X-Project-ID": project,
        "Client-ID": str(uuid.uuid4()),
    }

    # Then they grant what they name, in the signer's project
    response = await send_signed(api, "POST", MESSAGES, headers, json={"messages": [{"body": 7}]})
    assert response.status_code == 201
    assert (
        await send_signed(api, "POST", f"/v2/queues/{QUEUE}/claims", headers)
    ).status_code == 201


TAMPERED = [
    pytest.param(
        "URL-Signature", lambda s: s[:-1] + ("0" if s[-1] != "0" else "1"), id="signature"
    ),
    pytest.param("URL-Signature", lambda s: "", id="empty-signature"),
    pytest.param("URL-Signature", lambda s: s.upper(), id="signature-case"),
    pytest.param("URL-Methods", lambda s: s + ",DELETE", id="methods-widened"),
    pytest.param("URL-Paths", lambda s: s + ",/v2/queues/other/messages", id="paths-widened"),
    pytest.param("URL-Paths", lambda s: "/v2/queues", id="paths-replaced"),
    pytest.param("URL-Expires", lambda s: "2099-01-01T00:00:00", id="expires-extended"),
    pytest.param("URL-Expires", lambda s: "tomorrow", id="expires-garbage"),
    pytest.param("X-Project-ID", lambda s: "another-project", id="project"),
]


@pytest.mark.parametrize(("name", "change"), TAMPERED)
async def test_a_tampered_signed_url_is_404(api: httpx.AsyncClient, name: str, change: Any) -> None:
    headers = signed_headers(await share(api))
    headers[name] = change(headers[name])

    response = await send_signed(api, "GET", MESSAGES, headers)

    assert_error(response, 404, "Not found")


@pytest.mark.parametrize("dropped", ["URL-Expires", "URL-Methods", "URL-Paths", "X-Project-ID"])
async def test_a_signed_url_missing_a_header_is_404(api: httpx.AsyncClient, dropped: str) -> None:
    headers = signed_headers(await share(api))
    del headers[dropped]

    response = await send_signed(api, "GET", MESSAGES, headers)

    assert_error(response, 404, "Not found")


async def test_an_expired_signed_url_is_404(api: httpx.AsyncClient, clock: FakeClock) -> None:
    headers = signed_headers(await share(api))
    assert (await send_signed(api, "GET", MESSAGES, headers)).status_code == 200

    clock.advance(86400)

    assert_error(await send_signed(api, "GET", MESSAGES, headers), 404, "Not found")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        pytest.param("GET", f"/v2/queues/{QUEUE}", id="queue"),
        pytest.param("GET", f"/v2/queues/{QUEUE}/stats", id="stats"),
        pytest.param("GET", f"/v2/queues/{QUEUE}/claims/some-claim", id="claims"),
        pytest.param("GET", "/v2/queues/other/messages", id="other-queue"),
        pytest.param("GET", f"/v2/queues/{QUEUE}x/messages", id="prefix-of-name"),
        pytest.param("GET", "/v2/queues", id="queue-list"),
        pytest.param("GET", "/v2/health", id="health"),
        pytest.param("POST", f"/v2/queues/{QUEUE}/share", id="share"),
    ],
)
async def test_a_signed_url_grants_nothing_outside_its_paths(
    api: httpx.AsyncClient, method: str, url: str
) -> None:
    headers = signed_headers(await share(api, methods=["GET", "POST"]))

    response = await send_signed(api, method, url, headers, json={})

    assert_error(response, 404, "Not found")


async def test_a_signed_path_is_not_a_pattern(api: httpx.AsyncClient) -> None:
    # Given a URL for queue "a.b" (in Zaqar a regular expression, where "." matches any letter)
    response = await api.post("/v2/queues/a.b/share", json={})
    headers = signed_headers(response.json())

    # Then it does not grant queue "aXb"
    assert (await send_signed(api, "GET", "/v2/queues/a.b/messages", headers)).status_code == 200
    assert_error(await send_signed(api, "GET", "/v2/queues/aXb/messages", headers), 404)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        pytest.param("POST", MESSAGES, id="post"),
        pytest.param("DELETE", f"{MESSAGES}?ids=x", id="delete"),
        pytest.param("HEAD", MESSAGES, id="head"),
    ],
)
async def test_a_signed_url_grants_only_its_methods(
    api: httpx.AsyncClient, method: str, url: str
) -> None:
    headers = signed_headers(await share(api))

    response = await send_signed(api, method, url, headers, json={"messages": [{"body": 1}]})

    assert response.status_code == 404


async def test_a_signed_request_still_needs_a_client_id(api: httpx.AsyncClient) -> None:
    headers = signed_headers(await share(api))
    del headers["Client-ID"]

    response = await send_signed(api, "GET", MESSAGES, headers)

    assert_error(response, 400, "Missing header value", "Client-ID")


async def test_a_signed_request_has_no_roles(make_api: MakeApi, tmp_path: Any) -> None:
    # Given reading messages needs the member role
    policy = tmp_path / "policy.yaml"
    policy.write_text('"messages:get_all": "role:member"\n')
    api = await make_api(auth={"policy_file": str(policy)})
    headers = signed_headers(await share(api))

    # Then a member may, and the bearer of a URL its member signed may not
    assert (await api.get(MESSAGES)).status_code == 200
    assert_error(await send_signed(api, "GET", MESSAGES, headers), 403, "Not authorized")


async def test_a_previous_key_verifies_until_its_deadline(
    make_api: MakeApi, clock: FakeClock
) -> None:
    # Given a URL signed with the old key
    old = await make_api(signed_url={"secret_key": "old-key"})
    headers = signed_headers(await share(old))

    # When the key is rotated, the old one kept for an hour
    until = datetime.datetime.fromtimestamp(clock.now + 3600, datetime.UTC).isoformat()
    rotated = {"secret_key": "new-key", "previous_keys": ("old-key",), "previous_keys_until": until}
    api = await make_api(signed_url=rotated)

    # Then the URL works for that hour, and new URLs are signed with the new key
    assert (await send_signed(api, "GET", MESSAGES, headers)).status_code == 200
    new = await share(api)
    assert new["signature"] == zaqar_signature(
        "new-key", new["paths"], new["methods"], new["project"], new["expires"]
    )
    clock.advance(3601)
    assert_error(await send_signed(api, "GET", MESSAGES, headers), 404, "Not found")
    assert (await send_signed(api, "GET", MESSAGES, signed_headers(new))).status_code == 200


async def test_a_url_signed_with_an_unknown_key_is_404(make_api: MakeApi) -> None:
    other = await make_api(signed_url={"secret_key": "someone-elses-key"})
    headers = signed_headers(await share(other))
    api = await make_api()

    assert_error(await send_signed(api, "GET", MESSAGES, headers), 404, "Not found")
