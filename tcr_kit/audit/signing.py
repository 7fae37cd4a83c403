"""Who signs: a small :class:`Signer` protocol, software Ed25519 keys in 0600 files, and
signature verification that raises.

A smartcard that signs on-card implements :class:`Signer` too (``algorithm``,
``public_key_bytes()``, ``sign(data)``); nothing here assumes the private key is in memory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from tcr_kit.errors import InputError, IntegrityError, OperationalError
from tcr_kit.fileio import write_new_file

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

ED25519 = "ed25519"
"""RFC 8032 pure Ed25519; public key: 32 raw bytes; the message is signed as is."""
ECDSA_P256 = "ecdsa-p256-sha256"
"""ECDSA on P-256 over SHA-256 of the message, DER signature (RFC 3279); public key: DER
SubjectPublicKeyInfo. This is what the cards' on-card signing key produces."""
ALGORITHMS = frozenset({ED25519, ECDSA_P256})

_PBKDF2_ITERATIONS = 200_000


class SignatureInvalid(IntegrityError):
    """A signature does not verify under the named public key."""


@runtime_checkable
class Signer(Protocol):
    """Anything that can sign: a software key here, a card later."""

    @property
    def algorithm(self) -> str:
        """Algorithm name, e.g. ``"ed25519"``."""
        ...

    def public_key_bytes(self) -> bytes:
        """The public key as the log registers it: 32 raw bytes for Ed25519, DER
        SubjectPublicKeyInfo for ECDSA P-256 (a card converts at its boundary)."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (the whole message; Ed25519 hashes it itself)."""
        ...


def key_id(public_key: bytes) -> str:
    """The identifier of a public key: first 16 bytes of its SHA-256, as 32 hex digits."""
    return hashlib.sha256(public_key).digest()[:16].hex()


class SoftwareEd25519Signer:
    """An Ed25519 private key held in process memory (loaded from a 0600 file)."""

    __slots__ = ("_key", "_public")

    def __init__(self, key: object) -> None:
        from Crypto.PublicKey import ECC

        if not isinstance(key, ECC.EccKey) or key.curve != "Ed25519" or not key.has_private():
            raise ValueError("not an Ed25519 private key")
        self._key = key
        self._public: bytes = key.public_key().export_key(format="raw")

    @property
    def algorithm(self) -> str:
        return ED25519

    def public_key_bytes(self) -> bytes:
        return self._public

    def sign(self, data: bytes) -> bytes:
        from Crypto.Signature import eddsa

        return bytes(eddsa.new(self._key, "rfc8032").sign(data))

    def __repr__(self) -> str:
        return f"<SoftwareEd25519Signer key_id={key_id(self._public)}>"

    @classmethod
    def generate(cls) -> SoftwareEd25519Signer:
        from Crypto.PublicKey import ECC

        return cls(ECC.generate(curve="ed25519"))

    def save(
        self, path: str | os.PathLike[str], passphrase: bytes | bytearray | None = None
    ) -> None:
        """Write the private key as PKCS#8 PEM to a new 0600 file (``O_EXCL``).

        With ``passphrase`` the file is encrypted (PBKDF2-HMAC-SHA512, AES-256-CBC).
        """
        if passphrase:
            pem = self._key.export_key(
                format="PEM",
                passphrase=cast(bytes, passphrase),  # a bytearray works; the stubs say bytes
                protection="PBKDF2WithHMAC-SHA512AndAES256-CBC",
                prot_params={"iteration_count": _PBKDF2_ITERATIONS},
            )
        else:
            pem = self._key.export_key(format="PEM")
        write_new_file(path, pem.encode("ascii"), mode=0o600)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], passphrase: bytes | bytearray | None = None
    ) -> SoftwareEd25519Signer:
        """Load a key file; refuses a file readable by group or others."""
        from Crypto.PublicKey import ECC

        p = Path(path)
        try:
            st = p.stat()
            data = p.read_bytes()
        except OSError as exc:
            raise OperationalError(f"{p}: cannot read key file: {exc.strerror}") from None
        if os.name == "posix" and st.st_mode & 0o077:
            raise OperationalError(f"{p}: key file is readable by others; chmod 600 it")
        if b"ENCRYPTED" in data and not passphrase:
            raise InputError(f"{p}: key file is passphrase-protected; a passphrase is needed")
        try:
            key = ECC.import_key(data, passphrase=cast(bytes, passphrase) or None)
        except (ValueError, IndexError, TypeError):
            raise InputError(f"{p}: not an Ed25519 key file, or wrong passphrase") from None
        if key.curve != "Ed25519":
            raise InputError(f"{p}: key is {key.curve}, expected Ed25519")
        return cls(key)

    @staticmethod
    def is_encrypted(path: str | os.PathLike[str]) -> bool:
        try:
            return b"ENCRYPTED" in Path(path).read_bytes()[:64]
        except OSError as exc:
            raise OperationalError(f"{path}: cannot read key file: {exc.strerror}") from None


def check_public_key(algorithm: str, public_key: bytes) -> None:
    """``ValueError`` unless ``public_key`` is a well-formed key for ``algorithm``."""
    if algorithm == ED25519:
        # libsodium (which verifies the signatures): on the curve, canonically encoded, in the
        # prime-order subgroup, not of small order. Importing it costs a fifth of pycryptodome.
        from nacl.bindings import crypto_core_ed25519_is_valid_point

        if len(public_key) != 32:
            raise ValueError("an Ed25519 public key is 32 raw bytes")
        if not crypto_core_ed25519_is_valid_point(bytes(public_key)):
            raise ValueError("not a valid Ed25519 public key (off the curve or of small order)")
    elif algorithm == ECDSA_P256:
        if len(public_key) == 65 and public_key[:1] == b"\x04":
            raise ValueError(
                "a P-256 public key is registered as DER SubjectPublicKeyInfo, not as the"
                " 65-byte raw point"
            )
        _p256_public_key(public_key)  # the loader the verifier uses: DER SPKI only
    else:
        raise ValueError(f"unsupported signature algorithm {algorithm!r}")


def canonical_public_key(algorithm: str, public_key: bytes) -> bytes:
    """The one encoding of the key ``public_key`` is: what tells two registrations of one
    key apart from two keys, whatever encoding each used. Ed25519: the 32 raw bytes (the
    libsodium check of :func:`check_public_key` accepts the canonical encoding only).
    P-256: DER SubjectPublicKeyInfo with the **uncompressed** point, re-encoded by
    pyca/cryptography (what ``cards.signing.audit_public_key`` registers), so a compressed
    point and its uncompressed form give the same bytes. ``ValueError`` for a malformed key.
    """
    return _canonical(algorithm, bytes(public_key))


@lru_cache(maxsize=1024)
def _canonical(algorithm: str, public_key: bytes) -> bytes:
    check_public_key(algorithm, public_key)
    if algorithm != ECDSA_P256:
        return public_key
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return _p256_public_key(public_key).public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )


def check_new_public_key(algorithm: str, public_key: bytes) -> None:
    """:func:`check_public_key`, and the form a new registration must use: the canonical
    one (:func:`canonical_public_key`). A compressed P-256 point, which the verifier still
    accepts in old logs, is refused here: one key, one encoding, one ``key_id``."""
    if canonical_public_key(algorithm, public_key) == bytes(public_key):
        return
    if len(public_key) == _P256_COMPRESSED_SPKI and public_key[-33:-32] in (b"\x02", b"\x03"):
        raise ValueError(
            "a P-256 public key is registered with its uncompressed point (DER"
            " SubjectPublicKeyInfo, 91 bytes); this one is compressed: re-encode it"
            " (openssl ec -pubin -inform DER -conv_form uncompressed -outform DER)"
        )
    raise ValueError(
        "not the canonical DER encoding of a P-256 public key (SubjectPublicKeyInfo, named"
        " curve, uncompressed point, 91 bytes)"
    )


_P256_COMPRESSED_SPKI = 59
"""Length of a P-256 SubjectPublicKeyInfo holding a compressed point (26 + 33 bytes)."""


def verify_signature(
    algorithm: str,
    public_key: bytes,
    data: bytes,
    signature: bytes,
    *,
    key_name: str | None = None,
) -> None:
    """Raise :class:`SignatureInvalid` unless ``signature`` over ``data`` verifies.

    The one signature check of tcr-kit: the audit log, seal attestations, the cards' signing
    key and the demo's HSM signature all come here. ``algorithm`` is :data:`ED25519` (raw
    32-byte public key) or :data:`ECDSA_P256` (DER SubjectPublicKeyInfo); a malformed key
    fails like a bad signature. ``key_name`` names the key in the message (default: its
    :func:`key_id`).
    """
    if algorithm not in ALGORITHMS:
        raise SignatureInvalid(f"unsupported signature algorithm {algorithm!r}")
    if not signature_ok(algorithm, public_key, data, signature):
        name = key_name if key_name is not None else key_id(public_key)
        raise SignatureInvalid(f"signature does not verify under key {name}")


class Verifier(Protocol):
    def __call__(self, data: bytes, signature: bytes) -> bool: ...


def make_verifier(algorithm: str, public_key: bytes) -> Verifier:
    """A reusable check for one key (importing a key is a large part of the cost).

    Ed25519 runs on libsodium (PyNaCl), ECDSA P-256 on OpenSSL (pyca/cryptography): measured
    on the project's 2-core machine, libsodium verifies Ed25519 about 1.8x as fast as OpenSSL
    and 6x as fast as pycryptodome. ``ValueError`` for a malformed key.
    """
    if algorithm == ED25519:
        from nacl.exceptions import BadSignatureError
        from nacl.signing import VerifyKey

        if len(public_key) != 32:
            raise ValueError("an Ed25519 public key is 32 raw bytes")
        detached = _sodium_verify_detached()
        if detached is not None:
            raw = bytes(public_key)

            def check_ed25519_detached(data: bytes, signature: bytes) -> bool:
                if len(signature) != 64:
                    return False
                return bool(detached(bytes(signature), bytes(data), len(data), raw) == 0)

            return check_ed25519_detached
        verify = VerifyKey(bytes(public_key)).verify

        def check_ed25519(data: bytes, signature: bytes) -> bool:
            if len(signature) != 64:
                return False
            try:
                verify(data, signature)
            except (BadSignatureError, ValueError, TypeError):
                return False
            return True

        return check_ed25519
    if algorithm == ECDSA_P256:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.hashes import SHA256

        key = _p256_public_key(public_key)
        scheme = ec.ECDSA(SHA256())

        def check_ecdsa(data: bytes, signature: bytes) -> bool:
            try:
                key.verify(signature, data, scheme)
            except (InvalidSignature, ValueError, TypeError):
                return False
            return True

        return check_ecdsa
    raise ValueError(f"unsupported signature algorithm {algorithm!r}")


_DETACHED: list[Callable[[bytes, bytes, int, bytes], int] | None] = []


def _sodium_verify_detached() -> Callable[[bytes, bytes, int, bytes], int] | None:
    """libsodium's ``crypto_sign_verify_detached``, called through ctypes on the copy that
    PyNaCl bundles (and has initialised); ``None`` where that library does not export it.

    The same check ``VerifyKey.verify`` makes (``crypto_sign_open`` verifies through the
    same function: canonical S, no small-order R or key, RFC 8032), without joining the
    signature and the message into a new buffer and without the exception on failure:
    78 against 94 µs per check on the project's machine, where a long transcript spends
    most of its time.
    """
    if not _DETACHED:
        found: Callable[[bytes, bytes, int, bytes], int] | None = None
        try:
            import ctypes
            from importlib.util import find_spec

            import nacl.bindings  # noqa: F401  (runs sodium_init)

            spec = find_spec("nacl._sodium")
            if spec is not None and spec.origin:
                function = ctypes.CDLL(spec.origin).crypto_sign_verify_detached
                function.restype = ctypes.c_int
                found = function
        except (OSError, AttributeError, ImportError):
            found = None
        _DETACHED.append(found)
    return _DETACHED[0]


def _p256_public_key(public_key: bytes) -> EllipticCurvePublicKey:
    """A DER SubjectPublicKeyInfo of a P-256 public key, loaded by OpenSSL; else ValueError."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key = load_der_public_key(public_key)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a DER P-256 public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not a P-256 public key")
    return key


def signature_ok(algorithm: str, public_key: bytes, data: bytes, signature: bytes) -> bool:
    """A signature check as a bool (for batch verification that reports positions itself)."""
    try:
        verifier = make_verifier(algorithm, public_key)
    except (ValueError, TypeError, IndexError):
        return False
    return verifier(data, signature)
