"""A person's own history, computed from audit events alone: their credentials, the bags
those were ever in, and every event about either (state changes, inspections, discrepancies,
overrides) with its time and witnesses; and the HSM activations and share-set manifests that
concern them, with what each was to them (a share they presented, an override or approval
they signed and whether it held, a manifest they signed).

Which activations and manifests concern a person is not decided here: it is the one rule of
:func:`~tcr_kit.audit.concerns.people_concerned` (that receipts and ``tcr audit show
--person`` apply), read from each entry's :attr:`~tcr_kit.audit.timeline.TimelineEntry.
concerned`. This module only says *how* each concerns them.

The same computation serves ``tcr status`` inside the staff ledger and ``tcr status
--transcript FILE`` on a TCR's own machine, where only a verified transcript is at hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tcr_kit.audit.timeline import TimelineEntry
from tcr_kit.custody.errors import NotFound
from tcr_kit.errors import IntegrityError

__all__ = ["ConcerningEvent", "CredentialNow", "Involvement", "PersonHistory", "person_history"]

_ACTIVATION_KIND = "hsm.activate"
_MANIFEST_KINDS = ("share-set.manifest", "share-set.extend")
"""The events that record a share set's signed manifest (its split, then each extension):
:data:`tcr_kit.custody.ledger.manifests.MANIFEST_EVENT_KINDS`, not imported from there to
keep ``tcr status`` free of the ledger facade."""


@dataclass(frozen=True)
class CredentialNow:
    """A credential as the last event about it left it."""

    credential: str
    kind: str
    serial: str
    state: str
    bag: str | None
    bag_state: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "credential": self.credential,
            "kind": self.kind,
            "serial": self.serial,
            "state": self.state,
            "bag": self.bag,
            "bag_state": self.bag_state,
        }


@dataclass(frozen=True)
class Involvement:
    """One way an activation or a manifest event concerns a person."""

    how: str
    """``presented-share``, ``override-signer``, ``approval-signer``, ``manifest-signer``,
    ``actor`` (they recorded it) or ``named`` (a subject or witness of it)."""
    share: int | None = None
    """The index of the share they presented."""
    revision: int | None = None
    """The revision of the manifest they signed."""
    verdict: str | None = None
    """For a signed override or approval: ``held``, ``rejected`` or ``not re-checked``, as
    ``tcr audit verify`` reads the event (:class:`~tcr_kit.audit.timeline.StatementSigner`)."""
    reason: str | None = None
    """Why their signature was rejected, where the event says."""

    def text(self) -> str:
        """As a person reads it: ``presented share 2``, ``signed the override (rejected:
        REASON)``, ``approval counted``, ``signed manifest revision 1``."""
        why = f": {self.reason}" if self.reason else ""
        if self.how == "presented-share":
            return f"presented share {self.share if self.share is not None else '?'}"
        if self.how == "manifest-signer":
            rev = self.revision if self.revision is not None else "?"
            return f"signed manifest revision {rev}"
        if self.how == "override-signer":
            if self.verdict == "held":
                return "signed the override"
            return f"signed the override ({self.verdict}{why})"
        if self.how == "approval-signer":
            word = {"held": "counted"}.get(str(self.verdict), str(self.verdict))
            return f"approval {word}" + (f" ({self.reason})" if self.reason else "")
        return {"actor": "recorded it"}.get(self.how, "named in it")

    def to_json(self) -> dict[str, Any]:
        return {
            "as": self.how,
            "share": self.share,
            "revision": self.revision,
            "verdict": self.verdict,
            "reason": self.reason,
            "text": self.text(),
        }


@dataclass(frozen=True)
class ConcerningEvent:
    """An activation or manifest event that concerns a person, and how."""

    seq: int
    time: str
    action: str
    outcome: str
    involvements: tuple[Involvement, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "action": self.action,
            "outcome": self.outcome,
            "involvements": [i.to_json() for i in self.involvements],
        }


@dataclass(frozen=True)
class PersonHistory:
    person: str
    name: str
    roles: tuple[str, ...]
    credentials: tuple[CredentialNow, ...]
    bags: tuple[str, ...]
    """Every bag that ever held one of the person's credentials."""
    history: tuple[TimelineEntry, ...]
    activations: tuple[ConcerningEvent, ...] = ()
    """The ``hsm.activate`` events that concern the person, refused ones included."""
    manifests: tuple[ConcerningEvent, ...] = ()
    """The share-set manifest events that concern the person."""

    def to_json(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "name": self.name,
            "roles": list(self.roles),
            "credentials": [c.to_json() for c in self.credentials],
            "bags": list(self.bags),
            "history": [e.to_json() for e in self.history],
            "activations": [a.to_json() for a in self.activations],
            "manifests": [m.to_json() for m in self.manifests],
        }


def person_history(entries: list[TimelineEntry], person: str) -> PersonHistory:
    """Replay the records the events carry; keep what concerns ``person``.

    The verifier does not check the shape of a record's document, so a verified log may
    hold one this replay cannot read (written by whoever held the actor's key): that is
    :class:`~tcr_kit.errors.IntegrityError` naming the event, never a traceback."""
    for entry in entries:
        try:
            _check_records(entry)
        except (TypeError, KeyError, AttributeError) as exc:
            raise IntegrityError(
                f"audit event {entry.seq}: a record it writes is malformed"
                f" ({type(exc).__name__}: {exc}); tcr audit verify does not check it"
            ) from None
    return _replay(entries, person)


def _check_records(entry: TimelineEntry) -> None:
    """Raise ``TypeError`` unless every record of ``entry`` has the fields the replay reads,
    of the types it reads them as."""
    for r in entry.records:
        if not {"table", "key"} <= set(r) or not isinstance(r.get("doc"), dict):
            raise TypeError("it lacks its table, key or doc object")
        contents, roles = r["doc"].get("contents"), r["doc"].get("roles")
        if contents is not None and not (
            isinstance(contents, list) and all(isinstance(c, str) for c in contents)
        ):
            raise TypeError("its contents are not a list of ids")
        if roles is not None and not isinstance(roles, list):
            raise TypeError("its roles are not a list")


def _replay(entries: list[TimelineEntry], person: str) -> PersonHistory:
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    bags_of: set[str] = set()
    creds_of: set[str] = set()
    for entry in entries:
        for r in entry.records:
            latest[(str(r["table"]), str(r["key"]))] = r["doc"]
            doc = r["doc"]
            if r["table"] == "credential" and doc.get("holder") == person:
                creds_of.add(str(r["key"]))
        for entry_record in entry.records:
            doc = entry_record["doc"]
            if entry_record["table"] == "bag" and creds_of & set(doc.get("contents") or ()):
                bags_of.add(str(entry_record["key"]))
    who = latest.get(("person", person))
    if who is None:
        raise NotFound(f"person {person} is not in these events")
    creds = []
    for cid in sorted(creds_of):
        doc = latest[("credential", cid)]
        if doc.get("holder") != person:
            continue
        bag = doc.get("bag")
        bag_doc = latest.get(("bag", str(bag))) if bag else None
        creds.append(
            CredentialNow(
                credential=cid,
                kind=str(doc.get("kind")),
                serial=str(doc.get("serial")),
                state=str(doc.get("state")),
                bag=str(bag) if bag else None,
                bag_state=str(bag_doc.get("state")) if bag_doc else None,
            )
        )
    about = {f"credential:{c}" for c in creds_of} | {f"bag:{b}" for b in bags_of}
    about.add(f"person:{person}")
    history = tuple(e for e in entries if about & set(e.objects))
    return PersonHistory(
        person=person,
        name=str(who.get("name", person)),
        roles=tuple(str(r) for r in who.get("roles") or ()),
        credentials=tuple(creds),
        bags=tuple(sorted(bags_of)),
        history=history,
        activations=_concerning(entries, person, (_ACTIVATION_KIND,)),
        manifests=_concerning(entries, person, _MANIFEST_KINDS),
    )


def _concerning(
    entries: list[TimelineEntry], person: str, kinds: tuple[str, ...]
) -> tuple[ConcerningEvent, ...]:
    """The entries of ``kinds`` that concern ``person`` (by the one rule, which
    :attr:`TimelineEntry.concerned <tcr_kit.audit.timeline.TimelineEntry.concerned>`
    holds), each with how it concerns them."""
    return tuple(
        ConcerningEvent(e.seq, e.time, e.action, e.outcome, _involvements(e, person))
        for e in entries
        if e.action in kinds and person in e.concerned
    )


def _involvements(entry: TimelineEntry, person: str) -> tuple[Involvement, ...]:
    """How ``entry`` concerns ``person``: having recorded it (its actor), the share they
    presented, each override or approval signature of theirs with its verdict, the manifest
    they signed; failing all of those, as otherwise named in it (a subject, a witness)."""
    found = [Involvement("actor")] if entry.actor == person else []
    found += [Involvement("presented-share", share=i) for w, i in entry.presented if w == person]
    for s in entry.signers:
        if s.person == person:
            found.append(Involvement(f"{s.statement}-signer", verdict=s.verdict, reason=s.reason))
    if entry.manifest_signer is not None and entry.manifest_signer[0] == person:
        found.append(Involvement("manifest-signer", revision=entry.manifest_signer[1]))
    if not found:
        found.append(Involvement("named"))
    return tuple(found)
