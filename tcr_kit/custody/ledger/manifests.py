"""Signed share-set manifests in the ledger: registered at the split, revised by extensions.

One signed event per revision, in a chain the ledger enforces: ``share-set.manifest`` for
the split's manifest (revision 0), ``share-set.extend`` for each later revision, which must
name the ledger's latest revision as its ``previous_sha256``. The event carries the whole
manifest, its digest, the new indices and the lost share (index and credentials) each
replaces; an extension also raises the share set's ``n`` to the new highest index, in the
same transaction. Its subjects are the share set, ``native-set:<set id hex>`` (how a share,
which knows only its set id, finds its manifests) and every replaced credential.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tcr_kit.audit.chain import StoredEvent
from tcr_kit.custody.errors import NotFound
from tcr_kit.custody.ledger.guard import GuardedReader
from tcr_kit.custody.ledger.storage import Actor, serialised
from tcr_kit.custody.lifecycle import CredentialState
from tcr_kit.custody.models import Person, ShareSet, build
from tcr_kit.custody.models import revalidate as _revalidate
from tcr_kit.errors import InputError, IntegrityError

if TYPE_CHECKING:
    from tcr_kit.sharing.manifest import ShareManifest

__all__ = ["MANIFEST_EVENT_KINDS", "ManifestsMixin"]

MANIFEST_EVENT_KINDS = ("share-set.manifest", "share-set.extend")
"""The event kinds that register a manifest revision (split, extension)."""

_LIVE = {CredentialState.ISSUED, CredentialState.SEALED}


class ManifestsMixin(GuardedReader):
    """Register signed manifests; find the registration of a manifest; check its signer."""

    def manifest_history(self, share_set_id: str) -> list[dict[str, Any]]:
        """The events registering the share set's manifest revisions, oldest first."""
        return [
            body
            for body in self.audit.events_about(f"share-set:{share_set_id}")
            if body.get("kind") in MANIFEST_EVENT_KINDS
        ]

    def check_manifest_signer(self, manifest: ShareManifest) -> Person:
        """The roster person who signed ``manifest``; :class:`IntegrityError` (exit 3) unless
        the signer is on the roster and the manifest's key is the one registered to them."""
        signer = manifest.signer
        if signer is None:
            raise IntegrityError(f"the manifest of set {manifest.set_id} is not signed")
        person = self._get_or_none(Person, signer.id)
        if person is None:
            raise IntegrityError(f"the manifest's signer {signer.id} is not on the roster")
        if person.public_key != signer.public_key or person.key_algorithm != signer.algorithm:
            raise IntegrityError(
                f"the manifest is signed by a key that is not the one registered to {signer.id}"
            )
        return person

    def manifest_registration(self, manifest: ShareManifest) -> int:
        """The sequence number of the event that registered ``manifest``, after checking its
        signer against the roster; :class:`IntegrityError` (exit 3) if it was never
        registered or its signer does not check out."""
        self.check_manifest_signer(manifest)
        digest = manifest.signing_digest().hex()
        for body in self.audit.events_about(f"native-set:{manifest.set_id}"):
            payload = body.get("payload")
            if (
                body.get("kind") in MANIFEST_EVENT_KINDS
                and isinstance(payload, dict)
                and payload.get("manifest_sha256") == digest
            ):
                return int(body["seq"])
        raise IntegrityError(
            f"manifest revision {manifest.revision} of set {manifest.set_id} (SHA-256 "
            f"{digest}) is not registered in the ledger"
        )

    @serialised
    def register_manifest(
        self,
        actor: Actor,
        share_set_id: str,
        manifest: ShareManifest,
        *,
        purpose: str | None = None,
        share_set: ShareSet | None = None,
        dry_run: bool = False,
    ) -> StoredEvent:
        """Record a signed manifest revision for share set ``share_set_id``, as ``actor``.

        Revision 0 (the split) creates the share set when ``purpose`` is given and it does
        not exist, else must match its m and n. ``share_set`` is the record to create
        instead (an HSM configuration's set, with its epoch: ``tcr hsm register-set
        --manifest``): the set must not exist yet, and the record must have the manifest's
        m and n; it is written in the manifest's own event. A later revision must follow the
        ledger's latest one; it raises the set's n to the manifest's count and records which lost
        share (index, credentials) each new one replaces. A credential still issued or
        sealed cannot be replaced: record it lost first.

        The manifest's signer, like the actor, is held to the policy: they must have a role
        of ``share-set.sign-manifest`` (default SA, CA) now, else
        :class:`~tcr_kit.errors.NotPermitted` (exit 5) before anything is written.
        """
        from tcr_kit.custody.share_manifests import verify_manifest

        self._permit("share-set.change", actor)
        verify_manifest(manifest)
        signer = self.check_manifest_signer(manifest)
        if signer.retired:
            raise IntegrityError(f"the manifest's signer {signer.id} is retired")
        self._check_rows([f"person:{signer.id}"])
        digest = manifest.signing_digest().hex()
        history = self.manifest_history(share_set_id)
        for body in history:
            if body["payload"].get("manifest_sha256") == digest:
                raise InputError(f"this manifest is already registered (event {body['seq']})")
            if body["payload"].get("native_set_id") != manifest.set_id:
                raise IntegrityError(
                    f"share set {share_set_id} holds native set "
                    f"{body['payload'].get('native_set_id')}, not {manifest.set_id}"
                )
        # After the duplicate check: a manifest registered under an earlier policy is in the
        # ledger already, and a retry must say so, not that its signer may not sign now.
        self.policy().require_signer("share-set.sign-manifest", signer, "the manifest")
        for body in self.audit.events_about(f"native-set:{manifest.set_id}"):
            if f"share-set:{share_set_id}" not in body.get("subjects", []):
                raise IntegrityError(
                    f"native set {manifest.set_id} is registered for another share set"
                )
        current = self._get_or_none(ShareSet, share_set_id)
        record: ShareSet | None = None
        if share_set is not None:
            self._check_new_set(share_set_id, share_set, current, manifest)
        if manifest.revision == 0:
            if history:
                raise InputError(
                    f"share set {share_set_id} already has its split's manifest; an "
                    "extension registers a later revision"
                )
            if share_set is not None:
                record = share_set
            elif current is None:
                if purpose is None:
                    raise NotFound(
                        f"share set {share_set_id} is not in the ledger (give a purpose to "
                        "create it, or register it first)"
                    )
                record = build(
                    ShareSet,
                    id=share_set_id,
                    m=manifest.threshold,
                    n=manifest.count,
                    purpose=purpose,
                    epoch=0,
                )
            elif (current.m, current.n) != (manifest.threshold, manifest.count):
                raise IntegrityError(
                    f"the manifest is {manifest.threshold}-of-{manifest.count}; share set "
                    f"{share_set_id} is {current.m}-of-{current.n}"
                )
        else:
            if current is None:
                raise NotFound(f"share set {share_set_id} is not in the ledger")
            latest = history[-1]["payload"].get("manifest_sha256") if history else None
            if latest != manifest.previous_sha256:
                raise IntegrityError(
                    f"revision {manifest.revision} follows manifest {manifest.previous_sha256}, "
                    f"but the latest registered for share set {share_set_id} is {latest}"
                )
            if current.m != manifest.threshold:
                raise IntegrityError(
                    f"the manifest's threshold {manifest.threshold} is not share set "
                    f"{share_set_id}'s m={current.m}"
                )
            if current.status != "active":
                raise InputError(f"share set {share_set_id} is {current.status}")
            if manifest.count != current.n:
                record = _revalidate(current.model_copy(update={"n": manifest.count}))
        replaced = self._replaced(share_set_id, manifest)
        subjects = [f"share-set:{share_set_id}", f"native-set:{manifest.set_id}"]
        subjects += [f"credential:{c}" for entry in replaced for c in entry["credentials"]]
        extra: dict[str, Any] = {
            "manifest_sha256": digest,
            "native_set_id": manifest.set_id,
            "revision": manifest.revision,
            "signer": signer.id,
            "indices": manifest.indices,
            "new_indices": [s.index for s in manifest.new_shares],
            "replaces": replaced,
            "manifest": manifest.model_dump(mode="json"),
        }
        kind = MANIFEST_EVENT_KINDS[0 if manifest.revision == 0 else 1]
        with self._change(actor, kind, subjects, extra, dry_run=dry_run):
            if record is not None:
                self._put(record)
        return self.last_events[-1]

    @staticmethod
    def _check_new_set(
        share_set_id: str, share_set: ShareSet, current: ShareSet | None, manifest: ShareManifest
    ) -> None:
        """A share set to create with its split's manifest: new, and the manifest's m of n."""
        if current is not None:
            raise InputError(
                f"share set {share_set_id} already exists: record its manifest with 'tcr shares "
                "register MANIFEST --share-set ID'"
            )
        if share_set.id != share_set_id:
            raise ValueError(f"the share set record is {share_set.id}, not {share_set_id}")
        if manifest.revision != 0:
            raise InputError(
                f"a new share set is registered with its split's manifest (revision 0), not "
                f"revision {manifest.revision}"
            )
        if (share_set.m, share_set.n) != (manifest.threshold, manifest.count):
            raise IntegrityError(
                f"the manifest is {manifest.threshold}-of-{manifest.count}; share set "
                f"{share_set_id} is {share_set.m}-of-{share_set.n}"
            )

    def _replaced(self, share_set_id: str, manifest: ShareManifest) -> list[dict[str, Any]]:
        """For each new share that replaces a lost one: the indices and the credentials that
        held the lost share (none may still be issued or sealed)."""
        out: list[dict[str, Any]] = []
        holders = [c for c in self.credentials() if c.share_set == share_set_id]
        for new in manifest.new_shares:
            if new.replaces is None:
                continue
            held = [c for c in holders if c.share_index == new.replaces]
            live = [c for c in held if c.state in _LIVE]
            if live:
                c = live[0]
                raise InputError(
                    f"credential {c.id} holding share {new.replaces} is {c.state.value}: "
                    "record it lost (tcr credential lose) before replacing its share"
                )
            out.append(
                {"index": new.index, "replaces": new.replaces, "credentials": [c.id for c in held]}
            )
        return out
