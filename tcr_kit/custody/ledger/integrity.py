"""Integrity: checkpoints, and verification that the audit chain and signatures hold and that
every ledger row is exactly the record the last audit event about it carries."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from tcr_kit.audit.canonical import canonical_bytes, parse_canonical
from tcr_kit.audit.chain import StoredEvent, VerifyReport, as_bytes
from tcr_kit.audit.cosign import verify_cosignatures
from tcr_kit.audit.verify import Progress, verify_log
from tcr_kit.custody.errors import LedgerIntegrityError
from tcr_kit.custody.ledger.schema import ATTESTATION, TABLES
from tcr_kit.custody.ledger.storage import Actor, LedgerStore

__all__ = ["IntegrityMixin"]


class IntegrityMixin(LedgerStore):
    """Checkpoint the audit log; verify the log and the tables against it."""

    def checkpoint(self, actor: Actor) -> None:
        self._require_actor(actor)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self.audit.checkpoint(actor.signer)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def verify(
        self,
        *,
        expect_head: str | None = None,
        progress: Progress | None = None,
        workers: int | None = None,
    ) -> VerifyReport:
        """Verify the audit chain and signatures, then that every ledger row is exactly the
        record the last audit event about it carries (no row added, changed or removed)."""
        self._check_sqlite_integrity()
        self._conn.execute("BEGIN")
        try:
            total = self.audit.count()
            latest: dict[tuple[str, str], tuple[int, bytes]] = {}
            events = list(_events_tolerant(self.audit.events(), latest))
            report = verify_log(
                events,
                self.audit.checkpoints(),
                expect_head=expect_head,
                progress=(lambda d, _t: progress(d, total)) if progress else None,
                workers=workers,
            )
            report.cosignatures = verify_cosignatures(
                events, self.audit.cosignatures(), report.keys
            )
            self._check_index_columns()
            self._check_tables(latest)
            self._check_key_table(report)
        finally:
            self._conn.execute("COMMIT")
        return report

    def _check_sqlite_integrity(self) -> None:
        """SQLite's own ``PRAGMA integrity_check``: damaged pages, broken indexes."""
        try:
            rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise
            raise LedgerIntegrityError(f"{self.path}: SQLite integrity check: {exc}") from None
        if [tuple(r) for r in rows] != [("ok",)]:
            first = str(rows[0][0]).splitlines()[0] if rows else "no answer"
            raise LedgerIntegrityError(
                f"{self.path}: SQLite integrity check failed ({len(rows)} problems): {first}"
            )

    def _check_index_columns(self) -> None:
        """``kind`` and ``subjects`` (used to find a bag's history) must match the body."""
        seq = self.audit.first_index_mismatch()
        if seq is not None:
            raise LedgerIntegrityError(
                f"audit event {seq}: its kind/subjects index columns disagree with the "
                "signed body (edited behind the tool's back)"
            )

    def _check_tables(self, latest: dict[tuple[str, str], tuple[int, bytes]]) -> None:
        seen: set[tuple[str, str]] = set()
        for name in [n for n in [*TABLES, ATTESTATION] if self.has_table(n)]:
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
        bad = self.audit.first_key_mismatch(report.keys)
        if bad is not None:
            raise LedgerIntegrityError(f"audit_key row {bad} disagrees with the audit log")


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
