"""The signed manifest chain of a ledger share set, checked before an HSM step relies on it.

A marker raise (:func:`~tcr_kit.hsm.provision.check_raise_with_ledger`) and ``tcr hsm
config-rekey`` (:mod:`~tcr_kit.hsm.config_rekey`) take the ledger's share set as the HSM's
shares only when its registered manifests say so. What the ledger records beside a manifest
(``native_set_id``, ``revision``, the set's ``m`` and ``n``) is written by whoever holds the
actor's key; only the manifest itself is signed by a roster signer. So the chain is read
once and checked as a whole here, against the signed text: each revision's signature, its
key registered to its signer (not revoked, the signer not retired) at the event that
recorded it, its digest the one recorded, its native set the one expected (recorded and
signed alike), revisions 0, 1, 2, ... each naming the one before as ``previous_sha256``,
every threshold the ledger's m, and the latest count the ledger's n. Any mismatch is
:class:`~tcr_kit.hsm.errors.WrongShareSet` (exit 3), naming the event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tcr_kit.errors import InputError, IntegrityError
from tcr_kit.hsm.errors import WrongShareSet

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Ledger
    from tcr_kit.custody.models import ShareSet
    from tcr_kit.sharing.manifest import ShareManifest

__all__ = ["ManifestRevision", "checked_manifest_chain"]


@dataclass(frozen=True)
class ManifestRevision:
    """One registered revision of a set's signed manifest, checked: its event's ``seq``,
    its ``kind`` and recorded ``payload``, and the manifest parsed from it."""

    seq: int
    kind: str
    payload: dict[str, Any]
    manifest: ShareManifest


def checked_manifest_chain(
    ledger: Ledger,
    share_set: ShareSet,
    history: list[dict[str, Any]],
    native_set_id: str,
    native_what: str,
) -> list[ManifestRevision]:
    """``history`` (the ledger's ``manifest_history`` of ``share_set``, read once by the
    caller) as checked revisions, oldest first, after checking them as one chain of
    ``native_set_id`` (``native_what`` says whose set that is, for the message) with the
    ledger's m and n; ``[]`` when none is registered."""
    from tcr_kit.custody.ledger.manifests import MANIFEST_EVENT_KINDS
    from tcr_kit.custody.share_manifests import verify_manifest
    from tcr_kit.sharing.manifest import parse_manifest

    chain: list[ManifestRevision] = []
    for body in history:
        recorded = body.get("payload")
        payload: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
        seq = int(body["seq"])
        where = f"share set {share_set.id}'s signed manifest of audit event {seq}"
        try:
            manifest = parse_manifest(json.dumps(payload.get("manifest")).encode(), where)
            verify_manifest(manifest)
            _check_signer(ledger, manifest, seq)
        except InputError as exc:
            raise WrongShareSet(str(exc)) from None
        except IntegrityError as exc:
            raise WrongShareSet(f"{where}: {exc}") from None
        revision = len(chain)
        previous = chain[-1].payload.get("manifest_sha256") if chain else None
        if payload.get("manifest_sha256") != manifest.signing_digest().hex():
            raise WrongShareSet(f"{where} does not hash to the manifest_sha256 recorded with it")
        recorded_set = payload.get("native_set_id")
        if {recorded_set, manifest.set_id} != {native_set_id}:
            also = "" if recorded_set == manifest.set_id else f" (recorded as {recorded_set})"
            raise WrongShareSet(
                f"{where} is of native set {manifest.set_id}{also}; {native_what} native set"
                f" {native_set_id}"
            )
        if (
            manifest.revision != revision
            or payload.get("revision") != revision
            or body.get("kind") != MANIFEST_EVENT_KINDS[0 if revision == 0 else 1]
            or manifest.previous_sha256 != previous
        ):
            raise WrongShareSet(
                f"{where} is revision {manifest.revision} following {manifest.previous_sha256};"
                f" the set's chain needs revision {revision} following {previous}"
            )
        if manifest.threshold != share_set.m:
            raise WrongShareSet(
                f"{where} has threshold {manifest.threshold}; the ledger's m is {share_set.m}:"
                " the ledger does not describe the signed shares"
            )
        chain.append(ManifestRevision(seq, str(body.get("kind")), payload, manifest))
    if chain and chain[-1].manifest.count != share_set.n:
        raise WrongShareSet(
            f"share set {share_set.id} has {share_set.n} shares in the ledger; its latest signed"
            f" manifest (audit event {chain[-1].seq}) counts {chain[-1].manifest.count}"
        )
    return chain


def _check_signer(ledger: Ledger, manifest: ShareManifest, seq: int) -> None:
    """The manifest's key was registered to its signer, and not revoked, at the event that
    recorded it (audit event ``seq``), and the signer had not been retired by then: the
    key timeline, not today's roster, since a signer may have replaced their key or left
    since (what ``tcr audit verify`` checks too). :class:`IntegrityError` otherwise."""
    from tcr_kit.audit.signing import key_id

    signer = manifest.signer
    assert signer is not None  # noqa: S101 - verify_manifest
    kid = key_id(bytes.fromhex(signer.public_key))
    key = ledger.audit.key_of(kid)
    if (
        key is None
        or key.owner != signer.id
        or key.algorithm != signer.algorithm
        or key.added_seq >= seq
        or (key.revoked_seq is not None and key.revoked_seq < seq)
    ):
        raise IntegrityError(f"it is signed by key {kid}, not {signer.id}'s at that event")
    for body in ledger.audit.events_about(f"person:{signer.id}"):
        if body.get("kind") == "person.retire" and int(body["seq"]) < seq:
            raise IntegrityError(f"its signer {signer.id} was retired at audit event {body['seq']}")
