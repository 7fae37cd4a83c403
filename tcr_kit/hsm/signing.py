"""Sign one file with a key on the HSM: checked before any share is asked for, written
exclusively, and described by its SHA-256 digests (what ``tcr hsm activate --sign-key``
does)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcr_kit.errors import FileExistsRefused, OperationalError
from tcr_kit.fileio import atomic_output
from tcr_kit.hsm.activation import Activation, Quorum, Source


@dataclass(frozen=True)
class SignedFile:
    """A signature made and written: paths and SHA-256 digests, no data."""

    key: str
    input_path: Path
    input_sha256: str
    signature_path: Path
    signature_sha256: str
    public_key_sha256: str

    def facts(self) -> dict[str, Any]:
        return {
            "signed": str(self.input_path),
            "input_sha256": self.input_sha256,
            "signature": str(self.signature_path),
            "signature_sha256": self.signature_sha256,
            "public_key_sha256": self.public_key_sha256,
            "key": self.key,
        }

    def describe(self) -> list[str]:
        from tcr_kit.audit.pgpwords import digest_words

        return [
            f"signed {self.input_path} with key '{self.key}' -> {self.signature_path}",
            f"  input sha256     {self.input_sha256}",
            f"  signature sha256 {self.signature_sha256}",
            f"  public key sha256 {self.public_key_sha256}",
            f"    {digest_words(bytes.fromhex(self.public_key_sha256))[1]}",
        ]


@dataclass(frozen=True)
class SignRequest:
    """What to sign, with which key, and where the signature goes; see :meth:`prepare`."""

    key: str
    input_path: Path
    output_path: Path
    data: bytes = field(repr=False)
    force: bool = False

    @classmethod
    def prepare(
        cls, key: str, input_path: Path, output_path: Path, *, force: bool = False
    ) -> SignRequest:
        """Read the input and refuse an existing output (without ``force``) now, before a
        share or a PIN is asked for."""
        try:
            data = input_path.read_bytes()
        except OSError as exc:
            raise OperationalError(f"{input_path}: cannot read: {exc.strerror}") from None
        if output_path.exists() and not force:
            raise FileExistsRefused(str(output_path))
        return cls(key, input_path, output_path, data, force)

    def sign(self, activation: Activation, sources: Iterable[Source] | Quorum) -> SignedFile:
        """Activate, sign (ECDSA P-256, DER), log out, then write the signature (0644)."""
        with activation.session(sources, purpose="sign") as session:
            signature = session.sign(self.key, self.data)
            public = session.public_key_der(self.key)
        with atomic_output(self.output_path, force=self.force, mode=0o644) as fh:
            fh.write(signature)
        return SignedFile(
            key=self.key,
            input_path=self.input_path,
            input_sha256=hashlib.sha256(self.data).hexdigest(),
            signature_path=self.output_path,
            signature_sha256=hashlib.sha256(signature).hexdigest(),
            public_key_sha256=hashlib.sha256(public).hexdigest(),
        )
