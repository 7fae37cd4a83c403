"""Credentials (smartcards, tokens, keys, ...) and the share sets they carry shares of."""

from __future__ import annotations

import hashlib
import json

from tcr_kit.custody.ledger.guard import GuardedReader
from tcr_kit.custody.ledger.storage import Actor, serialised
from tcr_kit.custody.lifecycle import CredentialAction, CredentialState, credential_transition
from tcr_kit.custody.models import Credential, ShareSet
from tcr_kit.custody.models import revalidate as _revalidate
from tcr_kit.errors import InputError, IntegrityError

__all__ = ["CredentialsMixin", "enrolment_sha256"]


def enrolment_sha256(record_json: str) -> str:
    """The SHA-256 (hex) the ledger records for a card enrolment record (its UTF-8 text)."""
    return hashlib.sha256(record_json.encode("utf-8")).hexdigest()


def check_enrolment(cred: Credential, record_json: str) -> None:
    """The enrolment record must describe ``cred``: the card serial, the TCR (holder) and
    the share index agree; :class:`IntegrityError` (exit 3) names each disagreement."""
    try:
        doc = json.loads(record_json)
    except ValueError:
        raise InputError("enrolment record is not JSON") from None
    card = doc.get("card") if isinstance(doc, dict) else None
    tcr = doc.get("tcr") if isinstance(doc, dict) else None
    share = doc.get("share") if isinstance(doc, dict) else None
    problems = []
    if isinstance(card, dict) and card.get("serial") is not None:
        if str(card["serial"]) != cred.serial:
            problems.append(f"card serial {card['serial']} is not {cred.serial}")
    if isinstance(tcr, dict) and tcr.get("id") is not None and cred.holder is not None:
        if str(tcr["id"]) != cred.holder:
            problems.append(f"TCR {tcr['id']} is not the holder {cred.holder}")
    if isinstance(share, dict) and share.get("index") is not None:
        if share["index"] != cred.share_index:
            problems.append(f"share index {share['index']} is not {cred.share_index}")
    if problems:
        raise IntegrityError(
            f"enrolment record does not describe credential {cred.id}: {'; '.join(problems)}"
        )


class CredentialsMixin(GuardedReader):
    """Register share sets and credentials; attach enrolment records; retire, destroy or
    lose a credential outside a bag."""

    @serialised
    def add_share_set(self, actor: Actor, share_set: ShareSet, *, dry_run: bool = False) -> None:
        self._permit("share-set.change", actor)
        if self._get_or_none(ShareSet, share_set.id) is not None:
            raise InputError(f"share set {share_set.id} already exists")
        with self._change(actor, "share-set.add", [f"share-set:{share_set.id}"], dry_run=dry_run):
            self._put(share_set)

    @serialised
    def retire_share_set(self, actor: Actor, sid: str, *, dry_run: bool = False) -> ShareSet:
        """Mark a share set retired (after a rekey replaced it)."""
        self._permit("share-set.change", actor)
        current = self.share_set(sid)
        if current.status == "retired":
            raise InputError(f"share set {sid} is already retired")
        updated = _revalidate(current.model_copy(update={"status": "retired"}))
        with self._change(actor, "share-set.retire", [f"share-set:{sid}"], dry_run=dry_run):
            self._put(updated)
        return updated

    @serialised
    def add_credential(
        self, actor: Actor, credential: Credential, *, dry_run: bool = False
    ) -> Credential:
        self._permit("credential.add", actor)
        if self._get_or_none(Credential, credential.id) is not None:
            raise InputError(f"credential {credential.id} already exists")
        if credential.state != CredentialState.ISSUED:
            raise InputError("a new credential starts as issued (seal it into a bag after)")
        if credential.enrolment_record is not None:
            check_enrolment(credential, credential.enrolment_record)
        self._require_person(credential.holder, "holder")
        if credential.share_set is not None:
            share_set = self.share_set(credential.share_set)
            if credential.share_index is not None and credential.share_index > share_set.n:
                raise InputError(f"share index {credential.share_index} > n={share_set.n}")
        with self._change(
            actor, "credential.add", [f"credential:{credential.id}"], dry_run=dry_run
        ):
            self._put(credential)
        return credential

    @serialised
    def record_enrolment(
        self, actor: Actor, credential_id: str, record_json: str, *, dry_run: bool = False
    ) -> Credential:
        """Attach a card enrolment record (JSON text from the cards work) to a credential."""
        try:
            json.loads(record_json)
        except ValueError:
            raise InputError("enrolment record is not JSON") from None
        cred = self.credential(credential_id)
        self._permit("credential.add", actor, credentials=[cred])
        check_enrolment(cred, record_json)
        digest = enrolment_sha256(record_json)
        updated = _revalidate(
            cred.model_copy(update={"enrolment_record": record_json, "enrolment_sha256": digest})
        )
        with self._change(
            actor,
            "credential.enrolment",
            [f"credential:{credential_id}"],
            {"enrolment_sha256": digest},
            dry_run=dry_run,
        ):
            self._put(updated)
        return updated

    @serialised
    def replace_credential(
        self, actor: Actor, old_id: str, new: Credential, *, dry_run: bool = False
    ) -> Credential:
        """Retire credential ``old_id`` and register ``new`` in its place (a rotated card),
        in one change: ``new`` takes the old holder, share set and index unless it names
        its own. The old credential must be issued (taken out of its bag)."""
        old = self.credential(old_id)
        self._permit("credential.lifecycle", actor, credentials=[old], vouching=True)
        if self._get_or_none(Credential, new.id) is not None:
            raise InputError(f"credential {new.id} already exists")
        if new.state != CredentialState.ISSUED:
            raise InputError("a new credential starts as issued (seal it into a bag after)")
        state = credential_transition(
            old.id, old.state, CredentialAction.RETIRE, actor.person, None
        )
        if old.state != CredentialState.ISSUED:
            raise InputError(f"credential {old.id} is {old.state.value}: open its bag first")
        fill = {
            "holder": new.holder or old.holder,
            "share_set": new.share_set or old.share_set,
            "share_index": new.share_index or old.share_index,
            "note": new.note or f"replaces {old.id}",
        }
        new = _revalidate(new.model_copy(update=fill))
        if new.enrolment_record is not None:
            check_enrolment(new, new.enrolment_record)
        self._require_person(new.holder, "holder")
        retired = _revalidate(old.model_copy(update={"state": state, "bag": None}))
        with self._change(
            actor,
            "credential.replace",
            [f"credential:{old.id}", f"credential:{new.id}"],
            {"old": old.id, "new": new.id},
            dry_run=dry_run,
        ):
            self._put(retired)
            self._put(new)
        return new

    @serialised
    def credential_action(
        self,
        actor: Actor,
        credential_id: str,
        action: CredentialAction,
        *,
        witness: str | None = None,
        dry_run: bool = False,
    ) -> Credential:
        """Retire, destroy or lose a credential outside a bag operation."""
        if action in (CredentialAction.SEAL, CredentialAction.UNSEAL):
            raise InputError("credentials are sealed and unsealed through bag operations")
        cred = self.credential(credential_id)
        self._require_person(witness, "witness")
        self._permit(
            "credential.lifecycle", actor, witness=witness, credentials=[cred], vouching=True
        )
        state = credential_transition(cred.id, cred.state, action, actor.person, witness)
        updated = _revalidate(cred.model_copy(update={"state": state, "bag": None}))
        subjects = [f"credential:{cred.id}"] + ([f"bag:{cred.bag}"] if cred.bag else [])
        extra = {"witness": witness} if witness else None
        with self._change(actor, f"credential.{action.value}", subjects, extra, dry_run=dry_run):
            self._put(updated)
        return updated
