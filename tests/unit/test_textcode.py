from __future__ import annotations

import os
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcr_kit.sharing import native, textcode
from tcr_kit.sharing.errors import UnknownFormatError


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


def test_a_megabyte_encodes_and_decodes_in_linear_time() -> None:
    # The first codec folded every symbol into one big integer: quadratic, 32 s for 256 KiB.
    data = os.urandom(1 << 20)
    start = time.perf_counter()
    text = textcode.group(textcode.encode(data))
    assert textcode.decode(text) == data
    assert time.perf_counter() - start < 5


def test_junk_after_a_long_text_is_found_without_decoding_it_all() -> None:
    text = textcode.encode(os.urandom(1 << 20)) + "U" + "0" * 1_000_000
    start = time.perf_counter()
    with pytest.raises(textcode.DecodeError, match="is not a base32 symbol"):
        textcode.decode(text)
    assert time.perf_counter() - start < 5


def test_a_text_share_over_the_size_limit_is_refused_before_decoding() -> None:
    huge = "TCRS" + "0" * native.TEXT_SIZE_LIMIT
    start = time.perf_counter()
    with pytest.raises(UnknownFormatError, match="too large"):
        native.decode_share(huge, "huge")
    with pytest.raises(UnknownFormatError, match="too large"):
        native.decode_share(huge.encode(), "huge")
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 7, 8, 300, 4099])
def test_every_length_round_trips_and_any_other_text_length_is_refused(size: int) -> None:
    data = os.urandom(size)
    text = textcode.encode(data)
    assert textcode.decode(text) == data
    for extra in ("0", "00", "000"):
        if len(text + extra) % 8 in {1, 3, 6}:
            with pytest.raises(textcode.DecodeError, match="whole number of bytes"):
                textcode.decode(text + extra)
