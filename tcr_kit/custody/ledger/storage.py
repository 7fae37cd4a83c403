"""Storage and transactions: opening and migrating the SQLite file (WAL, foreign keys,
versioned schema) and the one write path.

Every change goes through one ``BEGIN IMMEDIATE`` transaction (:meth:`LedgerStore._change`)
that writes the new rows **and** the audit event that carries them (the full post-change
records), so the integrity check can compare both the hash chain and every row with the
last event about it.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from pydantic import BaseModel, ValidationError

from tcr_kit.audit.canonical import canonical_bytes, parse_canonical
from tcr_kit.audit.chain import AuditLog, StoredEvent, as_bytes
from tcr_kit.audit.cosign import (
    CosignatureRefused,
    Cosigner,
    PendingCosigner,
    SigningRequest,
    WitnessSignature,
    WitnessSigner,
    declared_cosigners,
)
from tcr_kit.audit.signing import Signer, key_id
from tcr_kit.clock import pinned, utcnow
from tcr_kit.custody.errors import LedgerIntegrityError, NotFound
from tcr_kit.custody.ledger.schema import (
    ATTESTATION,
    MIGRATIONS,
    TABLES,
    default_ledger_path,
    table_of,
)
from tcr_kit.custody.ledger_file import connect_read_only, not_a_ledger
from tcr_kit.custody.models import Person
from tcr_kit.custody.remote import SignedAttestation
from tcr_kit.errors import InputError, NotPermitted, OperationalError

__all__ = ["COSIGNING_FIELDS", "Actor", "LedgerStore", "serialised"]

REQUIRED_TABLES = (
    "audit_event",
    "audit_key",
    "audit_checkpoint",
    ATTESTATION,
    *(t.name for t in TABLES.values() if t.since == 1),
)
"""Tables every ledger has (a read-only open refuses a file without them); a table added by
a later migration is required from its schema version on (``Table.since``), so an older
ledger opened read-only still verifies (see :meth:`LedgerStore.has_table`)."""

M = TypeVar("M", bound=BaseModel)
S = TypeVar("S", bound="LedgerStore")
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Actor:
    """Who acts: a person in the ledger and the signer holding their registered key."""

    person: str
    signer: Signer


def _key_str(value: Any) -> str:
    return str(value)


def serialised(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Run a change with the write lock held from its first read to its commit, so checks
    (state, existence, numbering) and writes cannot interleave with another writer."""

    @functools.wraps(method)
    def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._conn.in_transaction:
            return method(self, *args, **kwargs)
        self._begin()
        try:
            with self._pinned_clock():
                return method(self, *args, **kwargs)
        finally:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    return wrapper


COSIGNING_FIELDS = ("witness", "override_by", "second")
"""Payload fields naming a person who vouches for a change: each co-signs its event."""


class LedgerStore:
    """An open ledger file: its connection, audit log and the write path. The public
    :class:`~tcr_kit.custody.ledger.Ledger` adds the record operations on top."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self.audit = AuditLog(conn)
        self._records: list[dict[str, Any]] | None = None
        self.last_events: list[StoredEvent] = []
        """Events appended (or, in a dry run, that would have been) by the last change."""
        self.ceremony_number: int | None = None
        """When set, every change is tagged with this ceremony number (payload ``ceremony``,
        subject ``ceremony:N``), so a ceremony's transcript can be exported."""
        self._batching = False
        self._cosigners: dict[str, WitnessSigner | WitnessSignature] = {}
        self._preparing_requests = False

    # -- co-signers ------------------------------------------------------------------------
    def use_cosigners(self, cosigners: Iterable[WitnessSigner | WitnessSignature]) -> None:
        """The witnesses' keys (software or card) and signatures made in advance
        (``tcr witness sign``) for the changes made through this object: a change that
        names a person as ``witness``, ``override_by`` or ``second`` has its audit event
        co-signed by them (``docs/audit-format.md``, "Co-signatures"). Without one, the
        policy decides (rule ``witness-cosign``, required by default)."""
        for c in cosigners:
            if c.person in self._cosigners:
                raise InputError(f"two co-signatures given for {c.person}")
            self._cosigners[c.person] = c

    def prepare_signing_requests(self, enabled: bool = True) -> None:
        """In dry runs, declare the witnesses who have not signed yet as co-signers without
        their signatures, so the dry run's event is the exact event they are asked to sign
        (:class:`~tcr_kit.audit.cosign.SigningRequest`); a real change still needs them."""
        self._preparing_requests = enabled

    def signing_requests(self) -> list[SigningRequest]:
        """The signing requests of the last (dry-run) change: one per co-signer declared
        without a signature."""
        out: list[SigningRequest] = []
        for event in self.last_events:
            body = parse_canonical(event.body)
            for person, kid in declared_cosigners(body) or []:
                if person not in self._cosigners:
                    out.append(SigningRequest(person, kid, event.body))
        return out

    def _cosign_required(self) -> bool:
        """Whether a witness must co-sign (the policy's ``witness_cosign``; see the guard)."""
        return True

    def _cosigners_for(
        self, actor: Actor, kind: str, extra: dict[str, Any] | None, dry_run: bool
    ) -> list[Cosigner]:
        """Who co-signs a change: every person its payload names as vouching for it."""
        named: dict[str, str] = {}
        for field in COSIGNING_FIELDS:
            value = (extra or {}).get(field)
            if isinstance(value, str) and value != actor.person and value not in named:
                named[value] = field.replace("_", " ")
        out: list[Cosigner] = []
        for person, role in named.items():
            record = self._get_or_none(Person, person)
            if record is None:
                raise NotFound(f"{person} is not in the roster")
            roster_kid = key_id(bytes.fromhex(record.public_key or ""))
            given = self._cosigners.get(person)
            if given is None:
                if self._preparing_requests and dry_run:
                    out.append(PendingCosigner(person, roster_kid))
                elif self._cosign_required():
                    raise NotPermitted(
                        "witness-cosign",
                        f"{kind}: {person} ({role}) must co-sign the event they vouch for: "
                        "their key or card in this command, or a signature made with 'tcr "
                        "witness sign' from its signing request (--dry-run --signing-request)",
                    )
                continue
            if given.key_id != roster_kid:
                raise CosignatureRefused(
                    f"{kind}: the co-signature given for {person} is by key {given.key_id}, "
                    f"not the key the roster knows for {person} ({roster_kid})"
                )
            out.append(given)
        return out

    @contextmanager
    def _pinned_clock(self) -> Iterator[None]:
        """One instant for a change whose event is co-signed in advance (its time is the
        signed one) or prepared for that (every time it writes is the event's time)."""
        presigned = [c for c in self._cosigners.values() if isinstance(c, WitnessSignature)]
        if presigned:
            when = datetime.fromisoformat(presigned[0].time().replace("Z", "+00:00"))
        elif self._preparing_requests:
            when = utcnow()
        else:
            yield
            return
        with pinned(when):
            yield

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        timeout: float = 30.0,
        synchronous: str = "FULL",
        read_only: bool = False,
    ) -> Self:
        """Open (and migrate) a ledger. ``synchronous="FULL"`` syncs every commit to disk
        (survives power loss); ``"NORMAL"`` is faster and still survives a killed process.

        ``read_only=True`` opens the file with SQLite's ``mode=ro`` (never creates, migrates
        or writes anything: for verification) and refuses a file without the ledger's
        schema (an empty file is not an empty ledger) with :class:`LedgerIntegrityError`."""
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        p = Path(path) if path is not None else default_ledger_path()
        if read_only:
            return cls._open_read_only(p, timeout)
        if not p.exists():
            if not create:
                raise OperationalError(f"{p}: no ledger here (run 'tcr roster init' first)")
            p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            conn = sqlite3.connect(str(p), timeout=timeout, isolation_level=None)
            conn.execute("PRAGMA foreign_keys = ON")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        except sqlite3.OperationalError as exc:
            raise OperationalError(f"{p}: cannot open ledger: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise LedgerIntegrityError(f"{p}: not a usable ledger: {exc}") from None
        if str(mode).lower() != "wal":
            conn.close()
            raise OperationalError(f"{p}: could not switch the ledger to WAL mode")
        ledger = cls(conn, p)
        ledger._migrate()
        return ledger

    @classmethod
    def _open_read_only(cls, p: Path, timeout: float) -> Self:
        conn, version, tables = connect_read_only(p, timeout)
        later = {t.name for t in TABLES.values() if 1 < t.since <= version}
        missing = sorted({*REQUIRED_TABLES, *later} - tables)
        if version == 0 or missing:
            conn.close()
            raise not_a_ledger(p, missing)
        return cls(conn, p)

    def _migrate(self) -> None:
        try:
            version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise OperationalError(
                    f"{self.path}: ledger schema {version} is newer than this tcr-kit "
                    f"({len(MIGRATIONS)})"
                )
            while version < len(MIGRATIONS):
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    current = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
                    if current == version:
                        MIGRATIONS[version](self._conn)
                        self._conn.execute(f"PRAGMA user_version = {version + 1}")
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.OperationalError as exc:
            raise OperationalError(f"{self.path}: cannot read ledger: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise LedgerIntegrityError(f"{self.path}: not a usable ledger: {exc}") from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has_table(self, name: str) -> bool:
        """Whether the file has table ``name`` (an older ledger opened read-only may not)."""
        row = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    # -- the write path --------------------------------------------------------------------
    def _begin(self) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise OperationalError(f"{self.path}: ledger is busy: {exc}") from None

    @contextmanager
    def _change(
        self,
        actor: Actor,
        kind: str,
        subjects: Sequence[str],
        extra: dict[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> Iterator[None]:
        """One transaction: the body's writes (via :meth:`_put`) plus one audit event."""
        self.last_events = []
        if not self._conn.in_transaction:
            self._begin()
        try:
            self._records = []
            self._require_actor(actor)
            cosigners = self._cosigners_for(actor, kind, extra, dry_run)
            yield
            payload: dict[str, Any] = {"records": self._records}
            if extra:
                payload.update(extra)
            if self.ceremony_number is not None:
                payload["ceremony"] = self.ceremony_number
                if f"ceremony:{self.ceremony_number}" not in subjects:
                    subjects = [*subjects, f"ceremony:{self.ceremony_number}"]
            event = self.audit.append(
                actor.signer, actor.person, kind, payload, subjects, cosigners=cosigners
            )
            self.last_events.append(event)
            if not dry_run:  # a signature made in advance is for this one event
                for c in cosigners:
                    if isinstance(c, WitnessSignature):
                        self._cosigners.pop(c.person, None)
            if not self._batching:
                self._conn.execute("ROLLBACK" if dry_run else "COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        finally:
            self._records = None

    @contextmanager
    def _one_transaction(self, *, dry_run: bool = False) -> Iterator[list[StoredEvent]]:
        """Several changes (each with its own audit event) committed together or not at all;
        the yielded list collects their events for the caller to put in
        :attr:`last_events`. The changes inside run without ``dry_run``; a dry run rolls
        the whole batch back at the end."""
        if not self._conn.in_transaction:
            self._begin()
        self._batching = True
        events: list[StoredEvent] = []
        try:
            yield events
            self._conn.execute("ROLLBACK" if dry_run else "COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        finally:
            self._batching = False

    def _require_actor(self, actor: Actor) -> None:
        person = self._get_or_none(Person, actor.person)
        if person is None:
            raise NotFound(f"person {actor.person} is not in the roster")
        if person.retired:
            raise InputError(f"person {actor.person} is retired and cannot act")
        if person.public_key != actor.signer.public_key_bytes().hex():
            raise InputError(f"the signing key given is not the one registered for {person.id}")

    def _put(self, record: BaseModel) -> None:
        table = table_of(type(record))
        key = _key_str(getattr(record, table.key))
        doc = record.model_dump(mode="json")
        cols = ["key", "doc", *table.columns]
        values = [key, canonical_bytes(doc), *(doc.get(f) for f in table.columns.values())]
        marks = ", ".join("?" for _ in cols)
        self._conn.execute(
            f"INSERT OR REPLACE INTO {table.name} ({', '.join(cols)}) VALUES ({marks})",  # noqa: S608
            values,
        )
        if self._records is None:
            raise RuntimeError("_put outside a change")
        self._records.append({"table": table.name, "key": key, "doc": doc})

    def _put_attestation(self, signed: SignedAttestation) -> str:
        digest = signed.digest.hex()
        doc = signed.to_json()
        self._conn.execute(
            "INSERT OR REPLACE INTO attestation (key, doc, bag) VALUES (?, ?, ?)",
            (digest, canonical_bytes(doc), signed.attestation.bag_serial),
        )
        if self._records is None:
            raise RuntimeError("_put outside a change")
        self._records.append({"table": ATTESTATION, "key": digest, "doc": doc})
        return digest

    # -- reading -----------------------------------------------------------------------------
    def _get_or_none(self, model: type[M], key: Any) -> M | None:
        table = table_of(model)
        row = self._conn.execute(
            f"SELECT doc FROM {table.name} WHERE key = ?",  # noqa: S608
            (_key_str(key),),
        ).fetchone()
        if row is None:
            return None
        try:
            return model.model_validate_json(as_bytes(row[0]))
        except ValidationError as exc:
            raise LedgerIntegrityError(
                f"ledger row {table.name}/{key} is not a valid record: {exc.errors()[0]['msg']}"
            ) from None

    def _get(self, model: type[M], key: Any, what: str) -> M:
        found = self._get_or_none(model, key)
        if found is None:
            raise NotFound(f"{what} {key} is not in the ledger")
        return found

    def _all(self, model: type[M]) -> list[M]:
        table = table_of(model)
        out = []
        for key, doc in self._conn.execute(f"SELECT key, doc FROM {table.name} ORDER BY key"):  # noqa: S608
            try:
                out.append(model.model_validate_json(as_bytes(doc)))
            except ValidationError:
                raise LedgerIntegrityError(
                    f"ledger row {table.name}/{key} is not a valid record"
                ) from None
        return out

    def _next_id(self, model: type[BaseModel], prefix: str) -> str:
        return f"{prefix}-{self._count(table_of(model).name) + 1:04d}"

    def _count(self, table: str) -> int:
        return int(self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608

    def _require_person(self, pid: str | None, what: str) -> None:
        if pid is None:
            return
        person = self._get_or_none(Person, pid)
        if person is None:
            raise NotFound(f"{what} {pid} is not in the roster")
        if person.retired:
            raise InputError(f"{what} {pid} is retired")

    @serialised
    def record_event(
        self,
        actor: Actor,
        kind: str,
        subjects: Sequence[str],
        payload: dict[str, Any],
        *,
        dry_run: bool = False,
    ) -> StoredEvent:
        """Append a signed event that changes no record (an HSM activation, for example)."""
        if "records" in payload:
            raise ValueError("'records' is reserved for record changes")
        with self._change(actor, kind, subjects, payload, dry_run=dry_run):
            pass
        return self.last_events[-1]
