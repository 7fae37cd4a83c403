"""ssss interop against the real ssss-split / ssss-combine binaries, in both directions."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from tcr_kit.sharing.errors import ShareError
from tcr_kit.sharing.formats import ssss

pytestmark = pytest.mark.integration

SIZES = [1, 7, 8, 9, 16, 17, 32, 64, 128]


def _run(tool: str, args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    # -Q: no prompts and no warnings, so stdout holds the shares and stderr the secret.
    return subprocess.run(
        [tool, "-Q", *args], input=stdin, capture_output=True, text=True, check=True, timeout=30
    )


def _secret_bytes(size: int, seed: int) -> bytes:
    return bytes((seed * 131 + i * 71 + 17) % 256 for i in range(size))


@pytest.mark.parametrize("diffusion", [True, False], ids=["diffusion", "D"])
@pytest.mark.parametrize("size", SIZES)
def test_our_split_ssss_combine_hex(
    require_tool: Callable[[str], str], size: int, diffusion: bool
) -> None:
    combine_tool = require_tool("ssss-combine")
    threshold = 2 + size % 4
    secret = _secret_bytes(size, threshold)
    shares = ssss.split(secret, threshold, threshold + 2, diffusion=diffusion)
    chosen = shares[-threshold:]
    args = ["-t", str(threshold), "-x"] + ([] if diffusion else ["-D"])
    out = _run(combine_tool, args, "\n".join(chosen) + "\n")
    assert bytes.fromhex(out.stderr.strip()) == secret


@pytest.mark.parametrize("diffusion", [True, False], ids=["diffusion", "D"])
@pytest.mark.parametrize("size", SIZES)
def test_ssss_split_our_combine_hex(
    require_tool: Callable[[str], str], size: int, diffusion: bool
) -> None:
    split_tool = require_tool("ssss-split")
    threshold = 2 + (size + 1) % 4
    count = threshold + 1
    secret = _secret_bytes(size, count)
    args = ["-t", str(threshold), "-n", str(count), "-x"] + ([] if diffusion else ["-D"])
    out = _run(split_tool, args, secret.hex() + "\n")
    texts = out.stdout.split()
    assert len(texts) == count
    shares = [ssss.parse(t, f"ssss share {i + 1}") for i, t in enumerate(texts)]
    result = ssss.combine(shares[1:][:threshold], threshold=threshold, diffusion=diffusion)
    assert bytes(result.secret.raw) == secret
    # All shares, including those beyond the threshold, are consistent.
    everything = ssss.combine(shares, threshold=threshold, diffusion=diffusion)
    assert bytes(everything.secret.raw) == secret


@pytest.mark.parametrize("diffusion", [True, False], ids=["diffusion", "D"])
def test_ascii_mode_with_token_both_directions(
    require_tool: Callable[[str], str], diffusion: bool
) -> None:
    split_tool, combine_tool = require_tool("ssss-split"), require_tool("ssss-combine")
    secret = b"correct horse battery staple"
    flags = [] if diffusion else ["-D"]
    ours = ssss.split(secret, 3, 11, token="ksk2026", hex=False, diffusion=diffusion)
    assert ours[0].startswith("ksk2026-01-")
    out = _run(combine_tool, ["-t", "3", *flags], "\n".join(ours[4:7]) + "\n")
    assert out.stderr.strip().encode() == secret

    out = _run(split_tool, ["-t", "3", "-n", "11", "-w", "ksk2026", *flags], secret.decode() + "\n")
    texts = out.stdout.split()
    assert texts == sorted(texts) and texts[9].startswith("ksk2026-10-")
    shares = [ssss.parse(t, f"s{i}") for i, t in enumerate(texts)]
    assert {s.token for s in shares} == {"ksk2026"}
    result = ssss.combine(shares[8:], threshold=3, hex=False, diffusion=diffusion)
    assert bytes(result.secret.raw) == secret


def test_padded_security_level_both_directions(require_tool: Callable[[str], str]) -> None:
    split_tool, combine_tool = require_tool("ssss-split"), require_tool("ssss-combine")
    out = _run(split_tool, ["-t", "2", "-n", "3", "-s", "256"], "pin 1234\n")
    shares = [ssss.parse(t, f"s{i}") for i, t in enumerate(out.stdout.split())]
    assert all(s.bits == 256 for s in shares)
    result = ssss.combine(shares[:2], threshold=2, hex=False)
    assert bytes(result.secret.raw) == b"pin 1234"

    ours = ssss.split(b"pin 1234", 2, 3, bits=256, hex=False)
    out = _run(combine_tool, ["-t", "2"], "\n".join(ours[1:]) + "\n")
    assert out.stderr.strip() == "pin 1234"


def test_ssss_beyond_255_shares_writes_x_values_we_refuse(
    require_tool: Callable[[str], str],
) -> None:
    # ssss-split has no bound on -n: share 256 has x = 256, outside GF(2^8) (and from 257 on
    # it prints zeros without end). We refuse to write such sets and to read such shares.
    split_tool = require_tool("ssss-split")
    out = _run(split_tool, ["-t", "2", "-n", "256", "-x"], "ab\n")
    texts = out.stdout.split()
    assert len(texts) == 256 and texts[255].startswith("256-")
    with pytest.raises(ShareError, match="outside GF"):
        ssss.parse(texts[255], "share 256")
    with pytest.raises(ValueError):
        ssss.split(b"\xab", 2, 256)


def test_ssss_combine_with_wrong_threshold_agrees_with_ours(
    require_tool: Callable[[str], str],
) -> None:
    # Neither side can detect a wrong threshold: both give the same wrong secret.
    combine_tool = require_tool("ssss-combine")
    texts = ssss.split(b"0123456789abcdef", 2, 4)
    out = _run(combine_tool, ["-t", "3", "-x"], "\n".join(texts[:3]) + "\n")
    ours = ssss.combine([ssss.parse(t, t) for t in texts[:3]])
    assert bytes.fromhex(out.stderr.strip()) == bytes(ours.secret.raw) != b"0123456789abcdef"


@pytest.mark.parametrize("diffusion", [True, False], ids=["diffusion", "D"])
def test_hex_secret_with_leading_zero_bytes_both_directions(
    require_tool: Callable[[str], str], diffusion: bool
) -> None:
    split_tool, combine_tool = require_tool("ssss-split"), require_tool("ssss-combine")
    secret = bytes(3) + b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d"
    flags = ["-x"] + ([] if diffusion else ["-D"])
    ours = ssss.split(secret, 2, 3, diffusion=diffusion)
    out = _run(combine_tool, ["-t", "2", *flags], "\n".join(ours[:2]) + "\n")
    assert bytes.fromhex(out.stderr.strip()) == secret
    out = _run(split_tool, ["-t", "2", "-n", "3", *flags], secret.hex() + "\n")
    shares = [ssss.parse(t, t) for t in out.stdout.split()]
    assert {s.bits for s in shares} == {128}
    result = ssss.combine(shares[1:], threshold=2, diffusion=diffusion)
    assert bytes(result.secret.raw) == secret
