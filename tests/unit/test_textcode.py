from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcr_kit.sharing import textcode


@given(st.binary(max_size=200))
def test_encode_decode_round_trip(data: bytes) -> None:
    assert textcode.decode(textcode.encode(data)) == data


@given(st.binary(max_size=64))
def test_decoding_ignores_case_groups_and_lookalikes(data: bytes) -> None:
    text = textcode.group(textcode.encode(data), 4, 3).lower().replace("0", "o").replace("1", "l")
    assert textcode.decode(text) == data


def test_alphabet_has_no_ambiguous_letters() -> None:
    assert not set("ILOU") & set(textcode.ALPHABET)
    assert len(set(textcode.ALPHABET)) == 32


def test_nonzero_padding_is_rejected() -> None:
    canonical = textcode.encode(b"\xff")  # 8 bits -> 2 symbols, 2 padding bits
    bad = canonical[0] + textcode.ALPHABET[textcode.ALPHABET.index(canonical[1]) | 1]
    with pytest.raises(textcode.DecodeError):
        textcode.decode(bad)


def test_invalid_symbol_is_named() -> None:
    with pytest.raises(textcode.DecodeError, match="character 2"):
        textcode.decode("0U")
