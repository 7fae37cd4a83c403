"""The orjson acceptor in front of the canonical parser never changes a verdict.

``parse_canonical`` hands a body to the standard-library reference unless the fast acceptor
takes it outright. These tests hold the two to the same answer: the same value when both
accept, the reference's error when it refuses, on crafted edge cases (where orjson and the
standard library are known to differ) and on generated inputs.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcr_kit.audit.canonical import (
    _NOT_DECIDED,
    MAX_SAFE_INT,
    _accept_fast,
    canonical_bytes,
    parse_canonical,
    parse_canonical_reference,
)


def _verdict(parse: Any, data: bytes) -> tuple[str, Any]:
    try:
        value = parse(data)
    except ValueError as exc:
        return "refused", str(exc)
    return "accepted", (type(value), value, json.dumps(value))


def _assert_same(data: bytes) -> None:
    assert _verdict(parse_canonical, data) == _verdict(parse_canonical_reference, data)
    fast = _accept_fast(data)
    if fast is not _NOT_DECIDED:
        # What the fast path accepts, the reference accepts with an equal value.
        assert parse_canonical_reference(data) == fast
        assert json.dumps(parse_canonical_reference(data)) == json.dumps(fast)


EDGES = [
    b'{"a":1}',
    b"{}",
    b"[]",
    b'""',
    b"0",
    b"-0",
    b"null",
    b"true",
    b'{"a":1.0}',
    b'{"a":1e5}',
    b'{"a":1E5}',
    b'{"a":-0.0}',
    b"[1.5]",
    b"NaN",
    b"[Infinity]",
    b"1e400",
    str(MAX_SAFE_INT).encode(),
    str(-MAX_SAFE_INT).encode(),
    str(MAX_SAFE_INT + 1).encode(),
    str(-MAX_SAFE_INT - 1).encode(),
    b"18446744073709551615",
    b"123456789012345678901234567890",
    b'{"a":1,"a":1}',
    b'{"b":1,"a":2}',
    b'{"a": 1}',
    b'{"a":1}\n',
    b' {"a":1}',
    b'"\x7f"',
    b'"\\u007f"',
    b'"\\u00e9"',
    '"é"'.encode(),
    b'"\\ud800"',
    b'"\\udc00\\ud800"',
    b'"\\ud83d\\ude00"',
    b'"\\u0000\\u001f\\b\\f\\n\\r\\t\\"\\\\/"',
    b'"\\/"',
    b'"\\u000A"',
    b'"\\u000a"',
    b'"\\u0041"',
    b'{"\\u00e9":1}',
    b'{"B":1,"a":2}',
    b'{"a":[1,{"c":2,"b":3}]}',
    b'{"a":[1,{"b":3,"c":2}]}',
    b"[" * 300 + b"]" * 300,
    b"[" * 2000 + b"]" * 2000,
    b'{"a":1}{"b":2}',
    b'{"a":tru}',
    b"",
    b"\xef\xbb\xbf{}",
]


@pytest.mark.parametrize("data", EDGES, ids=range(len(EDGES)))
def test_fast_path_agrees_with_the_reference_on_known_differences(data: bytes) -> None:
    _assert_same(data)


def test_a_real_event_body_takes_the_fast_path() -> None:
    body = canonical_bytes(
        {
            "v": 1,
            "seq": 7,
            "kind": "custody.bag.sealed",
            "payload": {"bag": "TEB-0042", "items": ["card:3"], "note": "tab\there"},
            "prev": "00" * 32,
            "time": "2026-12-02T07:51:57.023324Z",
        }
    )
    assert _accept_fast(body) is not _NOT_DECIDED
    assert _accept_fast(body) == parse_canonical_reference(body)


def test_undecided_inputs_keep_the_reference_error_message() -> None:
    with pytest.raises(ValueError, match="non-integer number"):
        parse_canonical(b'{"a":1.5}')
    with pytest.raises(ValueError, match="out of the canonical range"):
        parse_canonical(str(MAX_SAFE_INT + 1).encode())
    with pytest.raises(ValueError, match="not in canonical form"):
        parse_canonical(b'{"b":1,"a":2}')


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=8)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


def _encodings(value: Any) -> list[bytes]:
    out = [
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
            "utf-8", "surrogatepass"
        ),
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        ),
        json.dumps(value).encode("utf-8", "surrogatepass"),
    ]
    try:
        out.append(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    except (orjson.JSONEncodeError, TypeError):
        pass
    return out


@settings(max_examples=400, deadline=None)
@given(_values)
def test_generated_values_get_the_same_verdict_both_ways(value: Any) -> None:
    for data in _encodings(value):
        _assert_same(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_get_the_same_verdict_both_ways(data: bytes) -> None:
    _assert_same(data)
