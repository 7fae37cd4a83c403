"""A person's own view (``tcr status``): their credentials, each one's bag, where that is,
its last inspection and the open discrepancies about them.

A TCR runs ``tcr status`` at the start of a ceremony and at home, and it must answer at
once. Building the ledger's pydantic records costs more than the whole rest of the command
(importing pydantic alone is about 0.15 s), so this module reads the rows straight from the
file, without the :class:`~tcr_kit.custody.ledger.Ledger` facade and without pydantic. The
rows are the ledger's own: each was written, as canonical JSON, in the transaction of the
signed audit event that carries it. Reading them still checks every row it uses: canonical
JSON (a row edited by hand rarely is), the record's schema version, and the type of every
field it shows; a row that fails is a :class:`LedgerIntegrityError` (exit 3), as before.
The validators of the records are not re-run: they ran when the row was written.

:meth:`Ledger.status <tcr_kit.custody.ledger.Ledger.status>` is this same reading over the
ledger's connection, so there is one answer whichever way it is asked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.audit.chain import AuditLog, as_bytes
from tcr_kit.audit.timeline import entries_of
from tcr_kit.clock import isoformat
from tcr_kit.custody.errors import LedgerIntegrityError, NotFound, sqlite_error
from tcr_kit.custody.history import CredentialNow, PersonHistory, person_history
from tcr_kit.custody.ledger_file import connect_read_only, default_ledger_path, not_a_ledger
from tcr_kit.custody.wording import describe_location, inspection_outcome

__all__ = [
    "CredentialStatus",
    "InspectionBrief",
    "OwnView",
    "PersonStatus",
    "person_status",
    "read_own_view",
]

_TABLES = ("person", "credential", "bag", "inspection", "discrepancy", "audit_event")
"""The tables the view reads (all from schema version 1)."""


@dataclass(frozen=True)
class InspectionBrief:
    """The last inspection of a bag, in short."""

    id: str
    at: str
    """UTC time, ISO 8601 with ``Z``."""
    outcome: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "outcome": self.outcome}


@dataclass(frozen=True)
class CredentialStatus(CredentialNow):
    """One of a person's credentials: the facts the events give (:class:`CredentialNow`:
    its state, its bag), and where the bag is, its last inspection and what is open."""

    location: str | None
    last_inspection: InspectionBrief | None
    open_discrepancies: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            **super().to_json(),
            "location": self.location,
            "last_inspection": self.last_inspection.to_json() if self.last_inspection else None,
            "open_discrepancies": list(self.open_discrepancies),
        }


@dataclass(frozen=True)
class PersonStatus:
    """A TCR's own view (``tcr status``)."""

    person: str
    name: str
    roles: tuple[str, ...]
    credentials: tuple[CredentialStatus, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "name": self.name,
            "roles": list(self.roles),
            "credentials": [c.to_json() for c in self.credentials],
        }


@dataclass(frozen=True)
class OwnView:
    """Everything ``tcr status`` shows from a ledger: the view, the person's history from
    the audit events, and the log's head (sequence number and hash, hex)."""

    status: PersonStatus
    history: PersonHistory
    head_seq: int
    head: str


class _Row:
    """One ledger row's record, with typed access that refuses what the record's model
    would not have written."""

    def __init__(self, table: str, key: str, raw: object) -> None:
        self.where = f"ledger row {table}/{key}"
        try:
            doc = parse_canonical(as_bytes(raw))
        except ValueError as exc:
            raise LedgerIntegrityError(f"{self.where} is not a valid record: {exc}") from None
        if not isinstance(doc, dict) or doc.get("schema_version") != 1:
            raise LedgerIntegrityError(f"{self.where} is not a valid record (schema version)")
        self.doc: dict[str, Any] = doc

    def _bad(self, name: str) -> LedgerIntegrityError:
        return LedgerIntegrityError(f"{self.where} is not a valid record (field {name})")

    def text(self, name: str) -> str:
        value = self.doc.get(name)
        if not isinstance(value, str) or not value:
            raise self._bad(name)
        return value

    def maybe_text(self, name: str) -> str | None:
        value = self.doc.get(name)
        if value is not None and not isinstance(value, str):
            raise self._bad(name)
        return value

    def texts(self, name: str) -> tuple[str, ...]:
        value = self.doc.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(name)
        return tuple(value)

    def location(self) -> str:
        value = self.doc.get("location")
        if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
            raise self._bad("location")
        parts = {k: value.get(k) for k in ("facility", "safe", "box", "person", "shipment")}
        if not all(v is None or isinstance(v, str) for v in parts.values()):
            raise self._bad("location")
        return describe_location(value["kind"], **parts)

    def time(self, name: str) -> str:
        try:
            when = datetime.fromisoformat(self.text(name))
            return isoformat(when)  # refuses a naive time, as the record's model would
        except ValueError:
            raise self._bad(name) from None

    def outcome(self) -> str:
        checklist = self.doc.get("checklist")
        if not isinstance(checklist, dict) or not all(
            isinstance(v, bool) for v in checklist.values()
        ):
            raise self._bad("checklist")
        return inspection_outcome(self.text("serial_read"), self.text("serial_expected"), checklist)


def _rows(conn: sqlite3.Connection, table: str) -> Iterator[_Row]:
    """The rows of ``table`` by key, as the ledger's listings order them."""
    for key, doc in conn.execute(f"SELECT key, doc FROM {table} ORDER BY key"):  # noqa: S608
        yield _Row(table, str(key), doc)


def _row(conn: sqlite3.Connection, table: str, key: str) -> _Row | None:
    found = conn.execute(f"SELECT doc FROM {table} WHERE key = ?", (key,)).fetchone()  # noqa: S608
    return None if found is None else _Row(table, key, found[0])


def person_status(conn: sqlite3.Connection, person: str) -> PersonStatus:
    """A TCR's own view read from the ledger's connection ``conn``: credentials, where each
    is, bag, last inspection, open discrepancies. :class:`NotFound` for an unknown person."""
    who = _row(conn, "person", person)
    if who is None:
        raise NotFound(f"person {person} is not in the ledger")
    open_d = [
        (d.text("id"), set(d.texts("objects")))
        for d in _rows(conn, "discrepancy")
        if d.text("status") == "open"
    ]
    items = []
    for cred in _rows(conn, "credential"):
        if cred.maybe_text("holder") != person:
            continue
        cid = cred.text("id")
        bag_key = cred.maybe_text("bag")
        bag = _row(conn, "bag", bag_key) if bag_key else None
        last = None
        if bag is not None:
            serial = bag.text("serial")
            found = [i for i in _rows(conn, "inspection") if i.text("bag") == serial]
            last = found[-1] if found else None
        about = {f"credential:{cid}"} | ({f"bag:{bag.text('serial')}"} if bag else set())
        items.append(
            CredentialStatus(
                credential=cid,
                kind=cred.text("kind"),
                serial=cred.text("serial"),
                state=cred.text("state"),
                bag=bag.text("serial") if bag else None,
                bag_state=bag.text("state") if bag else None,
                location=bag.location() if bag else None,
                last_inspection=(
                    InspectionBrief(last.text("id"), last.time("at"), last.outcome())
                    if last
                    else None
                ),
                open_discrepancies=tuple(did for did, objects in open_d if about & objects),
            )
        )
    return PersonStatus(
        person=who.text("id"),
        name=who.text("name"),
        roles=who.texts("roles"),
        credentials=tuple(items),
    )


def read_own_view(path: str | Path | None, person: str, *, timeout: float = 30.0) -> OwnView:
    """``person``'s view, history and the log's head, from the ledger file at ``path``
    (default: :func:`~tcr_kit.custody.default_ledger_path`), opened read-only: nothing is
    created, migrated or written. A file without the ledger's tables is refused
    (:class:`LedgerIntegrityError`), as is a row that is not a valid record."""
    p = Path(path) if path is not None else default_ledger_path()
    conn, version, tables = connect_read_only(p, timeout)
    try:
        missing = sorted(set(_TABLES) - tables)
        if version == 0 or missing:
            raise not_a_ledger(p, missing)
        view = person_status(conn, person)
        audit = AuditLog(conn)
        history = person_history(entries_of(audit.events()), person)
        seq, head = audit.head()
    except sqlite3.Error as exc:
        raise sqlite_error(p, exc) from None
    finally:
        conn.close()
    return OwnView(status=view, history=history, head_seq=seq, head=head)
