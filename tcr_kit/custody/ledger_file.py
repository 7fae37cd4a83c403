"""The ledger file itself, without the :class:`~tcr_kit.custody.ledger.Ledger` facade: where
it lives by default, which schema version this tcr-kit writes, and a read-only connection.

Kept apart from :mod:`tcr_kit.custody.ledger.schema` (which maps tables to their pydantic
records) so that a reader that builds no records, such as ``tcr status``
(:mod:`tcr_kit.custody.status`), opens the file without importing pydantic.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from tcr_kit.custody.errors import LedgerIntegrityError
from tcr_kit.errors import OperationalError

__all__ = [
    "LEDGER_ENV",
    "SCHEMA_VERSION",
    "connect_read_only",
    "default_ledger_path",
    "not_a_ledger",
]

LEDGER_ENV = "TCR_LEDGER"
SCHEMA_VERSION = 2
"""The schema version this tcr-kit writes (``PRAGMA user_version``): one per migration."""


def default_ledger_path(env: Mapping[str, str] | None = None) -> Path:
    """``$TCR_LEDGER``, else ``$XDG_DATA_HOME/tcr-kit/ledger.sqlite``, else
    ``~/.local/share/tcr-kit/ledger.sqlite``."""
    env = os.environ if env is None else env
    if env.get(LEDGER_ENV):
        return Path(env[LEDGER_ENV])
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tcr-kit" / "ledger.sqlite"


def connect_read_only(p: Path, timeout: float) -> tuple[sqlite3.Connection, int, set[str]]:
    """Open ``p`` with SQLite's ``mode=ro`` (never creates, migrates or writes anything);
    returns the connection, the schema version and the names of its tables. A missing
    file, an unreadable one and a schema newer than this tcr-kit's are refused here; the
    caller checks the tables it needs (:func:`not_a_ledger`)."""
    if not p.is_file():
        raise OperationalError(f"{p}: no ledger here (run 'tcr roster init' first)")
    uri = "file:" + urllib.parse.quote(str(p.resolve())) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise OperationalError(f"{p}: cannot open ledger: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {
            str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.OperationalError as exc:
        conn.close()
        raise OperationalError(f"{p}: cannot read ledger: {exc}") from None
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise LedgerIntegrityError(f"{p}: not a usable ledger: {exc}") from None
    if version > SCHEMA_VERSION:
        conn.close()
        raise OperationalError(
            f"{p}: ledger schema {version} is newer than this tcr-kit ({SCHEMA_VERSION})"
        )
    return conn, version, tables


def not_a_ledger(p: Path, missing: list[str]) -> LedgerIntegrityError:
    """The refusal of a file opened read-only that lacks the ledger's schema (an empty file
    is not an empty ledger)."""
    what = "empty file" if p.stat().st_size == 0 else f"missing {', '.join(missing)}"
    return LedgerIntegrityError(f"{p}: not a ledger: no ledger schema ({what})")
