"""SLIP-39 interop with the reference implementation (python-shamir-mnemonic), both ways."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from shamir_mnemonic import combine_mnemonics, generate_mnemonics

from tcr_kit.sharing.formats import slip39

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("size", "threshold", "count"), [(16, 2, 3), (32, 3, 5), (64, 5, 16)])
def test_our_split_reference_combine(size: int, threshold: int, count: int) -> None:
    secret = bytes((7 * i + size) % 256 for i in range(size))
    mnemonics = slip39.split(secret, threshold, count, passphrase=b"TREZOR", iteration_exponent=0)
    assert len(mnemonics) == count
    chosen = mnemonics[count - threshold :]
    assert combine_mnemonics(chosen, b"TREZOR") == secret


@pytest.mark.parametrize("extendable", [True, False])
@pytest.mark.parametrize(("size", "threshold", "count"), [(16, 2, 3), (32, 4, 6)])
def test_reference_split_our_combine(
    size: int, threshold: int, count: int, extendable: bool
) -> None:
    secret = bytes((11 * i + 3) % 256 for i in range(size))
    [mnemonics] = generate_mnemonics(
        1, [(threshold, count)], secret, b"pass", extendable=extendable, iteration_exponent=0
    )
    shares = [slip39.parse(m, f"m{i}") for i, m in enumerate(mnemonics)]
    result = slip39.combine(shares[1 : threshold + 1], passphrase=b"pass")
    assert bytes(result.secret.raw) == secret and result.verified
    everything = slip39.combine(shares, passphrase=b"pass")
    assert bytes(everything.secret.raw) == secret


def test_reference_multi_group_set_our_combine() -> None:
    secret = bytes(range(16))
    groups = generate_mnemonics(2, [(2, 3), (1, 1), (3, 5)], secret, b"", iteration_exponent=0)
    chosen = groups[0][:2] + groups[2][:3]
    shares = [slip39.parse(m, f"m{i}") for i, m in enumerate(chosen)]
    result = slip39.combine(shares)
    assert bytes(result.secret.raw) == secret and result.verified


def test_reference_cli_create_our_combine(require_tool: Callable[[str], str]) -> None:
    shamir_cli = require_tool("shamir")
    secret_hex = "000102030405060708090a0b0c0d0e0f"
    out = subprocess.run(
        [shamir_cli, "create", "3of5", "-S", secret_hex, "-p", "TREZOR", "-E", "0"],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    ).stdout
    mnemonics = [line for line in out.splitlines() if len(line.split()) >= 20]
    assert len(mnemonics) == 5
    shares = [slip39.parse(m, f"m{i}") for i, m in enumerate(mnemonics)]
    result = slip39.combine(shares[2:], passphrase=b"TREZOR")
    assert bytes(result.secret.raw).hex() == secret_hex and result.verified
