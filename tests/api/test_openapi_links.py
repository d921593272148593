"""The document's links lead somewhere: each names an operation and all of its path's
parameters, and followed from a real answer it finds what that answer named."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.api.support import another_client, operations

pytestmark = pytest.mark.parametrize("api", ["sqlite"], indirect=True)
"""The links are the API's, whatever the store."""

NAME = "linked"
PATH_PARAM = re.compile(r"{(\w+)}")


def links_of(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Each link: (the id of the operation it starts from, its status, the link)."""
    return [
        (operation["operationId"], status, link)
        for _, _, operation in operations(document).values()
        for status, response in operation["responses"].items()
        for link in response.get("links", {}).values()
    ]


def resolve(
    expression: str, request: httpx.Request, request_path: dict[str, str], body: Any
) -> str:
    """A link parameter's runtime expression, from the request (its path's parameters, its
    headers) and the answer's body."""
    if expression.startswith("$request.path."):
        return request_path[expression.removeprefix("$request.path.")]
    if expression.startswith("$request.header."):
        return request.headers[expression.removeprefix("$request.header.")]
    pointer = expression.removeprefix("$response.body#")
    for token in pointer.split("/")[1:]:
        body = body[int(token)] if isinstance(body, list) else body[token]
    assert isinstance(body, str)
    return body


async def test_every_link_names_an_operation_and_its_path_s_parameters(
    api: httpx.AsyncClient,
) -> None:
    document = (await api.get("/openapi.json")).json()
    known = operations(document)

    links = links_of(document)

    assert len(links) == 12
    for source, _, link in links:
        _, path, _ = known[link["operationId"]]
        wanted = {*PATH_PARAM.findall(path), "header.X-Project-ID"}
        assert set(link["parameters"]) == wanted, (source, link)


async def answer_of(api: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    """A real answer of the collection at ``path``: a subscription made, or a listing of a
    message that another client posted."""
    if method == "POST":
        made = await api.post(path, json={"subscriber": "http://127.0.0.1:1/hook"})
        assert made.status_code == 201, made.text
        return made
    posted = await api.post(path, json={"messages": [{"body": 1}]}, headers=another_client())
    assert posted.status_code == 201, posted.text
    listed = await api.get(path)
    assert listed.status_code == 200, listed.text
    return listed


async def test_a_link_followed_from_a_real_answer_finds_what_it_named(
    api: httpx.AsyncClient,
) -> None:
    # Given the document's links to operations that read (GET)
    document = (await api.get("/openapi.json")).json()
    known = operations(document)
    reads = [
        (source, link) for source, _, link in links_of(document)
        if known[link["operationId"]][0] == "GET"
    ]  # fmt: skip
    assert len(reads) == 4

    for source, link in reads:
        # When the operation it starts from answers, on a queue or topic
        method, path, _ = known[source]
        request_path = {name: NAME for name in PATH_PARAM.findall(path)}
        answer = await answer_of(api, method, path.format(**request_path))

        # Then the link's parameters, resolved from that answer, find what it named
        values = {
            name: resolve(expression, answer.request, request_path, answer.json())
            for name, expression in link["parameters"].items()
        }
        headers = {"X-Project-ID": values.pop("header.X-Project-ID")}
        _, target, _ = known[link["operationId"]]
        found = await api.get(target.format(**values), headers=headers)
        assert found.status_code == 200, (link, found.text)
