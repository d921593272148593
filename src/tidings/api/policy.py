"""Who may call which operation: Zaqar's policy rules and their defaults, overridable by a YAML
policy file, evaluated in oslo.policy's rule language.

The evaluator is our own (about a hundred lines) rather than oslo.policy: oslo.policy's
``Enforcer`` needs an oslo.config ``ConfigOpts`` on which it registers its options at run time,
and pulls in oslo.config, oslo.i18n, oslo.serialization, oslo.utils, stevedore and requests for
what is, here, a parser and a tree of predicates. The language is the same: ``@``, ``!``,
``role:<name>``, ``rule:<name>``, ``<credential>:<value or %(target)s>``, ``not``, ``and``,
``or`` and parentheses. A rule that does not parse stops the server at start-up instead of
silently denying every request as oslo.policy does; ``http:`` checks are not supported.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tidings import errors
from tidings.config import ConfigError
from tidings.context import RequestContext

ADMIN = "role:admin"
UNPROTECTED = ""
KEYWORDS = frozenset({"and", "or", "not"})


def _family(prefix: str, actions: str, check: str) -> dict[str, str]:
    return {f"{prefix}:{action}": check for action in actions.split()}


DEFAULTS: dict[str, str] = {
    "context_is_admin": ADMIN,
    "admin_or_owner": "is_admin:True or project_id:%(project_id)s",
    **_family("queues", "get_all create get delete update stats share purge", UNPROTECTED),
    **_family("messages", "get_all create get delete delete_all", UNPROTECTED),
    **_family("claims", "create get update delete", UNPROTECTED),
    **_family("subscription", "get_all create get delete update confirm", UNPROTECTED),
    **_family("topics", "get_all create get delete update stats purge", UNPROTECTED),
    "ping:get": UNPROTECTED,
    "health:get": ADMIN,
    **_family("pools", "get_all create get update delete", ADMIN),
    **_family("flavors", "get_all get", UNPROTECTED),
    **_family("flavors", "create update delete", ADMIN),
}
"""Zaqar's rules (``zaqar/common/policies``) with their default check strings."""


@dataclass(frozen=True)
class _Scope:
    target: Mapping[str, Any]
    creds: Mapping[str, Any]
    rules: Mapping[str, Check]


Check = Callable[[_Scope], bool]


DECISIONS_KEPT = 4096
"""Decisions remembered, by rule, project and roles (the rules never change while serving)."""


class Policy:
    """The rules in force: the defaults, with the policy file's rules over them."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        texts = {**DEFAULTS, **(overrides or {})}
        self._rules: dict[str, Check] = {}
        references: dict[str, set[str]] = {}
        for name, text in texts.items():
            parser = _Parser(name, text)
            self._rules[name] = parser.parse()
            references[name] = parser.references
        _refuse_cycles(references)
        self._decided = functools.lru_cache(maxsize=DECISIONS_KEPT)(self._decide)

    @classmethod
    def from_file(cls, path: str) -> Policy:
        """The defaults, overridden by the YAML file at ``path`` when it is not empty."""
        return cls(_read(Path(path)) if path else None)

    def allows(self, rule: str, target: Mapping[str, Any], creds: Mapping[str, Any]) -> bool:
        """Whether ``rule`` holds; an undefined rule never does."""
        check = self._rules.get(rule)
        return check is not None and check(_Scope(target, creds, self._rules))

    def enforce(self, rule: str, context: RequestContext) -> None:
        if not self._decided(rule, context.project_id, context.roles):
            raise errors.Forbidden()

    def _decide(self, rule: str, project_id: str, roles: frozenset[str]) -> bool:
        """Whether ``rule`` holds for a caller of ``project_id`` with ``roles`` acting on its
        own project: all that an operation's decision depends on, so it is kept."""
        target = {"project_id": project_id}
        return self.allows(rule, target, self.credentials(project_id, roles))

    def credentials(self, project_id: str, roles: frozenset[str]) -> dict[str, Any]:
        """What checks may test: ``project_id``, ``roles`` and ``is_admin`` (the caller passes
        ``context_is_admin``)."""
        creds = {"project_id": project_id, "roles": sorted(roles)}
        target = {"project_id": project_id}
        return creds | {"is_admin": self.allows("context_is_admin", target, creds)}


def _read(path: Path) -> dict[str, str]:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read policy file {path}: {exc}") from exc
    if document is None:
        return {}
    if not isinstance(document, dict) or not all(
        isinstance(name, str) and isinstance(rule, str) for name, rule in document.items()
    ):
        raise ConfigError(f"policy file {path} must map rule names to rule strings")
    return document


def _refuse_cycles(references: Mapping[str, set[str]]) -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ConfigError(f"policy rules refer to each other in a loop: {' -> '.join(path)}")
        if name in done:
            return
        for reference in references.get(name, ()):
            visit(reference, (*path, name))
        done.add(name)

    for name in references:
        visit(name, ())


class _Parser:
    """oslo.policy's grammar: ``not`` binds tighter than ``and``, ``and`` than ``or``."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0
        self.references: set[str] = set()

    def parse(self) -> Check:
        if not self.text:
            return _constant(True)
        check = self._any()
        if self.at < len(self.tokens):
            raise self._error(f"unexpected {self.tokens[self.at]!r}")
        return check

    def _any(self) -> Check:
        checks = [self._all()]
        while self._accept("or"):
            checks.append(self._all())
        return checks[0] if len(checks) == 1 else _any_of(checks)

    def _all(self) -> Check:
        checks = [self._negation()]
        while self._accept("and"):
            checks.append(self._negation())
        return checks[0] if len(checks) == 1 else _all_of(checks)

    def _negation(self) -> Check:
        if self._accept("not"):
            return _negated(self._negation())
        return self._atom()

    def _atom(self) -> Check:
        if self.at >= len(self.tokens):
            raise self._error("unexpected end")
        token = self.tokens[self.at]
        self.at += 1
        if token == "(":
            check = self._any()
            if not self._accept(")"):
                raise self._error("missing )")
            return check
        if token == ")" or token.lower() in KEYWORDS:
            raise self._error(f"unexpected {token!r}")
        return self._check(token)

    def _check(self, token: str) -> Check:
        if token in ("@", "!"):
            return _constant(token == "@")
        kind, colon, match = token.partition(":")
        if not colon or not kind:
            raise self._error(f"{token!r} is not a check (kind:match)")
        if kind == "rule":
            self.references.add(match)
            return _rule(match)
        if kind == "role":
            return _role(match)
        if kind in ("http", "https"):
            raise self._error("http: and https: checks are not supported")
        return _generic(kind, match)

    def _accept(self, token: str) -> bool:
        if self.at < len(self.tokens) and self.tokens[self.at].lower() == token:
            self.at += 1
            return True
        return False

    def _error(self, problem: str) -> ConfigError:
        return ConfigError(f"policy rule {self.name!r} = {self.text!r}: {problem}")


def _tokens(text: str) -> list[str]:
    """Words, with the parentheses around them split off."""
    tokens: list[str] = []
    for word in text.split():
        core = word.lstrip("(")
        bare = core.rstrip(")")
        tokens += ["("] * (len(word) - len(core))
        if bare:
            tokens.append(bare)
        tokens += [")"] * (len(core) - len(bare))
    return tokens


def _constant(result: bool) -> Check:
    return lambda scope: result


def _negated(check: Check) -> Check:
    return lambda scope: not check(scope)


def _all_of(checks: Iterable[Check]) -> Check:
    return lambda scope: all(check(scope) for check in checks)


def _any_of(checks: Iterable[Check]) -> Check:
    return lambda scope: any(check(scope) for check in checks)


def _rule(name: str) -> Check:
    def check(scope: _Scope) -> bool:
        rule = scope.rules.get(name)
        return rule is not None and rule(scope)

    return check


def _role(match: str) -> Check:
    def check(scope: _Scope) -> bool:
        role = _substituted(match, scope.target)
        roles = {str(each).lower() for each in scope.creds.get("roles", ())}
        return role is not None and role.lower() in roles

    return check


def _generic(kind: str, match: str) -> Check:
    """``<credential path>:<value>``, or ``<literal>:<value>`` comparing two values."""
    literal = _literal(kind)

    def check(scope: _Scope) -> bool:
        value = _substituted(match, scope.target)
        if value is None:
            return False
        if literal is not None:
            return value == literal
        return _found(scope.creds, kind.split("."), value)

    return check


def _substituted(match: str, target: Mapping[str, Any]) -> str | None:
    """``match`` with its ``%(name)s`` filled from the target; None when one is missing."""
    try:
        return match % dict(target)
    except (KeyError, ValueError, TypeError):
        return None


def _literal(kind: str) -> str | None:
    try:
        return str(ast.literal_eval(kind))
    except (ValueError, SyntaxError):
        return None


def _found(value: Any, path: list[str], match: str) -> bool:
    """Whether the credential at ``path`` (through dicts, and any item of a list) is ``match``."""
    if not path:
        return match == str(value)
    if not isinstance(value, Mapping) or path[0] not in value:
        return False
    value = value[path[0]]
    if isinstance(value, list):
        return any(_found(item, path[1:], match) for item in value)
    return _found(value, path[1:], match)
