"""ssss format: field, diffusion layer, share syntax and split/combine laws (pure logic)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcr_kit.errors import TcrError
from tcr_kit.sharing.errors import (
    DuplicateShareError,
    ForeignShareError,
    InconsistentSharesError,
    NotEnoughSharesError,
    ShareError,
)
from tcr_kit.sharing.formats import ssss

# The 3-of-5 example of ssss's own documentation (/usr/share/doc/ssss/doc.html), made by
# ssss-split 0.5 with the diffusion layer, ASCII mode, 184-bit security level.
DOC_SECRET = b"my secret root password"
DOC_SHARES = [
    "1-1c41ef496eccfbeba439714085df8437236298da8dd824",
    "2-fbc74a03a50e14ab406c225afb5f45c40ae11976d2b665",
    "3-fa1c3a9c6df8af0779c36de6c33f6e36e989d0e0b91309",
    "4-468de7d6eb36674c9cf008c8e8fc8c566537ad6301eb9e",
    "5-4756974923c0dce0a55f4774d09ca7a4865f64f56a4ee0",
]


def _parse_all(texts: list[str]) -> list[ssss.SsssShare]:
    return [ssss.parse(t, f"share {i + 1}") for i, t in enumerate(texts)]


def test_combine_recovers_ssss_documentation_example() -> None:
    shares = _parse_all(DOC_SHARES)
    for subset in ([2, 4, 1], [0, 1, 2], [4, 3, 0]):
        result = ssss.combine([shares[i] for i in subset], threshold=3, hex=False)
        assert bytes(result.secret.raw) == DOC_SECRET
        assert result.verified is False


def test_combine_checks_shares_beyond_threshold() -> None:
    result = ssss.combine(_parse_all(DOC_SHARES), threshold=3, hex=False)
    assert bytes(result.secret.raw) == DOC_SECRET
    assert any("beyond the threshold agree" in w for w in result.warnings)


def test_combine_rejects_share_off_the_polynomial() -> None:
    texts = list(DOC_SHARES)
    texts[4] = "5-4756974923c0dce0a55f4774d09ca7a4865f64f56a4ee1"
    with pytest.raises(InconsistentSharesError) as info:
        ssss.combine(_parse_all(texts), threshold=3)
    assert info.value.culprits == ["share 5"]


def test_combine_without_threshold_warns_it_is_unknown() -> None:
    result = ssss.combine(_parse_all(DOC_SHARES[:3]), hex=False)
    assert bytes(result.secret.raw) == DOC_SECRET
    assert any("do not record their threshold" in w for w in result.warnings)


def test_combine_with_wrong_threshold_gives_wrong_secret_not_error() -> None:
    # ssss's polynomial is monic of degree t: 4 shares taken as a 4-of-n set give garbage.
    result = ssss.combine(_parse_all(DOC_SHARES[:4]), hex=False)
    assert bytes(result.secret.raw) != DOC_SECRET


def test_combine_refuses_fewer_shares_than_threshold() -> None:
    with pytest.raises(NotEnoughSharesError) as info:
        ssss.combine(_parse_all(DOC_SHARES[:2]), threshold=3)
    assert (info.value.have, info.value.need) == (2, 3)


def test_combine_ignores_same_share_given_twice_but_rejects_conflicting_index() -> None:
    shares = _parse_all([*DOC_SHARES[:3], DOC_SHARES[0]])
    result = ssss.combine(shares, threshold=3, hex=False)
    assert bytes(result.secret.raw) == DOC_SECRET
    assert "share 4" in result.rejected
    forged = ssss.parse("1-" + "0" * 46, "forged")
    with pytest.raises(DuplicateShareError):
        ssss.combine([*_parse_all(DOC_SHARES[:3]), forged], threshold=3)


def test_combine_rejects_shares_of_other_length_or_token() -> None:
    other = ssss.parse("4-" + "ab" * 24, "longer")
    with pytest.raises(ForeignShareError):
        ssss.combine([*_parse_all(DOC_SHARES[:2]), other], threshold=3)
    tokened = ssss.parse("tok-" + DOC_SHARES[3], "tokened")
    with pytest.raises(ForeignShareError):
        ssss.combine([*_parse_all(DOC_SHARES[:2]), tokened], threshold=3)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "0-ab",  # index 0 would be the secret itself
        "1-abc",  # odd number of hex digits: no ssss field
        "1-" + "ab" * 129,  # wider than 1024 bits
        "256-ab",  # x = 256 lies outside GF(2^8): ssss-split writes it past 255 shares
        "1-xy",
        "a b-1-ab",
        "1234567890-ab",
    ],
)
def test_parse_rejects_malformed_shares(text: str) -> None:
    with pytest.raises(ShareError) as info:
        ssss.parse(text, "card 7")
    assert info.value.source == "card 7"
    assert not ssss.looks_like(text)


def test_parse_reads_token_index_and_value() -> None:
    share = ssss.parse("passwd-07-00ff\n", "s")
    assert (share.token, share.index, share.value, share.bits) == ("passwd", 7, 0xFF, 16)


def test_looks_like_does_not_claim_other_formats() -> None:
    assert ssss.looks_like(DOC_SHARES[0])
    assert ssss.looks_like("tok-01-ab")
    assert not ssss.looks_like("22c894a1ee1892599d5bac9506a74aeb01")  # Vault hex
    assert not ssss.looks_like("IsiUoe4YklmdW6yVBqdK6wE=")  # Vault base64
    assert not ssss.looks_like("duckling enlarge academic academic agency result")  # SLIP-39


def test_split_formats_like_ssss_split() -> None:
    shares = ssss.split(b"\x01\x02", 2, 12, token="tok")
    assert [s.rsplit("-", 1)[0] for s in shares] == [f"tok-{i:02d}" for i in range(1, 13)]
    assert all(len(s.rsplit("-", 1)[1]) == 4 for s in shares)
    assert ssss.split(b"\x01", 2, 9)[0].startswith("1-")


@pytest.mark.parametrize(
    ("threshold", "count"), [(1, 3), (4, 3), (2, 256)], ids=["t1", "t>n", "n>255"]
)
def test_split_refuses_bad_parameters(threshold: int, count: int) -> None:
    with pytest.raises(ValueError):
        ssss.split(b"secret", threshold, count)


@pytest.mark.parametrize("token", ["", "a-b", "a b", "x" * 129])
def test_split_refuses_tokens_ssss_cannot_read_back(token: str) -> None:
    with pytest.raises(ValueError):
        ssss.split(b"secret", 2, 3, token=token)


def test_split_refuses_binary_secret_in_ascii_mode_and_oversize() -> None:
    with pytest.raises(ValueError):
        ssss.split(b"\x00abc", 2, 3, hex=False)
    with pytest.raises(ValueError):
        ssss.split(b"x" * 129, 2, 3)
    with pytest.raises(ValueError):
        ssss.split(b"abc", 2, 3, bits=16)


def test_padded_security_level_ascii_mode_drops_padding_hex_mode_keeps_it() -> None:
    shares = _parse_all(ssss.split(b"abc", 2, 3, bits=128))
    assert all(s.bits == 128 for s in shares)
    ascii_result = ssss.combine(shares[:2], threshold=2, hex=False)
    assert bytes(ascii_result.secret.raw) == b"abc"
    hex_result = ssss.combine(shares[:2], threshold=2)
    assert bytes(hex_result.secret.raw) == bytes(13) + b"abc"


def test_small_levels_skip_diffusion_with_a_warning() -> None:
    shares = _parse_all(ssss.split(b"1234567", 2, 2))
    with_layer = ssss.combine(shares, threshold=2, diffusion=True)
    without = ssss.combine(shares, threshold=2, diffusion=False)
    assert bytes(with_layer.secret.raw) == bytes(without.secret.raw) == b"1234567"
    assert any("diffusion" in w for w in with_layer.warnings)


def test_field_polynomials_have_inverses_for_every_level() -> None:
    for bits in range(8, 1025, 8):
        gf = ssss.BinaryField(bits)
        a = (1 << (bits - 1)) | 0x1234 % (1 << bits) | 1
        assert gf.mul(a, gf.inv(a)) == 1


def test_field_rejects_invalid_levels() -> None:
    for bits in (0, 7, 12, 1032):
        with pytest.raises(ValueError):
            ssss.field_polynomial(bits)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([64, 72, 128, 136, 256, 1024]).flatmap(
        lambda bits: st.tuples(st.just(bits), st.integers(0, (1 << bits) - 1))
    )
)
def test_diffusion_layer_is_a_permutation(case: tuple[int, int]) -> None:
    bits, value = case
    encoded = ssss.diffuse(value, bits)
    assert encoded >> bits == 0
    assert ssss.diffuse(encoded, bits, decode=True) == value


@settings(max_examples=60, deadline=None)
@given(
    secret=st.binary(min_size=1, max_size=40),
    threshold=st.integers(2, 5),
    extra=st.integers(0, 3),
    diffusion=st.booleans(),
    data=st.data(),
)
def test_any_threshold_shares_recover_the_secret(
    secret: bytes, threshold: int, extra: int, diffusion: bool, data: st.DataObject
) -> None:
    count = threshold + extra
    texts = ssss.split(secret, threshold, count, diffusion=diffusion)
    chosen = data.draw(st.permutations(range(count)))[:threshold]
    shares = [ssss.parse(texts[i], f"s{i}") for i in chosen]
    result = ssss.combine(shares, threshold=threshold, diffusion=diffusion)
    assert bytes(result.secret.raw) == secret


@settings(max_examples=300)
@given(st.text(max_size=80) | st.from_regex(r"\A[a-z]{0,3}-?[0-9]{0,4}-[0-9a-fA-F]{0,12}\Z"))
def test_parse_raises_only_tcr_errors(text: str) -> None:
    try:
        share = ssss.parse(text, "fuzz")
    except TcrError:
        assert not ssss.looks_like(text)
        return
    assert ssss.looks_like(text)
    assert 1 <= share.index < (1 << share.bits)
