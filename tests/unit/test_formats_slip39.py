"""SLIP-39: the reference library's public vectors, including every must-reject case."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcr_kit.errors import TcrError
from tcr_kit.secrets import random_source
from tcr_kit.sharing.errors import (
    DuplicateShareError,
    InconsistentSharesError,
    NotEnoughSharesError,
    ShareChecksumError,
    ShareError,
)
from tcr_kit.sharing.formats import slip39

VECTORS_PATH = Path(__file__).resolve().parents[2] / "vectors" / "slip39-vectors.json"
VECTORS: list[list[object]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
PASSPHRASE = b"TREZOR"


def _recover(mnemonics: list[str], passphrase: bytes = PASSPHRASE) -> tuple[bytes, bool]:
    shares = [slip39.parse(m, f"mnemonic {i + 1}") for i, m in enumerate(mnemonics)]
    result = slip39.combine(shares, passphrase=passphrase)
    return bytes(result.secret.raw), result.verified


VALID = [v for v in VECTORS if v[2]]
INVALID = [v for v in VECTORS if not v[2]]


@pytest.mark.parametrize("vector", VALID, ids=lambda v: str(v[0])[:40])
def test_valid_vectors_recover_the_master_secret(vector: list[object]) -> None:
    _, mnemonics, secret_hex, _ = vector
    assert isinstance(mnemonics, list) and isinstance(secret_hex, str)
    secret, verified = _recover(mnemonics)
    assert secret.hex() == secret_hex
    # SLIP-39's digest exists only where some threshold is at least 2.
    assert verified == ("without sharing" not in str(vector[0]))


@pytest.mark.parametrize("vector", INVALID, ids=lambda v: str(v[0])[:40])
def test_must_reject_vectors_raise_tcr_errors(vector: list[object]) -> None:
    _, mnemonics, _, _ = vector
    assert isinstance(mnemonics, list)
    with pytest.raises(TcrError):
        _recover(mnemonics)


def test_reject_kinds_are_specific() -> None:
    by_number = {str(v[0]).split(".")[0]: v[1] for v in VECTORS}
    with pytest.raises(ShareChecksumError):
        _recover(by_number["2"])  # type: ignore[arg-type]
    with pytest.raises(NotEnoughSharesError):
        _recover(by_number["5"])  # type: ignore[arg-type]
    with pytest.raises(DuplicateShareError):
        _recover(by_number["11"])  # type: ignore[arg-type]
    with pytest.raises(InconsistentSharesError, match="digest"):
        _recover(by_number["13"])  # type: ignore[arg-type]


def test_wrong_passphrase_gives_other_secret_without_error() -> None:
    _, mnemonics, secret_hex, _ = VALID[1]
    secret, verified = _recover(mnemonics, b"not TREZOR")  # type: ignore[arg-type]
    assert verified and secret.hex() != secret_hex


def _counter_source() -> Callable[[int], bytes]:
    state = [0]

    def source(n: int) -> bytes:
        out = bytes((state[0] + i) % 256 for i in range(n))
        state[0] += n
        return out

    return source


def test_split_is_deterministic_under_the_randomness_hook() -> None:
    with random_source(_counter_source()):
        first = slip39.split(bytes(16), 2, 3, iteration_exponent=0)
    with random_source(_counter_source()):
        second = slip39.split(bytes(16), 2, 3, iteration_exponent=0)
    assert first == second
    assert slip39.split(bytes(16), 2, 3, iteration_exponent=0) != first


def test_extra_shares_are_checked_and_same_share_twice_ignored() -> None:
    mnemonics = slip39.split(bytes(range(16)), 2, 4, iteration_exponent=0)
    shares = [slip39.parse(m, f"m{i}") for i, m in enumerate(mnemonics)]
    result = slip39.combine([*shares, shares[0]])
    assert bytes(result.secret.raw) == bytes(range(16))
    assert list(result.rejected) == ["m0"]
    other = slip39.split(bytes(16), 2, 4, iteration_exponent=0)
    assert slip39.parse(other[0], "x").identifier != shares[0].identifier


@pytest.mark.parametrize(
    ("secret", "threshold", "count", "options"),
    [
        (bytes(16), 1, 3, {}),
        (bytes(16), 4, 3, {}),
        (bytes(16), 2, 17, {}),
        (bytes(15), 2, 3, {}),
        (bytes(17), 2, 3, {}),
        (bytes(16), 2, 3, {"iteration_exponent": 16}),
        (bytes(16), 2, 3, {"passphrase": b"\x00"}),
    ],
)
def test_split_refuses_bad_parameters(
    secret: bytes, threshold: int, count: int, options: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        slip39.split(secret, threshold, count, **options)  # type: ignore[arg-type]


def test_looks_like_claims_only_checksummed_mnemonics() -> None:
    _, mnemonics, _, _ = VALID[0]
    assert slip39.looks_like(mnemonics[0])  # type: ignore[index]
    assert slip39.looks_like("  " + mnemonics[0].upper() + "\n")  # type: ignore[index]
    assert not slip39.looks_like(INVALID[0][1][0])  # type: ignore[index]
    assert not slip39.looks_like("1-1c41ef496eccfbeba439714085df8437236298da8dd824")
    assert not slip39.looks_like("IsiUoe4YklmdW6yVBqdK6wE=")


@settings(max_examples=15, deadline=None)
@given(
    secret=st.integers(8, 32).flatmap(lambda n: st.binary(min_size=2 * n, max_size=2 * n)),
    threshold=st.integers(2, 4),
    extra=st.integers(0, 2),
    data=st.data(),
)
def test_any_threshold_mnemonics_recover_the_secret(
    secret: bytes, threshold: int, extra: int, data: st.DataObject
) -> None:
    count = threshold + extra
    mnemonics = slip39.split(secret, threshold, count, passphrase=b"pw", iteration_exponent=0)
    order = data.draw(st.permutations(range(count)))
    recovered, verified = _recover([mnemonics[i] for i in order[:threshold]], b"pw")
    assert recovered == secret and verified


@settings(max_examples=200)
@given(
    st.text(max_size=60)
    | st.lists(st.sampled_from(["academic", "acid", "zero", "wrist", "xx"]), max_size=25).map(
        " ".join
    )
)
def test_parse_raises_only_share_errors(text: str) -> None:
    try:
        slip39.parse(text, "fuzz")
    except ShareError:
        return
