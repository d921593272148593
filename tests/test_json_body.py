"""Request bodies parse to JSON that round-trips unchanged: integers at the edges of 64 bits
stay exact, and beyond them are refused rather than turned into floats; nesting deeper than
200 levels is refused, as orjson writes no document deeper than 254."""

from __future__ import annotations

import orjson
import pytest

from tidings import errors
from tidings.transport.wire import json_body


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (b'{"n": 18446744073709551615}', {"n": 2**64 - 1}),
        (b'{"n": -9223372036854775808}', {"n": -(2**63)}),
        (b'{"n": 9223372036854775808}', {"n": 2**63}),
        (b'{"n": 123456789012345678}', {"n": 123456789012345678}),
        (b'{"s": "12345678901234567890123"}', {"s": "12345678901234567890123"}),
        (b'{"f": 1.2345678901234567890123}', {"f": 1.2345678901234567890123}),
        (b"[1234567890, 1234567890, 1234567890]", [1234567890] * 3),
    ],
)
def test_what_round_trips_is_kept_exactly(raw: bytes, parsed: object) -> None:
    assert json_body(raw) == parsed
    assert repr(json_body(raw)) == repr(parsed)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"n": 18446744073709551616}',
        b'{"n": -9223372036854775809}',
        b'{"deep": [{"n": 1' + b"0" * 40 + b"}]}",
        b'{"s": "' + b"x" * 5000 + b'", "n": 99999999999999999999}',
    ],
)
def test_integers_beyond_64_bits_are_refused(raw: bytes) -> None:
    with pytest.raises(errors.InvalidBody, match="integer that is too large"):
        json_body(raw)


def nested(levels: int) -> bytes:
    return b'{"a": ' * levels + b"[1]" + b"}" * levels


def test_a_document_as_deep_as_allowed_is_kept() -> None:
    assert json_body(nested(199)) == orjson.loads(nested(199))
    assert json_body(b'["' + b"[" * 300 + b'"]') == ["[" * 300]  # brackets in a string


def test_a_document_nested_deeper_is_refused() -> None:
    with pytest.raises(errors.InvalidBody, match="nested more than 200 levels deep"):
        json_body(nested(200))
