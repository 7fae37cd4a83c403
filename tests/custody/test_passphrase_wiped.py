"""The passphrase of an encrypted signing key is held in a bytearray and wiped after use."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tcr_cli import _ledger
from tcr_kit.audit.signing import SoftwareEd25519Signer


def test_key_passphrase_from_stdin_is_wiped_after_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = SoftwareEd25519Signer.generate()
    path = tmp_path / "key.pem"
    key.save(path, bytearray(b"correct horse"))
    seen: list[bytearray] = []
    real_load = SoftwareEd25519Signer.load

    def spy(p: Path, passphrase: bytes | bytearray | None = None) -> SoftwareEd25519Signer:
        assert isinstance(passphrase, bytearray)
        seen.append(passphrase)
        return real_load(p, passphrase)

    monkeypatch.setattr(SoftwareEd25519Signer, "load", staticmethod(spy))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"correct horse\n")))
    signer = _ledger.load_signer(path)
    assert signer.public_key_bytes() == key.public_key_bytes()
    (buf,) = seen
    assert not any(buf)


def test_key_passphrase_is_wiped_when_it_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tcr_kit.errors import InputError
    from tcr_kit.secrets import SecretBuffer

    path = tmp_path / "key.pem"
    SoftwareEd25519Signer.generate().save(path, b"right")
    buffers: list[SecretBuffer] = []
    real_read = _ledger.read_passphrase

    def spy(prompt: str, *, confirm: bool = False) -> SecretBuffer:
        buffers.append(real_read(prompt, confirm=confirm))
        return buffers[-1]

    monkeypatch.setattr(_ledger, "read_passphrase", spy)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"wrong\n")))
    with pytest.raises(InputError, match="wrong passphrase"):
        _ledger.load_signer(path)
    assert buffers[0].wiped
    assert "wrong" not in repr(buffers[0])
