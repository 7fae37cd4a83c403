from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcr_kit.audit.pgpwords import (
    EVEN_WORDS,
    ODD_WORDS,
    fingerprint,
    pgp_words,
    words_to_bytes,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "pgpwords.json"


def _vectors() -> list[dict[str, str]]:
    return list(json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"])


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: v["hex"][:8])
def test_pgp_words_match_published_examples(vector: dict[str, str]) -> None:
    assert " ".join(pgp_words(bytes.fromhex(vector["hex"]))) == vector["words"]


def test_each_list_has_256_distinct_words_in_published_order() -> None:
    for words in (EVEN_WORDS, ODD_WORDS):
        assert len(words) == 256
        assert len({w.lower() for w in words}) == 256
    # Both lists are alphabetical except one pair of the published odd list.
    assert all(a.lower() < b.lower() for a, b in itertools.pairwise(EVEN_WORDS))
    out_of_order = [(a, b) for a, b in itertools.pairwise(ODD_WORDS) if a.lower() > b.lower()]
    assert out_of_order == [("applicant", "Apollo")]
    assert not set(map(str.lower, EVEN_WORDS)) & set(map(str.lower, ODD_WORDS))


def test_fingerprint_is_sha256_hex_and_words() -> None:
    hex_, words = fingerprint(b"abc")
    assert hex_ == hashlib.sha256(b"abc").hexdigest()
    assert words.split() == pgp_words(hashlib.sha256(b"abc").digest())
    assert len(words.split()) == 32


def test_same_byte_gets_different_words_at_even_and_odd_positions() -> None:
    assert pgp_words(b"\x85\x85") == ["music", "leprosy"]


@given(st.binary(max_size=64))
def test_words_round_trip_to_bytes(data: bytes) -> None:
    assert words_to_bytes(pgp_words(data)) == data
    assert words_to_bytes(" ".join(pgp_words(data)).upper()) == data


def test_words_to_bytes_rejects_word_from_wrong_list() -> None:
    with pytest.raises(ValueError, match="word 1"):
        words_to_bytes(["adroitness"])
