from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcr_kit.audit.canonical import MAX_SAFE_INT, canonical_bytes, parse_canonical
from tcr_kit.custody import remote
from tcr_kit.errors import InputError

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INT, max_value=MAX_SAFE_INT)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_encoding_round_trips(value: Any) -> None:
    data = canonical_bytes(value)
    assert parse_canonical(data) == value
    assert data.isascii()


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.integers(0, 9), min_size=2, max_size=5))
def test_non_canonical_spellings_are_rejected(value: dict[str, int]) -> None:
    spaced = json.dumps(value, sort_keys=True).encode()
    with pytest.raises(ValueError):
        parse_canonical(spaced)


def test_floats_and_huge_integers_are_not_canonical() -> None:
    with pytest.raises(ValueError):
        canonical_bytes({"a": 1.5})
    with pytest.raises(ValueError):
        canonical_bytes(2**53)
    with pytest.raises(ValueError):
        parse_canonical(b'{"a":1.0}')
    with pytest.raises(ValueError):
        parse_canonical(b'{"a":1,"a":2}')


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_attestation_parser_rejects_garbage_with_input_error_only(data: bytes) -> None:
    with pytest.raises(InputError):
        remote.parse(data)


@given(
    st.dictionaries(
        st.sampled_from(
            ["bag_serial", "contents", "holder", "signature", "public_key", "sealed_at", "extra"]
        ),
        json_values,
        max_size=7,
    )
)
def test_attestation_parser_rejects_malformed_objects_with_input_error(
    doc: dict[str, Any],
) -> None:
    with pytest.raises(InputError):
        remote.parse(json.dumps(doc).encode())
