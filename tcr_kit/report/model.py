"""The facts of the public report, read off a ledger through the redaction allow-lists
(:mod:`tcr_kit.report.public`): ceremonies, custody timelines, quorum readiness and the
discrepancies. Plain JSON-ready dicts; the site renders them, tests inspect them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.audit.pgpwords import pgp_words
from tcr_kit.report.assumptions import assumption_for, load_assumptions
from tcr_kit.report.public import public_event, public_record

if TYPE_CHECKING:
    from tcr_kit.audit.chain import StoredEvent
    from tcr_kit.custody.ledger import Ledger

__all__ = ["ReportData", "read_report"]

_UNUSABLE = frozenset({"lost", "destroyed", "retired"})


@dataclass
class ReportData:
    """Everything the site shows (public fields only)."""

    size: int
    head: str
    events: list[dict[str, Any]]
    people: dict[str, dict[str, Any]]
    cached: int = 0
    """How many of ``events`` came from the caller's cache (the rest were read now)."""
    ceremonies: list[dict[str, Any]] = field(default_factory=list)
    credentials: list[dict[str, Any]] = field(default_factory=list)
    bags: list[dict[str, Any]] = field(default_factory=list)
    share_sets: list[dict[str, Any]] = field(default_factory=list)
    discrepancies: list[dict[str, Any]] = field(default_factory=list)
    assumptions: dict[str, str] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    """Pre-signed artifacts: each tranche's window, files (names, sizes, SHA-256) and release."""

    def about(self, subject: str) -> list[dict[str, Any]]:
        return [e for e in self.events if subject in e["subjects"]]


def _events(stored: Iterable[StoredEvent]) -> list[dict[str, Any]]:
    return [public_event(parse_canonical(e.body), e.hash) for e in stored]


def _roles(people: dict[str, dict[str, Any]], pid: str | None) -> str:
    if pid is None:
        return ""
    return "/".join(people.get(pid, {}).get("roles", ["?"]))


def read_report(
    ledger: Ledger,
    *,
    assumptions: dict[str, str] | None = None,
    known_events: list[dict[str, Any]] | None = None,
) -> ReportData:
    """Read the report's facts from ``ledger``. ``known_events``: the public events 1..k
    from an earlier read (the site's cache); only the events after them are parsed."""
    known = list(known_events or [])
    stored = list(ledger.audit.events(first=len(known) + 1))
    events = known + _events(stored)
    people = {p.id: public_record("person", p.model_dump(mode="json")) for p in ledger.people()}
    data = ReportData(
        size=len(events),
        head=events[-1]["hash"] if events else "0" * 64,
        events=events,
        people=people,
        assumptions=assumptions if assumptions is not None else load_assumptions(),
        cached=len(known),
    )
    for e in events[len(known) :]:
        e["actor_roles"] = _roles(people, e.get("actor"))
        witness = e.get("details", {}).get("witness")
        if isinstance(witness, str):
            e["witness_roles"] = _roles(people, witness)
    data.credentials = [
        public_record("credential", c.model_dump(mode="json")) for c in ledger.credentials()
    ]
    data.bags = [public_record("bag", b.model_dump(mode="json")) for b in ledger.bags()]
    discrepancies = [d.model_dump(mode="json") for d in ledger.discrepancies()]
    data.discrepancies = [
        dict(
            public_record("discrepancy", d),
            assumption=assumption_for(d["category"], data.assumptions),
        )
        for d in discrepancies
    ]
    data.artifacts = _artifacts(ledger)
    data.share_sets = _quorum(ledger, data)
    data.ceremonies = _ceremonies(ledger, data)
    return data


def _quorum(ledger: Ledger, data: ReportData) -> list[dict[str, Any]]:
    out = []
    sets = {
        row["key"]
        for e in data.events
        for row in e.get("records", [])
        if row["table"] == "share_set"
    }
    for sid in sorted(sets):
        current = public_record("share_set", ledger.share_set(sid).model_dump(mode="json"))
        creds = [c for c in data.credentials if c.get("share_set") == sid]
        states: dict[str, int] = {}
        for c in creds:
            states[c["state"]] = states.get(c["state"], 0) + 1
        usable = sum(1 for c in creds if c["state"] not in _UNUSABLE)
        wanted = {f"share-set:{sid}", *(f"credential:{c['id']}" for c in creds)}
        # The newest event about the set or its credentials: searched from the end.
        last = next(
            (e for e in reversed(data.events) if not wanted.isdisjoint(e["subjects"])), None
        )
        out.append(
            dict(
                current,
                credentials=len(creds),
                usable=usable,
                states=states,
                ready=usable >= int(current["m"]) and current.get("status") == "active",
                margin=usable - int(current["m"]),
                last_change=last["time"] if last is not None else None,
            )
        )
    return out


def _artifacts(ledger: Ledger) -> list[dict[str, Any]]:
    """Each artifact's public fields, its tranches with their windows (``until``: the
    explicit end or the next tranche's start) and, once released, the release's."""
    out = []
    releases = {r.key: r for r in ledger.releases()}
    for a in ledger.artifacts():
        doc = public_record("artifact", a.model_dump(mode="json"))
        tranches = []
        for t, public in zip(a.tranches, doc.get("tranches", []), strict=True):
            _, end = a.window(t.label)
            r = releases.get(f"{a.name}/{t.label}")
            done = public_record("artifact_release", r.model_dump(mode="json")) if r else None
            tranches.append(
                dict(
                    public,
                    until=end.isoformat().replace("+00:00", "Z") if end else None,
                    release=done,
                )
            )
        out.append(dict(doc, tranches=tranches))
    return out


def _ceremonies(ledger: Ledger, data: ReportData) -> list[dict[str, Any]]:
    from tcr_kit.custody.models import Ceremony

    numbers: set[int] = set()
    for e in data.events:
        for s in e["subjects"]:
            if s.startswith("ceremony:") and s[9:].isdigit():
                numbers.add(int(s[9:]))
    records = {c.number: c for c in ledger._all(Ceremony)}
    numbers |= set(records)
    out = []
    for n in sorted(numbers):
        events = data.about(f"ceremony:{n}")
        rec = records.get(n)
        doc: dict[str, Any] = (
            public_record("ceremony", rec.model_dump(mode="json")) if rec else {"number": n}
        )
        present = {str(p) for p in doc.get("participants", [])}
        involved: set[str] = set()
        used: list[dict[str, Any]] = []
        opened: list[dict[str, Any]] = []
        resealed: list[dict[str, Any]] = []
        overrides: list[dict[str, Any]] = []
        for e in events:
            involved.add(e["actor"])
            d = e.get("details", {})
            for k in ("witness", "override_by"):
                if isinstance(d.get(k), str):
                    involved.add(d[k])
            for p in e.get("presented", []):
                used.append(dict(p, outcome=d.get("outcome"), seq=e["seq"], time=e["time"]))
                for k in ("holder", "tcr_id"):
                    if isinstance(p.get(k), str):
                        involved.add(p[k])
            serial = next((s[4:] for s in e["subjects"] if s.startswith("bag:")), None)
            if e["kind"] == "bag.open" and serial:
                opened.append(
                    {
                        "serial": serial,
                        "time": e["time"],
                        "by": e["actor"],
                        "witness": d.get("witness"),
                        "seq": e["seq"],
                    }
                )
            if e["kind"] == "bag.reseal":
                resealed.append(
                    {
                        "old": d.get("old"),
                        "new": d.get("new"),
                        "time": e["time"],
                        "by": e["actor"],
                        "witness": d.get("witness"),
                        "seq": e["seq"],
                    }
                )
            if isinstance(d.get("override_by"), str):
                overrides.append(
                    {
                        "by": d["override_by"],
                        "seq": e["seq"],
                        "kind": e["kind"],
                        "subjects": e["subjects"],
                        "time": e["time"],
                    }
                )
            for rec in e.get("records", []):
                doc_r = rec["doc"]
                if rec["table"] == "bag" and doc_r.get("holder"):
                    involved.add(doc_r["holder"])
        participants = _participants(doc, present, involved, data.people)
        closing = _closing(doc, events, data.events)
        out.append(
            {
                "number": n,
                "date": doc.get("date") or (events[0]["time"] if events else None),
                "facility": doc.get("facility"),
                "script": doc.get("script"),
                "rehearsal": bool(doc.get("rehearsal")),
                "rehearsed_in": list(doc.get("rehearsed_in") or []),
                "config_sha256": doc.get("config_sha256"),
                "site_sha256": doc.get("site_sha256"),
                "status": doc.get("status"),
                "opened_by": doc.get("opened_by"),
                "closed_by": doc.get("closed_by"),
                "closed_at": doc.get("closed_at"),
                "participants": participants,
                "credentials_used": used,
                "bags_opened": opened,
                "bags_resealed": resealed,
                "discrepancies": [d for d in data.discrepancies if d.get("ceremony") == n],
                "overrides": overrides,
                "events": [e["seq"] for e in events],
                "closing": closing,
            }
        )
    return out


def _participants(
    doc: dict[str, Any],
    present: set[str],
    involved: set[str],
    people: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Who took part, by role. A ceremony opened with ``tcr ceremony open`` lists its
    participants in its opening record, each with the role they had there and whether they
    were in the room or remote; anyone else the ceremony's events name is added as "not in
    the opening record". A ceremony only *added* (no attendance) falls back to the roster
    roles and its participant list."""
    attendance = [a for a in doc.get("attendance") or [] if isinstance(a, dict)]
    if not attendance:
        return [
            {"id": pid, "roles": _roles(people, pid), "attendance": _attendance(pid, present)}
            for pid in sorted(present | involved)
            if pid in people
        ]
    out = [
        {
            "id": str(a["person"]),
            "roles": str(a.get("role") or _roles(people, str(a["person"]))),
            "attendance": "remote" if a.get("remote") else "present",
        }
        for a in attendance
    ]
    listed = {p["id"] for p in out}
    out += [
        {
            "id": pid,
            "roles": _roles(people, pid),
            "attendance": "took part (not in the opening record)",
        }
        for pid in sorted(involved - listed)
        if pid in people
    ]
    return out


def _closing(
    doc: dict[str, Any], events: list[dict[str, Any]], every: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The ceremony's closing head. Closed with ``tcr ceremony close``: the head at the
    checkpoint taken right after the ``ceremony.close`` event (the head read aloud and
    printed at the close, and the end of its transcript). Otherwise the ceremony's last
    event, marked as such."""
    from tcr_kit.audit.chain import CHECKPOINT_EVENT

    if not events:
        return None
    closes = [e for e in events if e["kind"] == "ceremony.close"]
    if doc.get("status") == "closed" and closes:
        close_seq = int(closes[-1]["seq"])
        checkpoint = next(
            (e for e in every[close_seq - 1 :] if e["kind"] == CHECKPOINT_EVENT), None
        )
        if checkpoint is not None:
            return {
                "seq": checkpoint["seq"],
                "hash": checkpoint["hash"],
                "words": " ".join(pgp_words(bytes.fromhex(checkpoint["hash"]))),
                "close_event": close_seq,
                "source": "checkpoint",
            }
    last = events[-1]
    return {
        "seq": last["seq"],
        "hash": last["hash"],
        "words": " ".join(pgp_words(bytes.fromhex(last["hash"]))),
        "source": "last event",
    }


def _attendance(pid: str, present: set[str]) -> str:
    if not present:
        return "took part"
    return "present" if pid in present else "remote"
