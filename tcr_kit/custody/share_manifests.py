"""Signed share-set manifests: sign, verify, check one share alone, extend a set.

The manifest format and the share check live in :mod:`tcr_kit.sharing.manifest`; this
module adds what needs the audit layer's keys and the ledger: signing with a software key
or a card (any :class:`~tcr_kit.audit.signing.Signer`), verifying with the one signature
check of tcr-kit, and checking that the signer is on the roster and the manifest is
registered (the ledger side is :mod:`tcr_kit.custody.ledger.manifests`).

Why a signed manifest: a TCR handed a share at a ceremony could only learn at the next
combine whether it belongs to the set. With the manifest (signed by the person who split,
registered in the ledger) the TCR checks it alone, on receipt: the same set, an index the
set has, and exactly the bytes committed to. Nothing in the manifest says anything about
the secret (share digests of random-looking shares, no hash of the secret).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tcr_kit.audit.pgpwords import digest_words
from tcr_kit.audit.signing import Signer, key_id, verify_signature
from tcr_kit.clock import utcnow
from tcr_kit.errors import InputError, IntegrityError
from tcr_kit.sharing.manifest import (
    ManifestEntry,
    ShareManifest,
    check_share,
    manifest_name_for,
    sign_with,
)
from tcr_kit.sharing.native_share import NativeShare, open_share_file

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Actor, Ledger
    from tcr_kit.sharing.native_extend import ExtendOutcome

__all__ = [
    "ExtendResult",
    "ShareCheck",
    "check_share_alone",
    "describe_manifest",
    "extend_set",
    "manifest_facts",
    "sign_manifest",
    "verify_manifest",
]


def manifest_facts(manifest: ShareManifest) -> dict[str, object]:
    """What commands report about a manifest (JSON-ready): the set, the revision, the
    signer and the signed digest as hex and PGP words."""
    hex_, words = digest_words(manifest.signing_digest())
    return {
        "set_id": manifest.set_id,
        "threshold": manifest.threshold,
        "count": manifest.count,
        "revision": manifest.revision,
        "indices": manifest.indices,
        "signer": manifest.signer.id if manifest.signer else None,
        "manifest_sha256": hex_,
        "manifest_pgp_words": words,
    }


def describe_manifest(manifest: ShareManifest) -> list[str]:
    """The manifest for people: the set, who signed which revision, the digest to read aloud."""
    hex_, words = digest_words(manifest.signing_digest())
    signer = manifest.signer
    who = f"{signer.id} ({signer.algorithm})" if signer else "nobody (unsigned)"
    when = f" at {manifest.signed_at}" if manifest.signed_at else ""
    label = f", label {manifest.label!r}" if manifest.label else ""
    return [
        f"share set {manifest.set_id}: {manifest.threshold} of up to {manifest.count}, "
        f"secret {manifest.secret_length} bytes{label}",
        f"manifest revision {manifest.revision}, signed by {who}{when}",
        f"  indices: {', '.join(str(i) for i in manifest.indices)}",
        f"  SHA-256: {hex_}",
        f"  PGP Words: {words}",
    ]


def _utc_second(when: datetime | None) -> str:
    return (when or utcnow()).strftime("%Y-%m-%dT%H:%M:%SZ")


def verify_manifest(manifest: ShareManifest, expected_public_key: bytes | None = None) -> None:
    """Raise (exit 3) unless ``manifest`` is signed, its signature verifies under the key it
    names, and (when given) that key is ``expected_public_key``."""
    if manifest.signer is None or manifest.signature is None:
        raise IntegrityError(
            f"the manifest of set {manifest.set_id} is not signed: sign it (tcr shares sign)"
        )
    public = bytes.fromhex(manifest.signer.public_key)
    if expected_public_key is not None and public != expected_public_key:
        raise IntegrityError(
            f"the manifest is signed by key {key_id(public)} ({manifest.signer.id}), not by "
            f"the expected key {key_id(expected_public_key)}"
        )
    verify_signature(
        manifest.signer.algorithm,
        public,
        manifest.signing_digest(),
        bytes.fromhex(manifest.signature),
        key_name=f"{key_id(public)} ({manifest.signer.id}): the manifest was altered or "
        "its signature forged",
    )


def sign_manifest(
    manifest: ShareManifest, signer: Signer, signer_id: str, *, at: datetime | None = None
) -> ShareManifest:
    """``manifest`` signed by ``signer`` (a software key or a card) as roster id
    ``signer_id``; the signature is checked before it is returned. A manifest that is
    signed already is refused (exit 2): a new revision comes from an extension."""
    if manifest.signed and manifest.signer is not None:
        raise InputError(
            f"the manifest of set {manifest.set_id} is signed already (by "
            f"{manifest.signer.id}, revision {manifest.revision})"
        )
    signed = sign_with(manifest, signer, signer_id, _utc_second(at))
    verify_manifest(signed, signer.public_key_bytes())
    return signed


@dataclass(frozen=True)
class ShareCheck:
    """What :func:`check_share_alone` established about one share."""

    share: NativeShare
    manifest: ShareManifest
    entry: ManifestEntry
    signer_checked: bool
    registered_at: int | None = None
    """The ledger event that registered the manifest (with a ledger)."""

    def facts(self) -> dict[str, object]:
        signer = self.manifest.signer
        return {
            "share": self.share.source,
            "set_id": self.manifest.set_id,
            "index": self.entry.index,
            "threshold": self.manifest.threshold,
            "count": self.manifest.count,
            "share_sha256": self.entry.sha256,
            "manifest_revision": self.manifest.revision,
            "manifest_sha256": self.manifest.signing_digest().hex(),
            "signer": signer.id if signer else None,
            "signer_key_id": key_id(bytes.fromhex(signer.public_key)) if signer else None,
            "signer_checked": self.signer_checked,
            "registered_at_event": self.registered_at,
        }

    def describe(self) -> list[str]:
        """The verdict for people, saying plainly whether the signer was checked."""
        f = self.facts()
        if not self.signer_checked:
            how = "self-signed only: signature valid, signer NOT checked"
        elif self.registered_at is not None:
            how = "signature and signer verified; registered in the ledger at event "
            how += str(self.registered_at)
        else:
            how = "signature and signer verified"
        return [
            f"{f['share']}: share {f['index']} of set {f['set_id']} (threshold "
            f"{f['threshold']}) belongs to the signed set",
            f"manifest revision {f['manifest_revision']}, signed by {f['signer']} "
            f"(key {f['signer_key_id']}): {how}",
            f"  share SHA-256: {f['share_sha256']}",
        ]


def check_share_alone(
    share: NativeShare,
    manifest: ShareManifest,
    *,
    expected_public_key: bytes | None = None,
    ledger: Ledger | None = None,
    self_signed_only: bool = False,
) -> ShareCheck:
    """Check that ``share`` belongs to the signed set ``manifest`` describes, at its index.

    The manifest's signature is always verified. The signer is checked against
    ``expected_public_key`` and/or ``ledger`` (the signer's registered roster key, and the
    manifest registered for the set). With neither, the signer is not checked: that is
    refused (exit 3, saying so) unless ``self_signed_only``, and the result says it. Every
    failure raises an exit-3 error that says what is wrong.
    """
    verify_manifest(manifest, expected_public_key)
    registered = None
    if ledger is not None:
        registered = ledger.manifest_registration(manifest)
    entry = check_share(manifest, share)
    checked = expected_public_key is not None or ledger is not None
    if not checked and not self_signed_only:
        raise IntegrityError(
            f"{share.source}: matches the manifest, whose signature verifies under the key "
            "inside it, but the signer was NOT checked: give the signer's public key or "
            "check against the ledger (or accept a self-signed check explicitly)"
        )
    return ShareCheck(share, manifest, entry, checked, registered)


@dataclass(frozen=True)
class ExtendResult:
    """A finished extension: the new share files and the new manifest revision."""

    outcome: ExtendOutcome
    manifest: ShareManifest
    manifest_path: Path
    replaces: dict[int, int]


def extend_set(
    share_paths: Sequence[Path],
    manifest: ShareManifest,
    signer: Signer,
    signer_id: str,
    out_dir: Path,
    *,
    count: int | None = None,
    indices: Sequence[int] = (),
    replaces: Sequence[int] = (),
    encoding: str = "auto",
    force: bool = False,
    ledger: Ledger | None = None,
    actor: Actor | None = None,
    share_set_id: str | None = None,
    dry_run: bool = False,
) -> ExtendResult:
    """Make new shares of the set ``manifest`` describes from ``share_paths`` (at least m of
    its shares, each checked against the manifest), and the manifest's next revision signed
    by ``signer`` as ``signer_id``.

    ``replaces`` are lost indices, one per new share in order, recorded in the manifest and
    the ledger. With ``ledger`` (and ``actor``, ``share_set_id``) the new revision is
    registered (one signed event) before any file is published; if that is refused, no file
    appears. ``dry_run`` checks everything and publishes and records nothing.
    Refusals: shares of another set or altered (exit 3), fewer than m shares (exit 4), an
    index already issued (exit 3), a replaced index the set does not have (exit 2).
    """
    from tcr_kit.sharing.native_extend import ExtendOutcome, extend_to_dir, plan_indices

    verify_manifest(manifest)
    shares = [open_share_file(p, str(p)) for p in share_paths]
    for share in shares:
        check_share(manifest, share)
    new = plan_indices(shares, count=count, indices=indices, known=[manifest.count])
    if len(replaces) > len(new):
        raise InputError(f"{len(replaces)} replaced indices for {len(new)} new shares")
    replacing = dict(zip(new, replaces, strict=False))
    given = {s.index: s.source for s in shares}
    for old in replaces:
        if manifest.entry(old) is None:
            raise InputError(f"--replaces {old}: the set has no share {old} to replace")
        if old in given:
            raise InputError(
                f"--replaces {old}: share {old} was given ({given[old]}), so it is not lost"
            )
    if len(set(replaces)) != len(replaces):
        raise InputError("a lost index was given twice")
    from tcr_kit.sharing.files import stem_of_share

    stem = stem_of_share(share_paths[0])
    path = out_dir / manifest_name_for(stem, manifest.revision + 1)
    made: list[ShareManifest] = []

    def finish(written: list[tuple[int, bytes, str]]) -> list[bytes]:
        added = [ManifestEntry(index=x, sha256=d.hex(), file=name) for x, d, name in written]
        try:
            unsigned = manifest.next_revision(added, replacing)
        except ValueError as exc:
            raise InputError(f"cannot extend the manifest: {exc}") from None
        signed = sign_manifest(unsigned, signer, signer_id)
        if ledger is not None:
            if actor is None or share_set_id is None:
                raise ValueError("recording an extension needs the actor and the share set")
            ledger.register_manifest(actor, share_set_id, signed, dry_run=dry_run)
        made.append(signed)
        if dry_run:
            raise _DryRunDone
        return [signed.to_bytes()]

    try:
        outcome = extend_to_dir(
            share_paths, new, out_dir, stem, encoding=encoding, extra_paths=[path],
            finish=finish, force=force,
        )  # fmt: skip
    except _DryRunDone:
        outcome = ExtendOutcome(new, [], [], encoding, [])
    return ExtendResult(outcome, made[0], path, replacing)


class _DryRunDone(Exception):
    """Unwinds a dry run after the checks, so that no file is published."""
