"""Vault format: shares made by Vault's own code, layout, split/combine laws, refusals."""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcr_kit.errors import InputError, TcrError
from tcr_kit.sharing.errors import (
    DuplicateShareError,
    ForeignShareError,
    InconsistentSharesError,
    NotEnoughSharesError,
    ShareError,
)
from tcr_kit.sharing.formats import vault
from tcr_kit.sharing.gf256 import RIJNDAEL_POLY, field

VECTORS_PATH = Path(__file__).resolve().parents[2] / "vectors" / "vault-shamir-vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def _combine(texts: list[str], encoding: str | None = None, threshold: int | None = None) -> bytes:
    shares = [vault.parse(t, f"key {i + 1}") for i, t in enumerate(texts)]
    result = vault.combine(shares, encoding=encoding, threshold=threshold)  # type: ignore[arg-type]
    return bytes(result.secret.raw)  # ``result`` kept alive: its buffer is wiped on deletion


@pytest.mark.parametrize(
    "vector", VECTORS, ids=lambda v: f"t{v['threshold']}-{v['secret_hex'][:8]}"
)
@pytest.mark.parametrize("encoding", ["shares_base64", "shares_hex"])
def test_combine_recovers_secrets_from_shares_vault_made(
    vector: dict[str, Any], encoding: str
) -> None:
    secret = bytes.fromhex(vector["secret_hex"])
    texts: list[str] = vector[encoding]
    threshold: int = vector["threshold"]
    written = encoding.removeprefix("shares_")  # short keys may read both ways: say which
    for subset in itertools.islice(itertools.combinations(texts, threshold), 12):
        assert _combine(list(subset), written) == secret
    assert _combine(list(reversed(texts)), written, threshold=threshold) == secret


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"t{v['threshold']}")
def test_vault_layout_is_y_bytes_then_x_byte_one_to_n(vector: dict[str, Any]) -> None:
    shares = [vault.parse(t, "s") for t in vector["shares_base64"]]
    assert [s.index for s in shares] == list(range(1, len(shares) + 1))
    assert {s.encoding for s in shares} == {"base64"}
    hex_shares = [vault.parse(t, "s") for t in vector["shares_hex"]]
    assert [s.value for s in hex_shares] == [s.value for s in shares]
    assert {s.encoding for s in hex_shares} == {"hex"}


def test_our_shares_have_vault_layout_and_encodings() -> None:
    secret = bytes(range(32))
    b64 = vault.split(secret, 3, 5)
    hexed = vault.split(secret, 3, 5, encoding="hex")
    for i, (b, h) in enumerate(zip(b64, hexed, strict=True), start=1):
        assert len(base64.b64decode(b)) == len(bytes.fromhex(h)) == 33
        assert base64.b64decode(b)[-1] == bytes.fromhex(h)[-1] == i
    assert _combine(b64[2:]) == _combine(hexed[:3]) == secret


def test_combine_accepts_older_random_x_values_with_a_note() -> None:
    # Older Vault releases drew x at random: make such shares by evaluating the polynomial
    # through the shares of a Vault-made vector at other x values.
    vector = VECTORS[1]
    gf = field(RIJNDAEL_POLY)
    points = [(vault.parse(t, "s").index, vault.parse(t, "s").value) for t in vector["shares_hex"]]
    base = points[: vector["threshold"]]
    old = [(x, gf.interpolate(base, at=x)) for x in (200, 17, 251)]
    texts = [base64.b64encode(y + bytes([x])).decode() for x, y in old]
    shares = [vault.parse(t, f"old {i}") for i, t in enumerate(texts)]
    result = vault.combine(shares)
    assert bytes(result.secret.raw) == bytes.fromhex(vector["secret_hex"])
    assert any("older Vault" in w for w in result.warnings)


def test_combine_refusals() -> None:
    texts = VECTORS[1]["shares_hex"]
    shares = [vault.parse(t, f"k{i}") for i, t in enumerate(texts)]
    with pytest.raises(NotEnoughSharesError):
        vault.combine(shares[:1])
    with pytest.raises(NotEnoughSharesError):
        vault.combine(shares[:2], threshold=3)
    forged = vault.parse("00" * 16 + "01", "forged")
    with pytest.raises(DuplicateShareError):
        vault.combine([*shares[:2], forged])
    short = vault.parse("abcd03", "short")
    with pytest.raises(ForeignShareError):
        vault.combine([*shares[:2], short])
    tampered = vault.parse(texts[4][:-4] + "0005", "tampered")
    with pytest.raises(InconsistentSharesError) as info:
        vault.combine([*shares[:4], tampered], threshold=3)
    assert info.value.culprits == ["tampered"]
    result = vault.combine([*shares[:3], shares[0]])
    assert list(result.rejected) == ["k0"]
    assert result.verified is False


@pytest.mark.parametrize(
    "text", ["", "01", "zz1", "abcd00", "IsiUoe4YklmdW6yVBqdK6wF=", "Isi=", "a-b", "ab cd"]
)
def test_parse_rejects_non_shares(text: str) -> None:
    with pytest.raises(ShareError) as info:
        vault.parse(text, "key 9")
    assert info.value.source == "key 9"
    assert not vault.looks_like(text)


def test_looks_like_does_not_claim_other_formats() -> None:
    assert vault.looks_like(VECTORS[1]["shares_base64"][0])
    assert vault.looks_like(VECTORS[1]["shares_hex"][0])
    assert not vault.looks_like("1-1c41ef496eccfbeba439714085df8437236298da8dd824")  # ssss
    assert not vault.looks_like("tok-01-ab")
    assert not vault.looks_like("duckling enlarge academic academic agency result")


@pytest.mark.parametrize(("threshold", "count"), [(1, 3), (4, 3), (2, 256)])
def test_split_refuses_bad_parameters(threshold: int, count: int) -> None:
    with pytest.raises(ValueError):
        vault.split(b"secret", threshold, count)


@settings(max_examples=60, deadline=None)
@given(
    secret=st.binary(min_size=1, max_size=64),
    threshold=st.integers(2, 6),
    extra=st.integers(0, 4),
    encoding=st.sampled_from(["base64", "hex"]),
    data=st.data(),
)
def test_any_threshold_shares_recover_the_secret(
    secret: bytes, threshold: int, extra: int, encoding: str, data: st.DataObject
) -> None:
    count = threshold + extra
    texts = vault.split(secret, threshold, count, encoding=encoding)  # type: ignore[arg-type]
    order = data.draw(st.permutations(range(count)))
    for chosen in ([texts[i] for i in order[:threshold]], [texts[i] for i in order]):
        surplus = threshold if len(chosen) > threshold else None
        # Said how they were written, the shares always give the secret.
        assert _combine(chosen, encoding, surplus) == secret
        # Unsaid, they give it too, unless every one reads both as hex and as base64: then
        # the combine refuses instead of guessing.
        ambiguous = all(vault.parse(t, "k").base64_reading is not None for t in chosen)
        if ambiguous:
            with pytest.raises(InputError, match="read both as hex and as base64"):
                _combine(chosen, None, surplus)
        else:
            assert _combine(chosen, None, surplus) == secret


def test_shares_that_read_both_as_hex_and_base64_are_refused_unless_told_which() -> None:
    # Found by the property test: a 2-byte secret's base64 keys made of hex digits only.
    texts = ["18cD", "ebAB"]
    assert all(vault.parse(t, "k").base64_reading is not None for t in texts)
    with pytest.raises(InputError, match="key 1, key 2 read both as hex and as base64"):
        _combine(texts)
    as_base64 = _combine(texts, "base64")
    as_hex = _combine(texts, "hex")
    assert len(as_base64) == 2 and len(as_hex) == 1


@settings(max_examples=300)
@given(st.text(max_size=60) | st.from_regex(r"\A[A-Za-z0-9+/]{0,12}={0,2}\Z"))
def test_parse_raises_only_tcr_errors(text: str) -> None:
    try:
        share = vault.parse(text, "fuzz")
    except TcrError:
        return
    assert 1 <= share.index <= 255 and share.value


def test_short_base64_share_made_of_hex_digits_is_read_as_base64_among_others() -> None:
    # Short base64 shares can consist of hex digits only; Vault reads hex first. "1234" is
    # hex for (y=12, x=0x34) and base64 for (y=d76d, x=0xf8).
    share = vault.parse("1234", "ambiguous")
    assert (share.encoding, share.index, share.value) == ("hex", 0x34, b"\x12")
    assert share.base64_reading == (0xF8, bytes.fromhex("d76d"))
    other = vault.parse(base64.b64encode(bytes.fromhex("0a0b01")).decode(), "other")
    result = vault.combine([share, other])
    expected = field(RIJNDAEL_POLY).interpolate([(0xF8, bytes.fromhex("d76d")), (1, b"\x0a\x0b")])
    assert bytes(result.secret.raw) == expected
