"""Which audit events a transcript selects: those naming a ceremony (as a subject, or in a
record they carry) and/or those in a UTC time window.

An :class:`EventSelection` is a selector for
:func:`tcr_kit.audit.transcript.build_transcript` (it is called with each parsed event body).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tcr_kit.errors import InputError

__all__ = ["EventSelection", "parse_utc"]


def parse_utc(value: str) -> datetime:
    """An ISO 8601 time; without a zone it is taken as UTC. :class:`InputError` if malformed."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{value!r} is not ISO 8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class EventSelection:
    """Events naming ``ceremony`` (if given), at or after ``since`` and before ``until``."""

    ceremony: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    since_text: str | None = None
    """How ``since`` was written (for the description); defaults to its ISO form."""
    until_text: str | None = None

    @classmethod
    def parse(
        cls, *, ceremony: int | None = None, since: str | None = None, until: str | None = None
    ) -> EventSelection:
        """From the command-line texts (see :func:`parse_utc`)."""
        return cls(
            ceremony=ceremony,
            since=parse_utc(since) if since is not None else None,
            until=parse_utc(until) if until is not None else None,
            since_text=since,
            until_text=until,
        )

    @property
    def description(self) -> str:
        """E.g. ``"ceremony 55, from 2026-01-01 until now"``, or ``"whole log"``."""
        parts = []
        if self.ceremony is not None:
            parts.append(f"ceremony {self.ceremony}")
        since = self.since_text or (self.since.isoformat() if self.since else None)
        until = self.until_text or (self.until.isoformat() if self.until else None)
        if since or until:
            parts.append(f"from {since or 'start'} until {until or 'now'}")
        return ", ".join(parts) or "whole log"

    def __call__(self, body: dict[str, Any]) -> bool:
        """Whether the event with this parsed body is selected."""
        when = datetime.fromisoformat(str(body["time"]).replace("Z", "+00:00"))
        if self.since is not None and when < self.since:
            return False
        if self.until is not None and when >= self.until:
            return False
        if self.ceremony is not None:
            return self.names_ceremony(body, self.ceremony)
        return True

    @staticmethod
    def names_ceremony(body: dict[str, Any], ceremony: int) -> bool:
        """The event names ``ceremony:N`` as a subject, or carries a record of that ceremony."""
        payload = body.get("payload", {})
        return f"ceremony:{ceremony}" in body.get("subjects", []) or any(
            isinstance(r, dict)
            and isinstance(r.get("doc"), dict)
            and r["doc"].get("ceremony") == ceremony
            for r in payload.get("records", [])
        )
