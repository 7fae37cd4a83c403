"""A person's own history, computed from audit events alone: their credentials, the bags
those were ever in, and every event about either (state changes, inspections, discrepancies,
overrides) with its time and witnesses.

The same computation serves ``tcr status`` inside the staff ledger and ``tcr status
--transcript FILE`` on a TCR's own machine, where only a verified transcript is at hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tcr_kit.audit.timeline import TimelineEntry
from tcr_kit.custody.errors import NotFound

__all__ = ["CredentialNow", "PersonHistory", "person_history"]


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
class PersonHistory:
    person: str
    name: str
    roles: tuple[str, ...]
    credentials: tuple[CredentialNow, ...]
    bags: tuple[str, ...]
    """Every bag that ever held one of the person's credentials."""
    history: tuple[TimelineEntry, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "name": self.name,
            "roles": list(self.roles),
            "credentials": [c.to_json() for c in self.credentials],
            "bags": list(self.bags),
            "history": [e.to_json() for e in self.history],
        }


def person_history(entries: list[TimelineEntry], person: str) -> PersonHistory:
    """Replay the records the events carry; keep what concerns ``person``."""
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
    )
