"""The custody ledger: an embedded SQLite database (WAL, foreign keys, versioned schema).

Each table holds one record type as canonical JSON (``doc``) under its key, plus a few
columns copied from the record for foreign keys. Every change goes through one
``BEGIN IMMEDIATE`` transaction that writes the new rows **and** the audit event that
carries them (the full post-change records), so :meth:`Ledger.verify` can check both the
hash chain and that every row is exactly what the last event about it says.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from pydantic import BaseModel, ValidationError

from tcr_kit.audit import chain as audit_chain
from tcr_kit.audit.canonical import canonical_bytes, parse_canonical
from tcr_kit.audit.chain import AuditLog, StoredEvent, VerifyReport, as_bytes
from tcr_kit.audit.signing import ED25519, Signer, key_id
from tcr_kit.audit.verify import Progress, verify_log
from tcr_kit.clock import isoformat, utcnow
from tcr_kit.custody.lifecycle import (
    SEAL_NEEDS_WITNESS,
    BagAction,
    BagState,
    CredentialAction,
    CredentialState,
    WitnessRequired,
    bag_transition,
    credential_transition,
)
from tcr_kit.custody.models import (
    STAFF_ROLES,
    Bag,
    Ceremony,
    Credential,
    Discrepancy,
    DiscrepancyCategory,
    Inspection,
    Location,
    LocationKind,
    Person,
    Role,
    Severity,
    ShareSet,
    Shipment,
)
from tcr_kit.custody.models import (
    build as _build,
)
from tcr_kit.custody.models import (
    revalidate as _revalidate,
)
from tcr_kit.custody.remote import SignedAttestation
from tcr_kit.errors import InputError, IntegrityError, OperationalError

M = TypeVar("M", bound=BaseModel)

LEDGER_ENV = "TCR_LEDGER"
SCHEMA_VERSION = 1


class NotFound(InputError):
    """No such person, credential, bag, ... in the ledger (exit 2)."""


def sqlite_error(path: Path, exc: sqlite3.Error) -> OperationalError | IntegrityError:
    """The tcr-kit error for an SQLite failure: locked/busy/IO is operational (exit 1),
    a damaged file is an integrity failure (exit 3)."""
    if isinstance(exc, sqlite3.OperationalError):
        return OperationalError(f"{path}: ledger: {exc}")
    return LedgerIntegrityError(f"{path}: ledger damaged: {exc}")


class DiscrepancyOpened(IntegrityError):
    """The action was recorded (or refused) and opened discrepancies (exit 3)."""

    def __init__(self, message: str, discrepancies: Sequence[Discrepancy]) -> None:
        super().__init__(message)
        self.discrepancies = list(discrepancies)


class BlockedByDiscrepancy(IntegrityError):
    """Opening is blocked while a discrepancy on the bag is open (exit 3)."""


class LedgerIntegrityError(IntegrityError):
    """A ledger row differs from what the audit log says it should be (exit 3)."""


@dataclass(frozen=True)
class Actor:
    """Who acts: a person in the ledger and the signer holding their registered key."""

    person: str
    signer: Signer


@dataclass(frozen=True)
class _Table:
    name: str
    key: str
    model: type[BaseModel]
    columns: Mapping[str, str] = field(default_factory=dict)
    """Extra SQL column -> record field (copied for foreign keys)."""


TABLES: dict[str, _Table] = {
    t.name: t
    for t in (
        _Table("person", "id", Person),
        _Table("share_set", "id", ShareSet),
        _Table("credential", "id", Credential, {"holder": "holder"}),
        _Table("bag", "serial", Bag, {"holder": "holder"}),
        _Table("shipment", "id", Shipment, {"bag": "bag"}),
        _Table("inspection", "id", Inspection, {"bag": "bag"}),
        _Table("discrepancy", "id", Discrepancy),
        _Table("ceremony", "number", Ceremony),
    )
}
_ATTESTATION = "attestation"

_V1 = """
CREATE TABLE person (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE share_set (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE credential (key TEXT PRIMARY KEY, doc BLOB NOT NULL,
    holder TEXT REFERENCES person(key));
CREATE TABLE bag (key TEXT PRIMARY KEY, doc BLOB NOT NULL,
    holder TEXT REFERENCES person(key));
CREATE TABLE shipment (key TEXT PRIMARY KEY, doc BLOB NOT NULL,
    bag TEXT NOT NULL REFERENCES bag(key));
CREATE TABLE inspection (key TEXT PRIMARY KEY, doc BLOB NOT NULL,
    bag TEXT NOT NULL REFERENCES bag(key));
CREATE TABLE discrepancy (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE ceremony (key TEXT PRIMARY KEY, doc BLOB NOT NULL);
CREATE TABLE attestation (key TEXT PRIMARY KEY, doc BLOB NOT NULL,
    bag TEXT NOT NULL REFERENCES bag(key));
"""


def _migrate_v1(conn: sqlite3.Connection) -> None:
    for statement in _V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    audit_chain.ensure_schema(conn)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_v1]
"""Migration ``i`` takes the schema from version ``i`` to ``i + 1`` (``PRAGMA user_version``)."""


def default_ledger_path(env: Mapping[str, str] | None = None) -> Path:
    """``$TCR_LEDGER``, else ``$XDG_DATA_HOME/tcr-kit/ledger.sqlite``, else
    ``~/.local/share/tcr-kit/ledger.sqlite``."""
    env = os.environ if env is None else env
    if env.get(LEDGER_ENV):
        return Path(env[LEDGER_ENV])
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tcr-kit" / "ledger.sqlite"


def _key_str(value: Any) -> str:
    return str(value)


P = ParamSpec("P")
R = TypeVar("R")


def _serialised(method: Callable[Concatenate[Ledger, P], R]) -> Callable[Concatenate[Ledger, P], R]:
    """Run a change with the write lock held from its first read to its commit, so checks
    (state, existence, numbering) and writes cannot interleave with another writer."""

    @functools.wraps(method)
    def wrapper(self: Ledger, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._conn.in_transaction:
            return method(self, *args, **kwargs)
        self._begin()
        try:
            return method(self, *args, **kwargs)
        finally:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    return wrapper


class Ledger:
    """An open ledger. Use :meth:`open`; close with :meth:`close` or ``with``."""

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

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        timeout: float = 30.0,
        synchronous: str = "FULL",
    ) -> Ledger:
        """Open (and migrate) a ledger. ``synchronous="FULL"`` syncs every commit to disk
        (survives power loss); ``"NORMAL"`` is faster and still survives a killed process."""
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        p = Path(path) if path is not None else default_ledger_path()
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

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
            yield
            payload: dict[str, Any] = {"records": self._records}
            if extra:
                payload.update(extra)
            if self.ceremony_number is not None:
                payload["ceremony"] = self.ceremony_number
                if f"ceremony:{self.ceremony_number}" not in subjects:
                    subjects = [*subjects, f"ceremony:{self.ceremony_number}"]
            event = self.audit.append(actor.signer, actor.person, kind, payload, subjects)
            self.last_events.append(event)
            self._conn.execute("ROLLBACK" if dry_run else "COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        finally:
            self._records = None

    def _require_actor(self, actor: Actor) -> None:
        person = self._get_or_none(Person, actor.person)
        if person is None:
            raise NotFound(f"person {actor.person} is not in the roster")
        if person.retired:
            raise InputError(f"person {actor.person} is retired and cannot act")
        if person.public_key != actor.signer.public_key_bytes().hex():
            raise InputError(f"the signing key given is not the one registered for {person.id}")

    def _put(self, record: BaseModel) -> None:
        table = self._table_of(type(record))
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
        self._records.append({"table": _ATTESTATION, "key": digest, "doc": doc})
        return digest

    @staticmethod
    def _table_of(model: type[BaseModel]) -> _Table:
        for table in TABLES.values():
            if table.model is model:
                return table
        raise TypeError(f"no table for {model.__name__}")

    # -- reading -----------------------------------------------------------------------------
    def _get_or_none(self, model: type[M], key: Any) -> M | None:
        table = self._table_of(model)
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
        table = self._table_of(model)
        out = []
        for key, doc in self._conn.execute(f"SELECT key, doc FROM {table.name} ORDER BY key"):  # noqa: S608
            try:
                out.append(model.model_validate_json(as_bytes(doc)))
            except ValidationError:
                raise LedgerIntegrityError(
                    f"ledger row {table.name}/{key} is not a valid record"
                ) from None
        return out

    def person(self, pid: str) -> Person:
        return self._get(Person, pid, "person")

    def people(self) -> list[Person]:
        return self._all(Person)

    def credential(self, cid: str) -> Credential:
        return self._get(Credential, cid, "credential")

    def credentials(self, holder: str | None = None) -> list[Credential]:
        return [c for c in self._all(Credential) if holder is None or c.holder == holder]

    def share_set(self, sid: str) -> ShareSet:
        return self._get(ShareSet, sid, "share set")

    def bag(self, serial: str) -> Bag:
        return self._get(Bag, normalise_serial(serial), "bag")

    def bags(self) -> list[Bag]:
        return self._all(Bag)

    def shipments(self, bag: str | None = None) -> list[Shipment]:
        return [s for s in self._all(Shipment) if bag is None or s.bag == bag]

    def inspections(self, bag: str | None = None) -> list[Inspection]:
        return [i for i in self._all(Inspection) if bag is None or i.bag == bag]

    def discrepancies(
        self, *, open_only: bool = False, about: str | None = None
    ) -> list[Discrepancy]:
        return [
            d
            for d in self._all(Discrepancy)
            if (not open_only or d.status == "open") and (about is None or about in d.objects)
        ]

    def discrepancy_summary(self) -> list[dict[str, Any]]:
        """Counts by year opened, category, severity and status (for the community's
        "discrepancies over the years" question), sorted."""
        counts: dict[tuple[int, str, str, str], int] = {}
        for d in self._all(Discrepancy):
            key = (d.opened_at.year, d.category.value, d.severity.value, d.status)
            counts[key] = counts.get(key, 0) + 1
        return [
            {"year": y, "category": c, "severity": sev, "status": st, "count": n}
            for (y, c, sev, st), n in sorted(counts.items())
        ]

    def discrepancy(self, did: str) -> Discrepancy:
        return self._get(Discrepancy, did, "discrepancy")

    def ceremony(self, number: int) -> Ceremony:
        return self._get(Ceremony, number, "ceremony")

    def attestation(self, digest_hex: str) -> SignedAttestation:
        from tcr_kit.custody import remote

        row = self._conn.execute(
            "SELECT doc FROM attestation WHERE key = ?", (digest_hex,)
        ).fetchone()
        if row is None:
            raise NotFound(f"attestation {digest_hex} is not in the ledger")
        return remote.parse(as_bytes(row[0]), f"ledger attestation {digest_hex}")

    def _next_id(self, model: type[BaseModel], prefix: str) -> str:
        table = self._table_of(model)
        n = int(self._conn.execute(f"SELECT COUNT(*) FROM {table.name}").fetchone()[0])  # noqa: S608
        return f"{prefix}-{n + 1:04d}"

    # -- roster ----------------------------------------------------------------------------
    def initialise(self, first: Person, signer: Signer, *, dry_run: bool = False) -> None:
        """Start an empty ledger: the first person (staff) registers their own key."""
        if self.audit.count():
            raise InputError(f"{self.path}: ledger is already initialised")
        if not set(first.roles) & STAFF_ROLES:
            raise InputError("the first person in the ledger must be staff (CA, IW, SSC, SA)")
        if (
            first.public_key != signer.public_key_bytes().hex()
            or first.key_algorithm != signer.algorithm
        ):
            raise InputError("the first person's public key must be the signer's")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            event = self.audit.register_key(
                signer, first.id, signer.public_key_bytes(), first.id, signer.algorithm
            )
            self._records = []
            self._put(first)
            event2 = self.audit.append(
                signer, first.id, "person.add", {"records": self._records}, [f"person:{first.id}"]
            )
            self.last_events = [event, event2]
            self._conn.execute("ROLLBACK" if dry_run else "COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        finally:
            self._records = None

    @_serialised
    def add_person(self, actor: Actor, person: Person, *, dry_run: bool = False) -> Person:
        self._require_staff(actor)
        if self._get_or_none(Person, person.id) is not None:
            raise InputError(f"person {person.id} is already in the roster")
        with self._change(actor, "person.add", [f"person:{person.id}"], dry_run=dry_run):
            if person.public_key is not None:
                pub = bytes.fromhex(person.public_key)
                if self.audit._conn.execute(
                    "SELECT 1 FROM audit_key WHERE key_id = ?", (key_id(pub),)
                ).fetchone():
                    raise InputError("that public key is already registered to someone")
                self.last_events.append(
                    self.audit.register_key(
                        actor.signer, actor.person, pub, person.id, person.key_algorithm or ED25519
                    )
                )
            self._put(person)
        return person

    @_serialised
    def retire_person(self, actor: Actor, pid: str, *, dry_run: bool = False) -> Person:
        self._require_staff(actor)
        person = self.person(pid)
        if person.retired:
            raise InputError(f"person {pid} is already retired")
        held = [c.id for c in self.credentials(pid) if c.state in _LIVE_CREDENTIAL]
        if held:
            raise InputError(f"person {pid} still holds credentials: {', '.join(held)}")
        updated = person.model_copy(update={"retired": True})
        with self._change(actor, "person.retire", [f"person:{pid}"], dry_run=dry_run):
            self._put(_revalidate(updated))
        return updated

    @_serialised
    def replace_key(
        self,
        actor: Actor,
        pid: str,
        public_key: bytes,
        *,
        algorithm: str = ED25519,
        dry_run: bool = False,
    ) -> Person:
        """Give ``pid`` a new signing key (lost key, or a card key replacing a software key):
        the old key is revoked and the new one registered, in one change."""
        self._require_staff(actor)
        person = self.person(pid)
        if actor.person == pid:
            raise InputError("another staff member must replace your key")
        updated = _revalidate(
            person.model_copy(update={"public_key": public_key.hex(), "key_algorithm": algorithm})
        )
        with self._change(actor, "person.rekey", [f"person:{pid}"], dry_run=dry_run):
            if person.public_key is not None:
                old = key_id(bytes.fromhex(person.public_key))
                self.last_events.append(self.audit.revoke_key(actor.signer, actor.person, old))
            if self._conn.execute(
                "SELECT 1 FROM audit_key WHERE key_id = ?", (key_id(public_key),)
            ).fetchone():
                raise InputError("that public key is already registered")
            self.last_events.append(
                self.audit.register_key(actor.signer, actor.person, public_key, pid, algorithm)
            )
            self._put(updated)
        return updated

    def _require_staff(self, actor: Actor) -> None:
        person = self._get_or_none(Person, actor.person)
        if person is not None and not set(person.roles) & STAFF_ROLES:
            raise InputError(f"{actor.person} is not staff; only staff change the roster")

    def _require_person(self, pid: str | None, what: str) -> None:
        if pid is None:
            return
        person = self._get_or_none(Person, pid)
        if person is None:
            raise NotFound(f"{what} {pid} is not in the roster")
        if person.retired:
            raise InputError(f"{what} {pid} is retired")

    # -- credentials and share sets -------------------------------------------------------------
    @_serialised
    def add_share_set(self, actor: Actor, share_set: ShareSet, *, dry_run: bool = False) -> None:
        if self._get_or_none(ShareSet, share_set.id) is not None:
            raise InputError(f"share set {share_set.id} already exists")
        with self._change(actor, "share-set.add", [f"share-set:{share_set.id}"], dry_run=dry_run):
            self._put(share_set)

    @_serialised
    def retire_share_set(self, actor: Actor, sid: str, *, dry_run: bool = False) -> ShareSet:
        """Mark a share set retired (after a rekey replaced it)."""
        current = self.share_set(sid)
        if current.status == "retired":
            raise InputError(f"share set {sid} is already retired")
        updated = _revalidate(current.model_copy(update={"status": "retired"}))
        with self._change(actor, "share-set.retire", [f"share-set:{sid}"], dry_run=dry_run):
            self._put(updated)
        return updated

    @_serialised
    def add_credential(
        self, actor: Actor, credential: Credential, *, dry_run: bool = False
    ) -> Credential:
        if self._get_or_none(Credential, credential.id) is not None:
            raise InputError(f"credential {credential.id} already exists")
        if credential.state != CredentialState.ISSUED:
            raise InputError("a new credential starts as issued (seal it into a bag after)")
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

    @_serialised
    def record_enrolment(
        self, actor: Actor, credential_id: str, record_json: str, *, dry_run: bool = False
    ) -> Credential:
        """Attach a card enrolment record (JSON text from the cards work) to a credential."""
        import json

        try:
            json.loads(record_json)
        except ValueError:
            raise InputError("enrolment record is not JSON") from None
        cred = self.credential(credential_id)
        digest = hashlib.sha256(record_json.encode("utf-8")).hexdigest()
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

    @_serialised
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
        state = credential_transition(cred.id, cred.state, action, actor.person, witness)
        updated = _revalidate(cred.model_copy(update={"state": state, "bag": None}))
        subjects = [f"credential:{cred.id}"] + ([f"bag:{cred.bag}"] if cred.bag else [])
        extra = {"witness": witness} if witness else None
        with self._change(actor, f"credential.{action.value}", subjects, extra, dry_run=dry_run):
            self._put(updated)
        return updated

    @_serialised
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

    # -- bags --------------------------------------------------------------------------------
    def _seal_contents(
        self, serial: str, contents: Sequence[str], actor: str, holder: str | None
    ) -> list[Credential]:
        creds = []
        for cid in contents:
            cred = self.credential(cid)
            if holder is not None and cred.holder not in (None, holder):
                raise InputError(f"credential {cid} is held by {cred.holder}, not {holder}")
            state = credential_transition(cid, cred.state, CredentialAction.SEAL, actor, None)
            creds.append(_revalidate(cred.model_copy(update={"state": state, "bag": serial})))
        return creds

    @_serialised
    def seal_bag(
        self,
        actor: Actor,
        serial: str,
        contents: Sequence[str],
        *,
        witness: str | None,
        location: Location,
        kind: str = "TEB",
        holder: str | None = None,
        dry_run: bool = False,
    ) -> Bag:
        """Seal credentials into a new bag on site (a witness is required)."""
        serial = normalise_serial(serial)
        if SEAL_NEEDS_WITNESS and (witness is None or witness == actor.person):
            raise WitnessRequired(f"bag {serial}: sealing needs a witness other than the actor")
        self._require_person(witness, "witness")
        self._require_person(holder, "holder")
        self._require_new_serial(serial)
        creds = self._seal_contents(serial, contents, actor.person, holder)
        bag = _build(
            Bag,
            serial=serial,
            kind=kind,
            contents=tuple(contents),
            state=BagState.SEALED,
            location=location,
            holder=holder,
            sealed_by=actor.person,
            sealed_at=utcnow(),
            seal_witness=witness,
        )
        subjects = [f"bag:{serial}", *(f"credential:{c}" for c in contents)]
        with self._change(actor, "bag.seal", subjects, {"witness": witness}, dry_run=dry_run):
            self._put(bag)
            for cred in creds:
                self._put(cred)
        return bag

    def _require_new_serial(self, serial: str) -> None:
        if self._get_or_none(Bag, serial) is not None:
            raise InputError(f"bag serial {serial} is already in the ledger (a bag is used once)")

    @_serialised
    def record_remote_seal(
        self, actor: Actor, signed: SignedAttestation, *, dry_run: bool = False
    ) -> Bag:
        """Record a bag a TCR sealed at home, from their signed attestation, which must
        verify under the public key registered for them."""
        att = signed.attestation
        holder = self.person(att.holder)
        if holder.public_key is None:
            raise IntegrityError(f"{holder.id} has no registered public key to check against")
        signed.verify(bytes.fromhex(holder.public_key))
        self._require_new_serial(att.bag_serial)
        creds = self._seal_contents(att.bag_serial, att.contents, holder.id, holder.id)
        bag = _build(
            Bag,
            serial=att.bag_serial,
            kind=att.bag_kind,
            contents=att.contents,
            state=BagState.SEALED,
            location=Location(kind=LocationKind.WITH_PERSON, person=holder.id),
            holder=holder.id,
            sealed_by=holder.id,
            sealed_at=att.sealed_at,
            attestation_sha256=signed.digest.hex(),
        )
        subjects = [f"bag:{bag.serial}", *(f"credential:{c}" for c in att.contents)]
        with self._change(
            actor,
            "bag.remote-seal",
            subjects,
            {"attestation_sha256": signed.digest.hex()},
            dry_run=dry_run,
        ):
            self._put(bag)
            self._put_attestation(signed)
            for cred in creds:
                self._put(cred)
        return bag

    @_serialised
    def ship_bag(
        self,
        actor: Actor,
        serial: str,
        *,
        carrier: str,
        tracking: str,
        sender: str,
        recipient: str,
        dry_run: bool = False,
    ) -> Shipment:
        bag = self.bag(serial)
        state = bag_transition(bag.serial, bag.state, BagAction.SHIP, actor.person, None)
        shipment = _build(
            Shipment,
            id=self._next_id(Shipment, "S"),
            bag=bag.serial,
            carrier=carrier,
            tracking=tracking,
            sender=sender,
            recipient=recipient,
            shipped_at=utcnow(),
            shipped_by=actor.person,
        )
        moved = _revalidate(
            bag.model_copy(
                update={
                    "state": state,
                    "location": Location(kind=LocationKind.IN_TRANSIT, shipment=shipment.id),
                }
            )
        )
        with self._change(
            actor, "bag.ship", [f"bag:{bag.serial}", f"shipment:{shipment.id}"], dry_run=dry_run
        ):
            self._put(moved)
            self._put(shipment)
        return shipment

    @_serialised
    def receive_bag(
        self,
        actor: Actor,
        serial: str,
        *,
        serial_read: str,
        location: Location,
        attestation: SignedAttestation | None = None,
        dry_run: bool = False,
    ) -> Bag:
        """Record a bag's arrival (it stays unopened). The serial read off the bag is
        compared with the record; a mismatch, or an attestation that does not match or
        verify, is recorded and opens a discrepancy (raised as :class:`DiscrepancyOpened`
        after the commit)."""
        bag = self.bag(serial)
        state = bag_transition(bag.serial, bag.state, BagAction.RECEIVE, actor.person, None)
        shipment_id = bag.location.shipment
        shipment = self._get(Shipment, shipment_id, "shipment")
        problems: list[tuple[DiscrepancyCategory, Severity, str]] = []
        read = serial_read.strip().upper()
        if read != bag.serial:
            problems.append(
                (
                    DiscrepancyCategory.SERIAL_MISMATCH,
                    Severity.HIGH,
                    f"serial read on receipt {read!r} is not the recorded {bag.serial!r}",
                )
            )
        if attestation is not None:
            problems.extend(self._attestation_problems(bag, attestation))
        now = utcnow()
        received = _revalidate(bag.model_copy(update={"state": state, "location": location}))
        done = _revalidate(
            shipment.model_copy(update={"received_at": now, "received_by": actor.person})
        )
        opened = self._record_with_discrepancies(
            actor,
            "bag.receive",
            [f"bag:{bag.serial}", f"shipment:{shipment.id}"],
            [received, done],
            problems,
            {"serial_read": read, "attestation_checked": attestation is not None},
            [f"bag:{bag.serial}", f"shipment:{shipment.id}"],
            dry_run=dry_run,
        )
        if opened:
            raise DiscrepancyOpened(_discrepancy_message(bag.serial, opened, dry_run), opened)
        return received

    def _attestation_problems(
        self, bag: Bag, attestation: SignedAttestation
    ) -> list[tuple[DiscrepancyCategory, Severity, str]]:
        if bag.attestation_sha256 is None:
            return [
                (
                    DiscrepancyCategory.OTHER,
                    Severity.MEDIUM,
                    "an attestation was presented for a bag sealed on site",
                )
            ]
        if attestation.digest.hex() != bag.attestation_sha256:
            return [
                (
                    DiscrepancyCategory.SERIAL_MISMATCH,
                    Severity.HIGH,
                    "presented attestation is not the one recorded when the bag was sealed",
                )
            ]
        holder = self.person(attestation.attestation.holder)
        try:
            attestation.verify(bytes.fromhex(holder.public_key or ""))
        except IntegrityError as exc:
            return [(DiscrepancyCategory.TAMPER, Severity.CRITICAL, f"attestation: {exc}")]
        return []

    def _record_with_discrepancies(
        self,
        actor: Actor,
        kind: str,
        subjects: list[str],
        records: list[BaseModel],
        problems: list[tuple[DiscrepancyCategory, Severity, str]],
        extra: dict[str, Any],
        objects: list[str],
        *,
        ceremony: int | None = None,
        step: str | None = None,
        dry_run: bool = False,
    ) -> list[Discrepancy]:
        opened: list[Discrepancy] = []
        base = int(self._conn.execute("SELECT COUNT(*) FROM discrepancy").fetchone()[0])
        for i, (category, severity, text) in enumerate(problems):
            opened.append(
                _build(
                    Discrepancy,
                    id=f"D-{base + i + 1:04d}",
                    category=category,
                    severity=severity,
                    description=text,
                    objects=tuple(objects),
                    ceremony=ceremony,
                    step=step,
                    opened_at=utcnow(),
                    opened_by=actor.person,
                )
            )
        subjects = subjects + [f"discrepancy:{d.id}" for d in opened]
        extra = dict(extra, discrepancies=[d.id for d in opened])
        with self._change(actor, kind, subjects, extra, dry_run=dry_run):
            # Re-number inside the write lock in case another writer added one meanwhile.
            now_base = int(self._conn.execute("SELECT COUNT(*) FROM discrepancy").fetchone()[0])
            if now_base != base:
                opened = [
                    _revalidate(d.model_copy(update={"id": f"D-{now_base + i + 1:04d}"}))
                    for i, d in enumerate(opened)
                ]
            for record in records:
                self._put(record)
            for d in opened:
                self._put(d)
        return opened

    @_serialised
    def store_bag(
        self, actor: Actor, serial: str, *, location: Location, dry_run: bool = False
    ) -> Bag:
        bag = self.bag(serial)
        state = bag_transition(bag.serial, bag.state, BagAction.STORE, actor.person, None)
        stored = _revalidate(bag.model_copy(update={"state": state, "location": location}))
        with self._change(actor, "bag.store", [f"bag:{bag.serial}"], dry_run=dry_run):
            self._put(stored)
        return stored

    @_serialised
    def inspect_bag(
        self,
        actor: Actor,
        serial: str,
        *,
        serial_read: str,
        checklist: Mapping[str, bool],
        witness: str,
        photo_sha256: Sequence[str] = (),
        ceremony: int | None = None,
        step: str | None = None,
        dry_run: bool = False,
    ) -> Inspection:
        """Record an inspection before opening. A serial mismatch or a failed checklist item
        is recorded, opens a discrepancy, and raises :class:`DiscrepancyOpened` after the
        commit; the bag then cannot be opened until it is resolved or overridden."""
        bag = self.bag(serial)
        self._require_person(witness, "witness")
        state = bag_transition(bag.serial, bag.state, BagAction.INSPECT, actor.person, witness)
        ceremony = ceremony if ceremony is not None else self.ceremony_number
        inspection = _build(
            Inspection,
            id=self._next_id(Inspection, "I"),
            bag=bag.serial,
            serial_expected=bag.serial,
            serial_read=serial_read.strip().upper(),
            checklist=dict(checklist),
            photo_sha256=tuple(p.lower() for p in photo_sha256),
            inspector=actor.person,
            witness=witness,
            at=utcnow(),
            ceremony=ceremony,
            step=step,
        )
        problems: list[tuple[DiscrepancyCategory, Severity, str]] = []
        if not inspection.serial_matches:
            problems.append(
                (
                    DiscrepancyCategory.SERIAL_MISMATCH,
                    Severity.HIGH,
                    f"serial read at inspection {inspection.serial_read!r} is not the recorded "
                    f"{bag.serial!r}",
                )
            )
        failed = sorted(k for k, ok in checklist.items() if not ok)
        if failed:
            problems.append(
                (
                    DiscrepancyCategory.TAMPER,
                    Severity.CRITICAL,
                    f"tamper checklist failed: {', '.join(failed)}",
                )
            )
        inspected = _revalidate(bag.model_copy(update={"state": state}))
        opened = self._record_with_discrepancies(
            actor,
            "bag.inspect",
            [f"bag:{bag.serial}", f"inspection:{inspection.id}"],
            [inspected, inspection],
            problems,
            {"witness": witness, "outcome": inspection.outcome},
            [f"bag:{bag.serial}"],
            ceremony=ceremony,
            step=step,
            dry_run=dry_run,
        )
        if opened:
            raise DiscrepancyOpened(_discrepancy_message(bag.serial, opened, dry_run), opened)
        return inspection

    @_serialised
    def open_bag(
        self,
        actor: Actor,
        serial: str,
        *,
        serial_read: str,
        witness: str,
        override_by: str | None = None,
        dry_run: bool = False,
    ) -> Bag:
        """Open an inspected bag. Refused while a discrepancy on it is open, unless
        ``override_by`` (an Internal Witness or Ceremony Administrator other than the actor)
        explicitly overrides; the override is recorded on each open discrepancy."""
        bag = self.bag(serial)
        self._require_person(witness, "witness")
        state = bag_transition(bag.serial, bag.state, BagAction.OPEN, actor.person, witness)
        read = serial_read.strip().upper()
        if read != bag.serial:
            opened = self._record_with_discrepancies(
                actor,
                "bag.open-refused",
                [f"bag:{bag.serial}"],
                [],
                [
                    (
                        DiscrepancyCategory.SERIAL_MISMATCH,
                        Severity.HIGH,
                        f"serial read before opening {read!r} is not the recorded {bag.serial!r}",
                    )
                ],
                {"serial_read": read, "witness": witness},
                [f"bag:{bag.serial}"],
                dry_run=dry_run,
            )
            raise DiscrepancyOpened(
                f"bag {bag.serial}: serial read {read!r} does not match; not opened. "
                + _discrepancy_message(bag.serial, opened, dry_run),
                opened,
            )
        blocking = self.discrepancies(open_only=True, about=f"bag:{bag.serial}")
        overridden: list[Discrepancy] = []
        if blocking:
            if override_by is None:
                ids = ", ".join(d.id for d in blocking)
                raise BlockedByDiscrepancy(
                    f"bag {bag.serial} cannot be opened: open discrepancies {ids} "
                    "(resolve them, or have an IW/CA override)"
                )
            self._check_override(actor, override_by)
            overridden = [
                _revalidate(d.model_copy(update={"overrides": (*d.overrides, override_by)}))
                for d in blocking
            ]
        creds = []
        for cid in bag.contents:
            cred = self.credential(cid)
            new_state = credential_transition(
                cid, cred.state, CredentialAction.UNSEAL, actor.person, None
            )
            creds.append(_revalidate(cred.model_copy(update={"state": new_state, "bag": None})))
        opened_bag = _revalidate(bag.model_copy(update={"state": state}))
        extra: dict[str, Any] = {"witness": witness, "serial_read": read}
        if overridden:
            extra["override_by"] = override_by
            extra["overridden"] = [d.id for d in overridden]
        subjects = [f"bag:{bag.serial}", *(f"credential:{c}" for c in bag.contents)]
        subjects += [f"discrepancy:{d.id}" for d in overridden]
        with self._change(actor, "bag.open", subjects, extra, dry_run=dry_run):
            self._put(opened_bag)
            for cred in creds:
                self._put(cred)
            for d in overridden:
                self._put(d)
        return opened_bag

    def _check_override(self, actor: Actor, override_by: str) -> None:
        if override_by == actor.person:
            raise WitnessRequired("the override must come from someone other than the actor")
        person = self.person(override_by)
        if person.retired or not set(person.roles) & {Role.IW, Role.CA}:
            raise InputError(f"{override_by} cannot override: only an IW or CA can")

    @_serialised
    def reseal_bag(
        self,
        actor: Actor,
        old_serial: str,
        new_serial: str,
        *,
        witness: str,
        location: Location,
        contents: Sequence[str] | None = None,
        kind: str | None = None,
        dry_run: bool = False,
    ) -> Bag:
        """Put credentials from an opened bag into a new bag; links old -> new serial."""
        old = self.bag(old_serial)
        new_serial = normalise_serial(new_serial)
        self._require_person(witness, "witness")
        state = bag_transition(old.serial, old.state, BagAction.RESEAL, actor.person, witness)
        self._require_new_serial(new_serial)
        items = tuple(contents) if contents is not None else old.contents
        creds = self._seal_contents(new_serial, items, actor.person, old.holder)
        new = _build(
            Bag,
            serial=new_serial,
            kind=kind or old.kind,
            contents=items,
            state=BagState.SEALED,
            location=location,
            holder=old.holder,
            sealed_by=actor.person,
            sealed_at=utcnow(),
            seal_witness=witness,
            replaces=old.serial,
        )
        old_done = _revalidate(old.model_copy(update={"state": state, "replaced_by": new_serial}))
        subjects = [f"bag:{old.serial}", f"bag:{new_serial}", *(f"credential:{c}" for c in items)]
        with self._change(
            actor,
            "bag.reseal",
            subjects,
            {"witness": witness, "old": old.serial, "new": new_serial},
            dry_run=dry_run,
        ):
            self._put(new)
            self._put(old_done)
            for cred in creds:
                self._put(cred)
        return new

    @_serialised
    def bag_action(
        self,
        actor: Actor,
        serial: str,
        action: BagAction,
        *,
        witness: str | None = None,
        dry_run: bool = False,
    ) -> Bag:
        """Retire, destroy or lose a bag (the other actions have their own methods)."""
        if action not in (BagAction.RETIRE, BagAction.DESTROY, BagAction.LOSE):
            raise InputError(f"use the dedicated method for {action.value}")
        bag = self.bag(serial)
        self._require_person(witness, "witness")
        state = bag_transition(bag.serial, bag.state, action, actor.person, witness)
        updated = _revalidate(bag.model_copy(update={"state": state}))
        creds = []
        if action == BagAction.LOSE:
            for cid in bag.contents:
                cred = self.credential(cid)
                if cred.bag == bag.serial:
                    creds.append(
                        _revalidate(
                            cred.model_copy(update={"state": CredentialState.LOST, "bag": None})
                        )
                    )
        extra = {"witness": witness} if witness else None
        with self._change(
            actor, f"bag.{action.value}", [f"bag:{bag.serial}"], extra, dry_run=dry_run
        ):
            self._put(updated)
            for cred in creds:
                self._put(cred)
        return updated

    # -- discrepancies and ceremonies ---------------------------------------------------------
    @_serialised
    def add_discrepancy(
        self,
        actor: Actor,
        *,
        category: DiscrepancyCategory,
        severity: Severity,
        description: str,
        objects: Sequence[str] = (),
        ceremony: int | None = None,
        step: str | None = None,
        dry_run: bool = False,
    ) -> Discrepancy:
        ceremony = ceremony if ceremony is not None else self.ceremony_number
        opened = self._record_with_discrepancies(
            actor,
            "discrepancy.open",
            list(objects),
            [],
            [(category, severity, description)],
            {},
            list(objects),
            ceremony=ceremony,
            step=step,
            dry_run=dry_run,
        )
        return opened[0]

    @_serialised
    def resolve_discrepancy(
        self, actor: Actor, did: str, resolution: str, *, dry_run: bool = False
    ) -> Discrepancy:
        d = self.discrepancy(did)
        if d.status != "open":
            raise InputError(f"discrepancy {did} is already resolved")
        resolved = _revalidate(
            d.model_copy(
                update={
                    "status": "resolved",
                    "resolution": resolution,
                    "resolved_by": actor.person,
                    "resolved_at": utcnow(),
                }
            )
        )
        with self._change(
            actor, "discrepancy.resolve", [f"discrepancy:{did}", *d.objects], dry_run=dry_run
        ):
            self._put(resolved)
        return resolved

    @_serialised
    def add_ceremony(self, actor: Actor, ceremony: Ceremony, *, dry_run: bool = False) -> None:
        if self._get_or_none(Ceremony, ceremony.number) is not None:
            raise InputError(f"ceremony {ceremony.number} already exists")
        with self._change(actor, "ceremony.add", [f"ceremony:{ceremony.number}"], dry_run=dry_run):
            self._put(ceremony)

    # -- audit -------------------------------------------------------------------------------
    def checkpoint(self, actor: Actor) -> None:
        self._require_actor(actor)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self.audit.checkpoint(actor.signer)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def history(self, subject: str) -> list[dict[str, Any]]:
        """Audit events naming ``subject`` (e.g. ``bag:TEB-1``), oldest first."""
        return list(self.audit.events_about(subject))

    def verify(
        self,
        *,
        expect_head: str | None = None,
        progress: Progress | None = None,
        workers: int | None = None,
    ) -> VerifyReport:
        """Verify the audit chain and signatures, then that every ledger row is exactly the
        record the last audit event about it carries (no row added, changed or removed)."""
        self._conn.execute("BEGIN")
        try:
            total = self.audit.count()
            latest: dict[tuple[str, str], tuple[int, bytes]] = {}
            report = verify_log(
                list(_events_tolerant(self.audit.events(), latest)),
                self.audit.checkpoints(),
                expect_head=expect_head,
                progress=(lambda d, _t: progress(d, total)) if progress else None,
                workers=workers,
            )
            self._check_index_columns()
            self._check_tables(latest)
            self._check_key_table(report)
        finally:
            self._conn.execute("COMMIT")
        return report

    def _check_index_columns(self) -> None:
        """``kind`` and ``subjects`` (used to find a bag's history) must match the body."""
        for seq, body, kind, subjects in self._conn.execute(
            "SELECT seq, body, kind, subjects FROM audit_event ORDER BY seq"
        ):
            parsed = parse_canonical(as_bytes(body))
            expected = "|" + "|".join(parsed.get("subjects", [])) + "|"
            if kind != parsed.get("kind") or subjects != expected:
                raise LedgerIntegrityError(
                    f"audit event {seq}: its kind/subjects index columns disagree with the "
                    "signed body (edited behind the tool's back)"
                )

    def _check_tables(self, latest: dict[tuple[str, str], tuple[int, bytes]]) -> None:
        seen: set[tuple[str, str]] = set()
        for name in [*TABLES, _ATTESTATION]:
            for key, doc in self._conn.execute(f"SELECT key, doc FROM {name} ORDER BY key"):  # noqa: S608
                ident = (name, str(key))
                seen.add(ident)
                expected = latest.get(ident)
                if expected is None:
                    raise LedgerIntegrityError(
                        f"ledger row {name}/{key} was never written by an audited change "
                        "(inserted behind the tool's back)"
                    )
                if as_bytes(doc) != expected[1]:
                    raise LedgerIntegrityError(
                        f"ledger row {name}/{key} differs from audit event {expected[0]} "
                        "(edited behind the tool's back)"
                    )
            table = TABLES.get(name)
            if table is not None and table.columns:
                cols = ", ".join(table.columns)
                for row in self._conn.execute(f"SELECT key, doc, {cols} FROM {name}"):  # noqa: S608
                    doc = parse_canonical(as_bytes(row[1]))
                    for i, fieldname in enumerate(table.columns.values()):
                        if row[2 + i] != doc.get(fieldname):
                            raise LedgerIntegrityError(
                                f"ledger row {name}/{row[0]}: column {fieldname} disagrees "
                                "with the record"
                            )
        missing = sorted(set(latest) - seen)
        if missing:
            name, key = missing[0]
            raise LedgerIntegrityError(
                f"ledger row {name}/{key} written by audit event {latest[missing[0]][0]} "
                "is missing (deleted behind the tool's back)"
            )

    def _check_key_table(self, report: VerifyReport) -> None:
        rows = {
            r[0]: (r[1], r[2], r[3], int(r[4]), None if r[5] is None else int(r[5]))
            for r in self._conn.execute(
                "SELECT key_id, algorithm, public_key, owner, added_seq, revoked_seq FROM audit_key"
            )
        }
        expected = {
            k.key_id: (k.algorithm, k.public_key.hex(), k.owner, k.added_seq, k.revoked_seq)
            for k in report.keys.values()
        }
        if rows != expected:
            bad = sorted(set(rows.items()) ^ set(expected.items()))[0][0]
            raise LedgerIntegrityError(f"audit_key row {bad} disagrees with the audit log")

    # -- views -------------------------------------------------------------------------------
    def status(self, person: str) -> dict[str, Any]:
        """A TCR's own view: credentials, where each is, bag, last inspection, open
        discrepancies."""
        who = self.person(person)
        items = []
        open_d = self.discrepancies(open_only=True)
        for cred in self.credentials(person):
            bag = self._get_or_none(Bag, cred.bag) if cred.bag else None
            last = None
            if bag is not None:
                found = self.inspections(bag.serial)
                last = found[-1] if found else None
            about = {f"credential:{cred.id}"} | ({f"bag:{bag.serial}"} if bag else set())
            items.append(
                {
                    "credential": cred.id,
                    "kind": cred.kind.value,
                    "serial": cred.serial,
                    "state": cred.state.value,
                    "bag": bag.serial if bag else None,
                    "bag_state": bag.state.value if bag else None,
                    "location": bag.location.describe() if bag else None,
                    "last_inspection": (
                        {"id": last.id, "at": isoformat(last.at), "outcome": last.outcome}
                        if last
                        else None
                    ),
                    "open_discrepancies": [d.id for d in open_d if about & set(d.objects)],
                }
            )
        return {
            "person": who.id,
            "name": who.name,
            "roles": [r.value for r in who.roles],
            "credentials": items,
        }


def _events_tolerant(
    events: Iterator[StoredEvent], latest: dict[tuple[str, str], tuple[int, bytes]]
) -> Iterator[StoredEvent]:
    """Pass events through, noting the records each carries (bad bodies are left to
    :func:`verify_log` to locate)."""
    for event in events:
        try:
            body = parse_canonical(event.body)
        except ValueError:
            body = None
        if isinstance(body, dict):
            payload = body.get("payload")
            records = payload.get("records") if isinstance(payload, dict) else None
            for rec in records if isinstance(records, list) else []:
                if isinstance(rec, dict) and "doc" in rec:
                    try:
                        doc = canonical_bytes(rec["doc"])
                    except ValueError:
                        continue
                    latest[(str(rec.get("table")), str(rec.get("key")))] = (event.seq, doc)
        yield event


_LIVE_CREDENTIAL = {CredentialState.ISSUED, CredentialState.SEALED}


def _discrepancy_message(serial: str, opened: Sequence[Discrepancy], dry_run: bool) -> str:
    parts = "; ".join(f"{d.id} ({d.category.value}): {d.description}" for d in opened)
    if dry_run:
        return f"dry run, nothing recorded: bag {serial} would open discrepancy {parts}"
    return f"bag {serial}: discrepancy opened: {parts}; the bag cannot be opened until resolved"


def normalise_serial(serial: str) -> str:
    """Bag serials are compared upper-case without surrounding space."""
    return serial.strip().upper()
