"""Format auto-detection: each format's ``looks_like`` claims its own shares and no other's."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcr_kit.errors import OperationalError
from tcr_kit.sharing.formats import gfshare, slip39, ssss, vault

DETECTORS = {"ssss": ssss.looks_like, "vault": vault.looks_like, "slip39": slip39.looks_like}


def _claims(text: str) -> set[str]:
    return {name for name, looks_like in DETECTORS.items() if looks_like(text)}


@settings(max_examples=40, deadline=None)
@given(
    secret=st.binary(min_size=1, max_size=40),
    threshold=st.integers(2, 4),
    token=st.none() | st.from_regex(r"\A[a-z0-9]{1,8}\Z"),
    encoding=st.sampled_from(["base64", "hex"]),
)
def test_shares_are_claimed_by_their_own_format_only(
    secret: bytes, threshold: int, token: str | None, encoding: str
) -> None:
    for text in ssss.split(secret, threshold, threshold + 1, token=token):
        assert _claims(text) == {"ssss"}
    for text in vault.split(secret, threshold, threshold + 1, encoding=encoding):  # type: ignore[arg-type]
        assert _claims(text) == {"vault"}


def test_slip39_mnemonics_are_claimed_by_slip39_only() -> None:
    for text in slip39.split(bytes(range(16)), 2, 3, iteration_exponent=0):
        assert _claims(text) == {"slip39"}


@pytest.mark.parametrize("text", ["", "hello", "secret.bin.001", "-----BEGIN PGP MESSAGE-----"])
def test_nothing_claims_plain_text(text: str) -> None:
    assert _claims(text) == set()


def test_gfshare_force_refuses_to_replace_a_directory(tmp_path: Path) -> None:
    (tmp_path / "s.001").mkdir()
    with pytest.raises(OperationalError):
        gfshare.split_stream(io.BytesIO(b"abc"), 2, 2, tmp_path, "s", force=True)


@pytest.mark.parametrize(
    "text",
    [
        # tcr-kit native text share, spaces removed (Crockford base32 is base64-safe) ...
        "TCRS0400CRPMD2B5T6AWE3Y1YZN8M0G0C8C1SKAC",
        # ... and the hex of a native compact share (magic 89 54 43 52).
        "895443520100626a89a8959a5a36030701094b4d462d5720534d4bd106cb3882e1b0dc95",
    ],
)
def test_native_share_prefixes_are_not_claimed(text: str) -> None:
    assert vault.parse(text, "explicit").index > 0  # decodable as Vault if asked ...
    assert _claims(text) == set()  # ... but left to the native reader in detection
