"""The append-only, hash-chained, signed event log, kept in tables of a SQLite database
that the caller owns (and whose transaction the caller controls).

Event ``n`` (from 1) is the canonical JSON object (see :mod:`tcr_kit.audit.canonical`)::

    {"actor": ..., "key_id": ..., "kind": ..., "payload": {...}, "prev": <hex of hash n-1>,
     "seq": n, "subjects": [...], "time": "YYYY-MM-DDTHH:MM:SS.ffffffZ", "v": 1}

``hash_n = SHA-256(b"tcr-kit/audit/event/v1\\n" || body_n)`` with ``prev`` of event 1 being
64 zeros, and ``signature_n = Ed25519(key, hash_n)`` by the acting person's key. A key signs
only after a ``audit.key.add`` event registered it (signed by an already registered key; only
event 1 registers itself), and only for the person it was registered to.

A checkpoint is ``{"head": <hex hash_n>, "key_id": ..., "seq": n, "time": ..., "v": 1}``,
signed over ``SHA-256(b"tcr-kit/audit/checkpoint/v1\\n" || body)``.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tcr_kit.audit.canonical import canonical_bytes, parse_canonical
from tcr_kit.audit.signing import (
    ALGORITHMS,
    ED25519,
    Signer,
    canonical_public_key,
    check_new_public_key,
    key_id,
)
from tcr_kit.clock import isoformat, utcnow
from tcr_kit.errors import InputError, IntegrityError

if TYPE_CHECKING:
    from tcr_kit.audit.cosign import Cosignature, Cosigner

FORMAT_VERSION = 1
EVENT_DOMAIN = b"tcr-kit/audit/event/v1\n"
CHECKPOINT_DOMAIN = b"tcr-kit/audit/checkpoint/v1\n"
GENESIS_PREV = "0" * 64
KEY_ADD = "audit.key.add"
KEY_REVOKE = "audit.key.revoke"
CHECKPOINT_EVENT = "audit.checkpoint"
"""Kind of the event that announces a checkpoint: the checkpoint taken with it signs the head
*at that event*, so a verifier that sees the event requires the checkpoint (deleting
checkpoints is detected; deleting the event breaks the chain)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_event (
    seq       INTEGER PRIMARY KEY,
    body      BLOB    NOT NULL,
    hash      TEXT    NOT NULL,
    signature TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    subjects  TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_event_subjects ON audit_event(subjects);
CREATE TABLE IF NOT EXISTS audit_key (
    key_id     TEXT PRIMARY KEY,
    algorithm  TEXT NOT NULL,
    public_key TEXT NOT NULL,
    owner      TEXT NOT NULL,
    added_seq  INTEGER NOT NULL,
    revoked_seq INTEGER
);
CREATE TABLE IF NOT EXISTS audit_checkpoint (
    seq       INTEGER PRIMARY KEY,
    body      BLOB NOT NULL,
    signature TEXT NOT NULL
);
"""


def already_registered(kid: str, twin: KeyRecord) -> str:
    """The refusal of registering key ``kid`` when ``twin`` is the same key."""
    if twin.key_id == kid:
        return f"key {kid} is already registered (to {twin.owner})"
    return (
        f"key {kid} is key {twin.key_id}, already registered (to {twin.owner}) in another"
        " encoding of the same P-256 point"
    )


class AuditIntegrityError(IntegrityError):
    """The log is not what was written: names the first bad event (or checkpoint)."""

    def __init__(self, seq: int, reason: str, *, what: str = "event") -> None:
        super().__init__(f"audit log: {what} {seq}: {reason}")
        self.seq = seq
        self.reason = reason
        self.what = what


@dataclass(frozen=True)
class StoredEvent:
    """One row as stored: the exact body bytes, its hash and signature (hex)."""

    seq: int
    body: bytes
    hash: str
    signature: str


@dataclass(frozen=True)
class StoredCheckpoint:
    seq: int
    body: bytes
    signature: str


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    algorithm: str
    public_key: bytes
    owner: str
    added_seq: int
    revoked_seq: int | None = None


@dataclass
class VerifyReport:
    """What a successful verification established."""

    events: int = 0
    head: str = GENESIS_PREV
    checkpoints: int = 0
    keys: dict[str, KeyRecord] = field(default_factory=dict)
    cosignatures: int = 0
    """Witnesses' co-signatures checked (:func:`tcr_kit.audit.cosign.verify_cosignatures`)."""
    statements: int = 0
    """Signed statements embedded in events re-checked (overrides, approvals, seal
    attestations, share manifests: :func:`tcr_kit.audit.statements.check_statements`)."""


def as_bytes(value: object) -> bytes:
    """A BLOB column's value as bytes (SQL edits can turn a BLOB into TEXT)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8")


def _row_int(value: object) -> int:
    """An INTEGER column's value; anything else (an edited row) is a ValueError."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{value!r} is not an integer")
    return value


def event_hash(body: bytes) -> bytes:
    return hashlib.sha256(EVENT_DOMAIN + body).digest()


def checkpoint_hash(body: bytes) -> bytes:
    return hashlib.sha256(CHECKPOINT_DOMAIN + body).digest()


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the audit tables (idempotent); call inside the caller's migration."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


class AuditLog:
    """Appends to and reads the audit tables of ``conn``. Never commits: the caller wraps
    the state change and :meth:`append` in one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # -- writing -------------------------------------------------------------------------
    def head(self) -> tuple[int, str]:
        row = self._conn.execute(
            "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return (0, GENESIS_PREV) if row is None else (int(row[0]), str(row[1]))

    def key_for(self, signer: Signer) -> KeyRecord | None:
        return self.key_of(key_id(signer.public_key_bytes()))

    def append(
        self,
        signer: Signer,
        actor: str,
        kind: str,
        payload: dict[str, Any],
        subjects: Sequence[str] = (),
        *,
        time: datetime | None = None,
        cosigners: Sequence[Cosigner] = (),
    ) -> StoredEvent:
        """Append one signed event; the signer's key must be registered to ``actor``.

        ``cosigners`` (:mod:`tcr_kit.audit.cosign`) are declared in the payload and sign the
        same event hash; a :class:`~tcr_kit.audit.cosign.WitnessSignature` made in advance
        fixes the event's time and must be over exactly the event built here."""
        record = self.key_for(signer)
        if record is None:
            raise InputError(
                f"signing key {key_id(signer.public_key_bytes())} is not registered in the "
                "audit log"
            )
        if record.owner != actor:
            raise InputError(f"signing key {record.key_id} belongs to {record.owner}, not {actor}")
        if record.revoked_seq is not None:
            raise InputError(
                f"signing key {record.key_id} was revoked at event {record.revoked_seq}"
            )
        return self._append(signer, actor, kind, payload, subjects, time, cosigners)

    def register_key(
        self,
        registrar: Signer,
        registrar_actor: str,
        public_key: bytes,
        owner: str,
        algorithm: str = ED25519,
        *,
        time: datetime | None = None,
    ) -> StoredEvent:
        """Register ``public_key`` for ``owner``; signed by a registered key, or by the new
        key itself when the log is empty (the log's first event)."""
        try:
            check_new_public_key(algorithm, public_key)
        except (ValueError, TypeError, IndexError) as exc:
            raise InputError(f"public key for {owner}: {exc}") from None
        kid = key_id(public_key)
        twin = self.same_key(algorithm, public_key)
        if twin is not None:
            raise InputError(already_registered(kid, twin))
        seq, _ = self.head()
        payload = {
            "algorithm": algorithm,
            "key_id": kid,
            "owner": owner,
            "public_key": public_key.hex(),
        }
        if seq == 0:
            if (
                registrar.public_key_bytes() != public_key
                or registrar_actor != owner
                or registrar.algorithm != algorithm
            ):
                raise InputError("the first key must register itself")
            event = self._append(registrar, owner, KEY_ADD, payload, [f"key:{kid}"], time)
        else:
            event = self.append(
                registrar, registrar_actor, KEY_ADD, payload, [f"key:{kid}"], time=time
            )
        self._conn.execute(
            "INSERT INTO audit_key (key_id, algorithm, public_key, owner, added_seq) "
            "VALUES (?, ?, ?, ?, ?)",
            (kid, algorithm, public_key.hex(), owner, event.seq),
        )
        return event

    def revoke_key(
        self, registrar: Signer, registrar_actor: str, kid: str, *, time: datetime | None = None
    ) -> StoredEvent:
        """Revoke key ``kid``: no event or checkpoint after this one may be signed by it."""
        row = self._conn.execute(
            "SELECT revoked_seq FROM audit_key WHERE key_id = ?", (kid,)
        ).fetchone()
        if row is None:
            raise InputError(f"key {kid} is not registered")
        if row[0] is not None:
            raise InputError(f"key {kid} is already revoked")
        if key_id(registrar.public_key_bytes()) == kid:
            raise InputError("a key cannot revoke itself; another registered key must")
        event = self.append(
            registrar, registrar_actor, KEY_REVOKE, {"key_id": kid}, [f"key:{kid}"], time=time
        )
        self._conn.execute(
            "UPDATE audit_key SET revoked_seq = ? WHERE key_id = ?", (event.seq, kid)
        )
        return event

    def _append(
        self,
        signer: Signer,
        actor: str,
        kind: str,
        payload: dict[str, Any],
        subjects: Sequence[str],
        time: datetime | None,
        cosigners: Sequence[Cosigner] = (),
    ) -> StoredEvent:
        if signer.algorithm not in ALGORITHMS:
            raise ValueError(f"unsupported algorithm {signer.algorithm}")
        seq, prev = self.head()
        if cosigners:
            from tcr_kit.audit import cosign

            payload, time = cosign.declare(self, cosigners, payload, time)
        body = canonical_bytes(
            {
                "actor": actor,
                "key_id": key_id(signer.public_key_bytes()),
                "kind": kind,
                "payload": payload,
                "prev": prev,
                "seq": seq + 1,
                "subjects": list(subjects),
                "time": isoformat(time or utcnow()),
                "v": FORMAT_VERSION,
            }
        )
        digest = event_hash(body)
        cosignatures = []
        if cosigners:
            from tcr_kit.audit import cosign

            cosignatures = cosign.collect(self, cosigners, seq + 1, body, digest)
        signature = signer.sign(digest).hex()
        event = StoredEvent(seq + 1, body, digest.hex(), signature)
        self._conn.execute(
            "INSERT INTO audit_event (seq, body, hash, signature, kind, subjects) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (event.seq, body, event.hash, signature, kind, "|" + "|".join(subjects) + "|"),
        )
        if cosignatures:
            from tcr_kit.audit import cosign

            cosign.store_cosignatures(self._conn, cosignatures)
        return event

    def checkpoint(self, signer: Signer, *, time: datetime | None = None) -> StoredCheckpoint:
        """Append an :data:`CHECKPOINT_EVENT` and sign the head at that event (by a
        registered key). The event makes the checkpoint part of the chain: a verifier
        requires a checkpoint for every such event."""
        record = self.key_for(signer)
        if record is None or record.revoked_seq is not None:
            raise InputError("checkpoint signer's key is not registered, or revoked")
        if self.head()[0] == 0:
            raise InputError("nothing to checkpoint: the log is empty")
        self._append(signer, record.owner, CHECKPOINT_EVENT, {}, [], time)
        seq, head = self.head()
        body = canonical_bytes(
            {
                "head": head,
                "key_id": key_id(signer.public_key_bytes()),
                "seq": seq,
                "time": isoformat(time or utcnow()),
                "v": FORMAT_VERSION,
            }
        )
        signature = signer.sign(checkpoint_hash(body)).hex()
        self._conn.execute(
            "INSERT INTO audit_checkpoint (seq, body, signature) VALUES (?, ?, ?)",
            (seq, body, signature),
        )
        return StoredCheckpoint(seq, body, signature)

    # -- reading -------------------------------------------------------------------------
    def events(self, first: int = 1, last: int | None = None) -> Iterator[StoredEvent]:
        cur = self._conn.execute(
            "SELECT seq, body, hash, signature FROM audit_event WHERE seq >= ? AND seq <= ? "
            "ORDER BY seq",
            (first, last if last is not None else 2**62),
        )
        for row in cur:
            yield StoredEvent(int(row[0]), as_bytes(row[1]), str(row[2]), str(row[3]))

    def stored_hashes(self, last: int) -> Iterator[tuple[int, str]]:
        """``(seq, hash)`` of events 1..``last`` as stored, without their bodies: for callers
        that already checked those bodies once (an incremental publisher) and only need the
        leaves. A full check is :func:`tcr_kit.audit.verify.verify_log`."""
        cur = self._conn.execute(
            "SELECT seq, hash FROM audit_event WHERE seq <= ? ORDER BY seq", (last,)
        )
        for row in cur:
            yield int(row[0]), str(row[1])

    def events_about(self, subject: str) -> Iterator[dict[str, Any]]:
        """Parsed bodies of events naming ``subject`` (index column; bodies are parsed)."""
        cur = self._conn.execute(
            "SELECT body FROM audit_event WHERE subjects LIKE ? ESCAPE '\\' ORDER BY seq",
            ("%|" + subject.replace("%", "\\%").replace("_", "\\_") + "|%",),
        )
        for (body,) in cur:
            try:
                parsed = parse_canonical(as_bytes(body))
            except ValueError:
                continue
            if isinstance(parsed, dict) and subject in parsed.get("subjects", []):
                yield parsed

    def checkpoints(self) -> list[StoredCheckpoint]:
        return [
            StoredCheckpoint(int(r[0]), as_bytes(r[1]), str(r[2]))
            for r in self._conn.execute(
                "SELECT seq, body, signature FROM audit_checkpoint ORDER BY seq"
            )
        ]

    def cosignatures(self) -> dict[int, list[Cosignature]]:
        """Every stored co-signature by event number (:mod:`tcr_kit.audit.cosign`)."""
        from tcr_kit.audit.cosign import stored_cosignatures

        return stored_cosignatures(self._conn)

    def key_of(self, kid: str) -> KeyRecord | None:
        """The registration of key ``kid`` (revoked keys included), or ``None``."""
        row = self._conn.execute(
            "SELECT key_id, algorithm, public_key, owner, added_seq, revoked_seq FROM audit_key "
            "WHERE key_id = ?",
            (kid,),
        ).fetchone()
        if row is None:
            return None
        try:
            revoked = None if row[5] is None else _row_int(row[5])
            return KeyRecord(
                row[0], row[1], bytes.fromhex(row[2]), row[3], _row_int(row[4]), revoked
            )
        except (ValueError, TypeError):
            raise IntegrityError(
                f"audit_key row {kid} is damaged (edited behind the tool's back?)"
            ) from None

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM audit_event").fetchone()[0])

    def same_key(self, algorithm: str, public_key: bytes) -> KeyRecord | None:
        """The registration of the key ``public_key`` is, in whatever encoding it was
        registered (revoked keys included: a key is used once), or ``None``. Keys are
        compared by :func:`~tcr_kit.audit.signing.canonical_public_key` (for P-256 the
        decoded point), not by ``key_id``, which hashes one encoding."""
        canonical = canonical_public_key(algorithm, public_key)
        for (kid,) in self._conn.execute(
            "SELECT key_id FROM audit_key WHERE algorithm = ? ORDER BY added_seq", (algorithm,)
        ):
            record = self.key_of(str(kid))
            if record is None:
                continue
            try:
                other = canonical_public_key(record.algorithm, record.public_key)
            except (ValueError, TypeError, IndexError):
                continue  # a damaged row: the verifier reports it
            if other == canonical:
                return record
        return None

    def key_registered(self, kid: str) -> bool:
        """Whether key ``kid`` was ever registered (revoked keys count: a key is used once)."""
        row = self._conn.execute("SELECT 1 FROM audit_key WHERE key_id = ?", (kid,)).fetchone()
        return row is not None

    # -- consistency of the derived tables -----------------------------------------------
    def first_index_mismatch(self) -> int | None:
        """The first event whose ``kind``/``subjects`` index columns (used to find a subject's
        history) disagree with its body, or ``None``. The signed body is the truth; the
        columns are derived from it and not covered by the signature."""
        for seq, body, kind, subjects in self._conn.execute(
            "SELECT seq, body, kind, subjects FROM audit_event ORDER BY seq"
        ):
            parsed = parse_canonical(as_bytes(body))
            expected = "|" + "|".join(parsed.get("subjects", [])) + "|"
            if kind != parsed.get("kind") or subjects != expected:
                return int(seq)
        return None

    def first_key_mismatch(self, keys: Mapping[str, KeyRecord]) -> str | None:
        """The first key id (sorted) whose row in the key table differs from ``keys`` (what
        verifying the events established: :attr:`VerifyReport.keys`), or ``None``."""
        rows = {
            r[0]: (r[1], r[2], r[3], r[4], r[5])
            for r in self._conn.execute(
                "SELECT key_id, algorithm, public_key, owner, added_seq, revoked_seq FROM audit_key"
            )
        }
        expected = {
            k.key_id: (k.algorithm, k.public_key.hex(), k.owner, k.added_seq, k.revoked_seq)
            for k in keys.values()
        }
        if rows == expected:
            return None
        return sorted(str(k) for k in set(rows) | set(expected) if rows.get(k) != expected.get(k))[
            0
        ]
