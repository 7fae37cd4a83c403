"""Ceremonies as records: open one (script, facility, who attends in which role, the hash of
the configuration), record its script steps, close it with a checkpoint.

While a ceremony is open, the ledger knows it (:meth:`CeremoniesMixin.open_ceremony`) and
the CLI tags every change with its number, so nobody has to repeat ``--ceremony``. Only one
ceremony is open at a time. A rehearsal is a ceremony of its own number marked
``rehearsal``; the real ceremony records which rehearsals ran the same shared configuration
(same SHA-256), and ``rehearsed_in`` refuses a configuration that differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tcr_kit.audit.chain import StoredCheckpoint, StoredEvent
from tcr_kit.clock import isoformat, utcnow
from tcr_kit.custody.errors import LedgerIntegrityError
from tcr_kit.custody.ledger.reading import LedgerReader
from tcr_kit.custody.ledger.storage import Actor, serialised
from tcr_kit.custody.models import Attendance, Ceremony
from tcr_kit.custody.models import build as _build
from tcr_kit.custody.models import revalidate as _revalidate
from tcr_kit.errors import InputError

__all__ = ["CeremoniesMixin", "CeremonyClosed"]


@dataclass(frozen=True)
class CeremonyClosed:
    """What closing a ceremony produced: the closed record, its closing event, and the
    checkpoint signed right after it (the head to publish and read aloud)."""

    ceremony: Ceremony
    event: StoredEvent
    checkpoint: StoredCheckpoint


class CeremoniesMixin(LedgerReader):
    """Open, step through and close ceremonies."""

    def open_ceremony(self) -> Ceremony | None:
        """The ceremony open now, if any (at most one is)."""
        found = [c for c in self._all(Ceremony) if c.status == "open"]
        if len(found) > 1:
            numbers = ", ".join(str(c.number) for c in found)
            raise LedgerIntegrityError(f"more than one ceremony is open ({numbers})")
        return found[0] if found else None

    def use_ceremony(self, number: int | None) -> None:
        """Tag the changes made through this ledger with ceremony ``number``, or, when it
        is ``None``, with the ceremony open now (if any)."""
        if number is None:
            current = self.open_ceremony()
            number = current.number if current is not None else None
        self.ceremony_number = number

    def ceremonies(self) -> list[Ceremony]:
        return sorted(self._all(Ceremony), key=lambda c: c.number)

    @serialised
    def begin_ceremony(
        self,
        actor: Actor,
        number: int,
        *,
        facility: str,
        script: str | None = None,
        attendance: Sequence[Attendance] = (),
        rehearsal: bool = False,
        config_sha256: str | None = None,
        site_sha256: str | None = None,
        rehearsed_in: int | None = None,
        dry_run: bool = False,
    ) -> Ceremony:
        """Open ceremony ``number`` (the ``ceremony.open`` event). With ``rehearsed_in``,
        the shared configuration must be the one that rehearsal recorded."""
        if self._get_or_none(Ceremony, number) is not None:
            raise InputError(f"ceremony {number} already exists")
        current = self.open_ceremony()
        if current is not None:
            raise InputError(
                f"ceremony {current.number} is still open; close it first "
                f"('tcr ceremony close {current.number}')"
            )
        for a in attendance:
            self._require_person(a.person, "participant")
        people = [a.person for a in attendance]
        if len(set(people)) != len(people):
            raise InputError("a participant is listed twice")
        matches = self._rehearsals_with(config_sha256) if not rehearsal else []
        if rehearsed_in is not None:
            if rehearsal:
                raise InputError("a rehearsal is not itself rehearsed in another ceremony")
            self._check_rehearsal(rehearsed_in, config_sha256)
        record = _build(
            Ceremony,
            number=number,
            facility=facility,
            date=utcnow(),
            participants=tuple(people),
            script=script,
            attendance=tuple(attendance),
            rehearsal=rehearsal,
            config_sha256=config_sha256,
            site_sha256=site_sha256,
            rehearsed_in=tuple(matches),
            status="open",
            opened_by=actor.person,
        )
        previous, self.ceremony_number = self.ceremony_number, number
        try:
            with self._change(actor, "ceremony.open", [f"ceremony:{number}"], dry_run=dry_run):
                self._put(record)
        finally:
            self.ceremony_number = previous
        return record

    def _rehearsals_with(self, config_sha256: str | None) -> list[int]:
        if config_sha256 is None:
            return []
        return [
            c.number for c in self.ceremonies() if c.rehearsal and c.config_sha256 == config_sha256
        ]

    def _check_rehearsal(self, number: int, config_sha256: str | None) -> None:
        rehearsal = self.ceremony(number)
        if not rehearsal.rehearsal:
            raise InputError(f"ceremony {number} is not a rehearsal")
        if rehearsal.config_sha256 is None or config_sha256 is None:
            raise InputError(
                f"no configuration hash to compare: give --config here and in rehearsal {number}"
            )
        if rehearsal.config_sha256 != config_sha256:
            raise LedgerIntegrityError(
                f"the configuration (SHA-256 {config_sha256}) is not the one rehearsed in "
                f"ceremony {number} (SHA-256 {rehearsal.config_sha256})"
            )

    def _require_open(self, number: int) -> Ceremony:
        ceremony = self.ceremony(number)
        if ceremony.status != "open":
            state = "closed" if ceremony.status == "closed" else "not opened with 'ceremony open'"
            raise InputError(f"ceremony {number} is {state}")
        return ceremony

    @serialised
    def record_step(
        self,
        actor: Actor,
        number: int,
        step: str,
        *,
        text: str | None = None,
        initials: str | None = None,
        witness: str | None = None,
        dry_run: bool = False,
    ) -> StoredEvent:
        """Record a script step as done (the IW's Initial/Time column), at the UTC time now."""
        self._require_open(number)
        self._require_person(witness, "witness")
        if witness is not None and witness == actor.person:
            raise InputError("the witness must be someone other than the actor")
        payload: dict[str, object] = {"step": step, "time": isoformat(utcnow())}
        if text:
            payload["text"] = text
        if initials:
            payload["initials"] = initials
        if witness:
            payload["witness"] = witness
        subjects = [f"ceremony:{number}", *([f"person:{witness}"] if witness else [])]
        previous, self.ceremony_number = self.ceremony_number, number
        try:
            with self._change(actor, "ceremony.step", subjects, payload, dry_run=dry_run):
                pass
        finally:
            self.ceremony_number = previous
        return self.last_events[-1]

    def end_ceremony(self, actor: Actor, number: int) -> CeremonyClosed:
        """Close ceremony ``number`` (the ``ceremony.close`` event), then sign a checkpoint of
        the log's head; the checkpoint covers the closing event."""
        closed = self._close(actor, number)
        event = self.last_events[-1]
        self._begin()
        try:
            checkpoint = self.audit.checkpoint(actor.signer)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return CeremonyClosed(closed, event, checkpoint)

    @serialised
    def _close(self, actor: Actor, number: int) -> Ceremony:
        ceremony = self._require_open(number)
        closed = _revalidate(
            ceremony.model_copy(
                update={"status": "closed", "closed_at": utcnow(), "closed_by": actor.person}
            )
        )
        previous, self.ceremony_number = self.ceremony_number, number
        try:
            with self._change(actor, "ceremony.close", [f"ceremony:{number}"]):
                self._put(closed)
        finally:
            self.ceremony_number = previous
        return closed
