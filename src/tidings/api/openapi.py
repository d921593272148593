"""An OpenAPI 3.1 document generated from the operation table."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tidings import __version__
from tidings.api.operation import Operation, Param
from tidings.config import Limits
from tidings.service import validate

TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string", "pattern": "^[^\\u0000]*$"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "list": {"type": "array", "items": {"type": "string", "pattern": "^[^,\\u0000]+$"}},
}
"""No parameter holds a NUL. A ``list`` is sent comma-separated: an item holds no comma, and
an empty one is none."""
PATTERNS = {"queue_name": validate.NAMED.pattern, "topic_name": validate.NAMED.pattern}
ERROR = {"$ref": "#/components/responses/Error"}
CALLER = [
    {"$ref": "#/components/parameters/ClientId"},
    {"$ref": "#/components/parameters/ProjectId"},
]


PATH_PARAM = re.compile(r"{(\w+)}")
PROJECT = "X-Project-ID"
LINKED_IDS = {
    "subscription_id": ("post", "201", "/subscription_id"),
    "message_id": ("get", "200", "/messages/0/id"),
}
"""Where a client finds an id for a path under a collection: (the collection's method, its
status, a JSON pointer into its body). The document links the two, so that a generator of
requests follows them."""


def document(
    operations: Iterable[Operation], limits: Limits, project_from_token: bool = False
) -> dict[str, Any]:
    """The API as this deployment serves it. ``project_from_token``: a Keystone token names
    the caller's project, and ``X-Project-ID`` is read only from pre-signed requests."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        methods = paths.setdefault(operation.path, {})
        method = operation.method.lower()
        described = _operation(operation, limits)
        methods[method] = _merge(methods[method], described) if method in methods else described
    _link(paths, project_from_token)
    return {
        "openapi": "3.1.0",
        "info": {"title": "tidings (OpenStack Zaqar v2 API)", "version": __version__},
        "paths": paths,
        "components": _components(project_from_token),
        "security": [{}, {"keystone": []}, {"presigned": []}],
    }


def _operation(operation: Operation, limits: Limits) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": operation.name,
        "summary": operation.summary,
        "parameters": [_param(param, limits) for param in operation.params]
        + (CALLER if operation.authenticated else []),
        "responses": {
            str(status): {"description": text} for status, text in operation.responses.items()
        }
        | {"4XX": ERROR, "503": ERROR},
    }
    if operation.body is not None:
        described["requestBody"] = {
            "required": operation.body.required,
            "content": {operation.body.media_type: {"schema": operation.body.schema(limits)}},
        }
    return described


def _link(paths: dict[str, dict[str, Any]], project_from_token: bool) -> None:
    """Link each collection's answer to the operations on the id it gives (LINKED_IDS), in
    the same project."""
    for path, methods in paths.items():
        collection, _, rest = path.rpartition("/{")
        name, _, _ = rest.partition("}")
        if name not in LINKED_IDS or collection not in paths:
            continue
        method, status, pointer = LINKED_IDS[name]
        source = paths[collection][method]["responses"][status]
        parameters = {param: f"$request.path.{param}" for param in PATH_PARAM.findall(collection)}
        parameters[name] = f"$response.body#{pointer}"
        if not project_from_token:
            parameters[f"header.{PROJECT}"] = f"$request.header.{PROJECT}"
        links = source.setdefault("links", {})
        for target in methods.values():
            links[target["operationId"]] = {
                "operationId": target["operationId"],
                "parameters": parameters,
            }


def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One OpenAPI operation for two table operations told apart by a query parameter."""
    names = {param.get("name") for param in first["parameters"]}
    extra = [p for p in second["parameters"] if p.get("name") not in names or "$ref" in p]
    params = [dict(p, required=False) if p.get("in") == "query" else p for p in first["parameters"]]
    params += [dict(p, required=False) for p in extra if "$ref" not in p]
    return first | {
        "operationId": f"{first['operationId']}_or_{second['operationId']}",
        "summary": f"{first['summary']}; or: {second['summary']}",
        "parameters": params,
        "responses": first["responses"] | second["responses"],
    }


def _param(param: Param, limits: Limits) -> dict[str, Any]:
    schema: dict[str, Any] = dict(TYPES[param.type])
    if param.name in PATTERNS:
        schema["pattern"] = PATTERNS[param.name]
    if param.bounds is not None:
        lowest, highest = param.bounds(limits)
        names = ("minItems", "maxItems") if param.type == "list" else ("minimum", "maximum")
        schema |= dict(zip(names, (lowest, highest), strict=True))
    described = {
        "name": param.name,
        "in": param.location,
        "required": param.required or param.location == "path",
        "description": param.description,
        "schema": schema,
    }
    if param.type == "list":
        described |= {"style": "form", "explode": False}
    return described


def _project_id(project_from_token: bool) -> dict[str, Any]:
    if project_from_token:
        return {
            "name": PROJECT,
            "in": "header",
            "required": False,
            "description": "Not read with X-Auth-Token, whose token names the project; a "
            "pre-signed request (URL-Signature) names its project here",
            "schema": {"type": "string"},
        }
    return {
        "name": PROJECT,
        "in": "header",
        "required": True,
        "description": "The tenant (project) making the request",
        "schema": {"type": "string", "minLength": 1, "maxLength": 256},
    }


def _components(project_from_token: bool) -> dict[str, Any]:
    return {
        "securitySchemes": {
            "keystone": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Auth-Token",
                "description": "A Keystone token (auth.strategy = keystone)",
            },
            "presigned": {
                "type": "apiKey",
                "in": "header",
                "name": "URL-Signature",
                "description": "A pre-signed URL's signature, sent with URL-Expires, "
                "URL-Methods and URL-Paths (POST /v2/queues/{queue_name}/share)",
            },
        },
        "parameters": {
            "ClientId": {
                "name": "Client-ID",
                "in": "header",
                "required": True,
                "description": "A UUID naming the client instance",
                "schema": {"type": "string", "format": "uuid"},
            },
            "ProjectId": _project_id(project_from_token),
        },
        "responses": {
            "Error": {
                "description": "An error",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["title", "description"],
                            "properties": {
                                "title": {"type": "string"},
                                "description": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    }
