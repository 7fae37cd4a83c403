"""The share-set manifest, signed: what lets a TCR check one share alone.

A split writes an unsigned manifest beside the shares (:meth:`SplitManifest.record`): the
set id, threshold, count, secret length, label, and each share's SHA-256 (of its compact
form). Signed by the person who split and registered in the ledger, it becomes a
commitment anyone can check a single share against, without the other shares: same set
id, an index the manifest lists, and the very bytes the manifest's digest commits to.

Extending a set (:mod:`tcr_kit.sharing.native_extend`) makes a new *revision* of the
manifest, signed by the extender, that lists every share of the set (old and new), names
the new ones and the lost index each replaces, and chains to the previous revision by its
digest.

This module holds the format and the share check; it signs with anything shaped like a
signer (``algorithm``, ``public_key_bytes()``, ``sign(data)``) but does not verify
signatures: :mod:`tcr_kit.custody.share_manifests` does, with the audit log's one signature
check (the sharing layer never imports the audit layer). The format is specified in
``docs/formats.md`` ("Share-set manifests").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from tcr_kit.errors import InputError, OperationalError
from tcr_kit.sharing.errors import ForeignShareError, ShareError
from tcr_kit.sharing.native_header import validate_label
from tcr_kit.sharing.native_share import NativeShare
from tcr_kit.sharing.native_split import canonical_json

__all__ = [
    "MANIFEST_DOMAIN",
    "MANIFEST_KIND",
    "ManifestEntry",
    "ManifestSigner",
    "NewShare",
    "ShareManifest",
    "check_share",
    "load_manifest",
    "manifest_name_for",
    "parse_manifest",
    "sign_with",
]

MANIFEST_KIND = "tcr-kit share set"
"""The ``manifest`` field of every share-set manifest (unsigned or signed)."""

MANIFEST_DOMAIN = b"tcr-kit/share-manifest/v1\n"
"""Domain separation prefix of the signed digest."""

MAX_MANIFEST_BYTES = 1 << 20
"""Manifests larger than this are refused unread (255 shares take about 40 KB)."""

_Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
_SetIdHex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
_KeyHex = Annotated[str, StringConstraints(pattern=r"^(?:[0-9a-f]{2}){32,300}$")]
_SigHex = Annotated[str, StringConstraints(pattern=r"^(?:[0-9a-f]{2}){8,512}$")]
_SignerId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
_UtcSecond = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")]
_Index = Annotated[int, Field(ge=1, le=255)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ManifestEntry(_Strict):
    """One share of the set: its index and the SHA-256 of its compact form."""

    index: _Index
    sha256: _Hex64
    file: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None


class NewShare(_Strict):
    """A share a revision added, and the index of the lost share it replaces (if any)."""

    index: _Index
    replaces: _Index | None = None


class ManifestSigner(_Strict):
    """Who signed: a roster id, the algorithm and the public key (hex, as the roster keeps
    it: raw 32 bytes for Ed25519, DER SubjectPublicKeyInfo for ECDSA P-256)."""

    id: _SignerId
    algorithm: Literal["ed25519", "ecdsa-p256-sha256"]
    public_key: _KeyHex


class ShareManifest(_Strict):
    """A share-set manifest; signed when ``signer``, ``signed_at`` and ``signature`` are set."""

    count: _Index
    format_version: Literal[1]
    label: str
    manifest: Literal["tcr-kit share set"]
    manifest_version: Literal[1]
    secret_length: Annotated[int, Field(ge=1)]
    set_id: _SetIdHex
    shares: tuple[ManifestEntry, ...]
    threshold: _Index
    # Signed manifests only (absent from the unsigned one a split writes):
    new_shares: tuple[NewShare, ...] = ()
    previous_sha256: _Hex64 | None = None
    revision: Annotated[int, Field(ge=0, le=255)] = 0
    signature: _SigHex | None = None
    signed_at: _UtcSecond | None = None
    signer: ManifestSigner | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ShareManifest:
        try:
            validate_label(self.label)
        except ValueError as exc:
            raise ValueError(f"label: {exc}") from None
        indices = [s.index for s in self.shares]
        if indices != sorted(set(indices)):
            raise ValueError("shares must be listed once each, in index order")
        if not self.threshold <= len(indices):
            raise ValueError(f"lists {len(indices)} shares, fewer than the threshold")
        if indices and indices[-1] > self.count:
            raise ValueError(f"share index {indices[-1]} is above the count {self.count}")
        if (self.revision == 0) != (self.previous_sha256 is None):
            raise ValueError("revision 0 has no previous_sha256; every later revision has one")
        if self.revision == 0 and self.new_shares:
            raise ValueError("revision 0 adds no shares (it is the split)")
        added = [s.index for s in self.new_shares]
        if len(set(added)) != len(added) or not set(added) <= set(indices):
            raise ValueError("new_shares must name distinct shares of the set")
        for new in self.new_shares:
            if new.replaces is not None and (new.replaces in added or new.replaces not in indices):
                raise ValueError(f"share {new.index} replaces {new.replaces}, not an older share")
        parts = (self.signer, self.signed_at, self.signature)
        if any(p is None for p in parts) and any(p is not None for p in parts):
            raise ValueError("signer, signed_at and signature go together")
        return self

    @property
    def signed(self) -> bool:
        return self.signature is not None

    @property
    def set_id_bytes(self) -> bytes:
        return bytes.fromhex(self.set_id)

    @property
    def indices(self) -> list[int]:
        return [s.index for s in self.shares]

    def entry(self, index: int) -> ManifestEntry | None:
        return next((s for s in self.shares if s.index == index), None)

    def body(self) -> dict[str, Any]:
        """Every field but the signature, as JSON values: what the signature covers."""
        return self.model_dump(mode="json", exclude={"signature"})

    def signing_digest(self) -> bytes:
        """SHA-256 of the domain prefix and the canonical body: what the signer signs, and
        the manifest's identity (ledger records, ``previous_sha256``, PGP words)."""
        return hashlib.sha256(MANIFEST_DOMAIN + canonical_json(self.body())).digest()

    def to_bytes(self) -> bytes:
        """The file: canonical JSON (sorted keys, no spaces, UTF-8) and a newline."""
        doc = self.model_dump(mode="json", exclude_none=not self.signed)
        if not self.signed:
            for name in ("new_shares", "revision"):
                doc.pop(name, None)
        return canonical_json(doc) + b"\n"

    def next_revision(self, added: list[ManifestEntry], replaces: dict[int, int]) -> ShareManifest:
        """The unsigned next revision: the shares ``added`` (new indices) join the set,
        ``replaces`` maps a new index to the lost index it stands in for."""
        if not self.signed:
            raise ValueError("only a signed manifest can be extended")
        if not added:
            raise ValueError("a revision adds at least one share")
        entries = sorted([*self.shares, *added], key=lambda e: e.index)
        return ShareManifest(
            count=max(self.count, *(e.index for e in added)),
            format_version=1,
            label=self.label,
            manifest="tcr-kit share set",
            manifest_version=1,
            secret_length=self.secret_length,
            set_id=self.set_id,
            shares=tuple(entries),
            threshold=self.threshold,
            new_shares=tuple(
                NewShare(index=e.index, replaces=replaces.get(e.index)) for e in added
            ),
            previous_sha256=self.signing_digest().hex(),
            revision=self.revision + 1,
        )


class _SignerLike(Protocol):
    """The shape of :class:`tcr_kit.audit.signing.Signer` (a software key or a card)."""

    @property
    def algorithm(self) -> str: ...

    def public_key_bytes(self) -> bytes: ...

    def sign(self, data: bytes) -> bytes: ...


def sign_with(
    manifest: ShareManifest, signer: _SignerLike, signer_id: str, signed_at: str
) -> ShareManifest:
    """``manifest`` signed by ``signer`` as roster id ``signer_id`` at ``signed_at``
    (``YYYY-MM-DDTHH:MM:SSZ``). Any earlier signature is replaced. Callers check the result
    with :func:`tcr_kit.custody.share_manifests.verify_manifest` (or use
    :func:`tcr_kit.custody.share_manifests.sign_manifest`, which does)."""
    doc = manifest.model_dump(mode="json", exclude={"signature"})
    doc["signer"] = {
        "id": signer_id,
        "algorithm": signer.algorithm,
        "public_key": signer.public_key_bytes().hex(),
    }
    doc["signed_at"] = signed_at
    doc["signature"] = "00" * 8  # a placeholder: the signed body leaves the signature out
    try:
        unsigned = _from_doc(doc)
    except ValidationError as exc:
        raise InputError(f"cannot sign the manifest: {_first_error(exc)}") from None
    signature = signer.sign(unsigned.signing_digest())
    return unsigned.model_copy(update={"signature": bytes(signature).hex()})


def parse_manifest(data: bytes, source: str = "manifest") -> ShareManifest:
    """A manifest from its file bytes; :class:`InputError` (exit 2) if it is not one."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise InputError(f"{source}: too large for a share-set manifest")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InputError(f"{source}: not JSON (or nested too deeply)") from None
    if not isinstance(doc, dict) or doc.get("manifest") != MANIFEST_KIND:
        raise InputError(f"{source}: not a tcr-kit share-set manifest")
    try:
        return _from_doc(doc)
    except ValidationError as exc:
        raise InputError(f"{source}: {_first_error(exc)}") from None


def load_manifest(path: str | os.PathLike[str]) -> ShareManifest:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise OperationalError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_manifest(data, str(path))


def check_share(manifest: ShareManifest, share: NativeShare) -> ManifestEntry:
    """Check one share against the manifest alone; returns the manifest's entry for it.

    Raises (all exit 3): :class:`ShareChecksumError` for a share whose own checksum fails,
    :class:`ForeignShareError` for a share of another set, :class:`ShareError` for an index
    the manifest does not list, a header that disagrees with it, or bytes other than the
    ones its digest commits to (altered or substituted). The manifest's signature is not
    checked here (see :func:`tcr_kit.custody.share_manifests.verify_manifest`).
    """
    share.check()
    h = share.header
    if h.set_id_hex != manifest.set_id:
        raise ForeignShareError(
            share.source,
            f"belongs to share set {h.set_id_hex}, not {manifest.set_id} (the manifest's)",
        )
    entry = manifest.entry(h.index)
    if entry is None:
        listed = ", ".join(str(i) for i in manifest.indices)
        raise ShareError(
            share.source,
            f"index {h.index} is not in the manifest of set {manifest.set_id} "
            f"(revision {manifest.revision} lists {listed})",
        )
    if (h.threshold, h.label, h.secret_length) != (
        manifest.threshold,
        manifest.label,
        manifest.secret_length,
    ) or h.count > manifest.count:
        raise ShareError(
            share.source, "its threshold, count, label or secret length disagree with the manifest"
        )
    if not hmac.compare_digest(share.digest(), bytes.fromhex(entry.sha256)):
        raise ShareError(
            share.source,
            f"altered or substituted: its SHA-256 is not the one the manifest commits to "
            f"for index {h.index}",
        )
    return entry


def manifest_name_for(stem: str, revision: int) -> str:
    """File name of a revision: ``<stem>.manifest.json`` (split) or ``<stem>.manifest-rN.json``."""
    return f"{stem}.manifest.json" if revision == 0 else f"{stem}.manifest-r{revision}.json"


def _from_doc(doc: dict[str, Any]) -> ShareManifest:
    """Validate a JSON document (in JSON mode: arrays for tuples, strictly typed)."""
    return ShareManifest.model_validate_json(json.dumps(doc))


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    message = str(err.get("msg", "invalid"))
    return f"{where}: {message}" if where else message
