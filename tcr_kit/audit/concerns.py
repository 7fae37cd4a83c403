"""Which people an audit event concerns: the one rule behind a participant's receipt
(:mod:`tcr_kit.audit.receipt`, re-applied offline by ``tcr audit check-receipt``) and the
person filter of the timeline (``tcr audit show --person``, :mod:`tcr_kit.audit.timeline`).

Two readings of "about me" drifted apart before: a receipt left out the activation a staff
member had signed an override for, and the timeline left out the activation at which a
person's share was presented. A person asking what the log says about them must get the
same answer from both, so both ask :func:`people_concerned`.

An event concerns:

- its ``actor``, and every ``person:<id>`` among its ``subjects``;
- the people it names as witnesses (``witness``, ``witnessed_by``, ``witnesses``, in its
  payload or in a record it writes) and the co-signers its body declares
  (:func:`~tcr_kit.audit.cosign.declared_cosigners`);
- whoever went ahead despite open discrepancies (``override_by``);
- the ``holder`` of a record it writes;
- the holder (``holder`` or ``tcr_id``) of each credential it lists as ``presented``;
- every signer of an activation's emergency override or remote approvals, **rejected ones
  included**: a person must see where their signature was refused, not only where it held;
- the signer of a share set's signed manifest (``manifest.signer.id``);
- the ``owner`` of the key an ``audit.key.add`` event registers: it is that key that lets
  the log accept events and statements as theirs, so a key put in their name must show in
  what they check (``person.add`` and ``person.rekey`` name them, but the registration is
  a separate event). A revocation names only the key id, not its owner: it is read from the
  body alone, so it is found through the ``person.rekey`` beside it.

Only what the signed body says is read, and only text values count: a malformed field names
nobody (the verifier judges the event itself).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tcr_kit.audit.chain import KEY_ADD
from tcr_kit.audit.cosign import declared_cosigners

__all__ = ["concerns", "people_concerned"]

_WITNESS_FIELDS = ("witness", "witnessed_by")


def people_concerned(body: Mapping[str, Any]) -> set[str]:
    """Everyone the event ``body`` (parsed) concerns, by the rule in the module docstring."""
    found: list[object] = [body.get("actor")]
    subjects = body.get("subjects")
    for subject in subjects if isinstance(subjects, list) else ():
        if isinstance(subject, str) and subject.startswith("person:"):
            found.append(subject.removeprefix("person:"))
    payload = body.get("payload")
    if isinstance(payload, dict):
        found += _payload_people(payload)
        if body.get("kind") == KEY_ADD:
            found.append(payload.get("owner"))
        try:
            found += [person for person, _ in declared_cosigners(dict(body)) or ()]
        except ValueError:  # a malformed declaration: the verifier refuses it
            pass
    return {who for who in found if isinstance(who, str)}


def concerns(body: Mapping[str, Any], person: str) -> bool:
    """Whether the event ``body`` concerns ``person`` (one of :func:`people_concerned`)."""
    return person in people_concerned(body)


def _payload_people(payload: dict[str, Any]) -> list[object]:
    records = [r for r in _items(payload.get("records")) if isinstance(r.get("doc"), dict)]
    docs = [r["doc"] for r in records]
    found: list[object] = [payload.get("override_by")]
    for source in (payload, *docs):
        found += [source.get(name) for name in _WITNESS_FIELDS]
        witnesses = source.get("witnesses")
        found += witnesses if isinstance(witnesses, list) else []
    found += [doc.get("holder") for doc in docs]
    for item in _items(payload.get("presented")):
        found += [item.get("holder"), item.get("tcr_id")]
    override = payload.get("override")
    if isinstance(override, dict):
        found += [s.get("person") for s in _items(override.get("signatures"))]
    approvals = payload.get("approvals")
    if isinstance(approvals, dict):
        found += [a.get("signer") for a in _items(approvals.get("approvals"))]
        found += [r.get("signer") for r in _items(approvals.get("rejected"))]
    manifest = payload.get("manifest")
    if isinstance(manifest, dict) and isinstance(manifest.get("signer"), dict):
        found.append(manifest["signer"].get("id"))
    return found


def _items(value: object) -> Iterable[dict[str, Any]]:
    """The objects of a list field (anything else in it, or a field that is no list, is
    skipped)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
