"""A ceremony's transcript as a file of the site, or the reason it is withheld.

The transcript is every signed audit event from the first to the ceremony's last (through
its closing checkpoint when it was closed), so anyone can verify it offline. Signed events
cannot be redacted without breaking their signatures: a transcript that records a private
place (:func:`~tcr_kit.report.public.private_transcript_fields`) is not published at all, and
an earlier copy of it is removed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcr_kit.report.model import ReportData
from tcr_kit.report.public import private_transcript_fields
from tcr_kit.report.site_files import write_public

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Ledger

__all__ = ["publish_transcript"]


def publish_transcript(
    ledger: Ledger, data: ReportData, c: dict[str, Any], root: Path
) -> list[str]:
    """Write ``transcripts/transcript-ceremony-N.json`` under ``root`` for the ceremony
    ``c``; returns the private fields that withheld it instead (empty when written, or when
    the ceremony has no events)."""
    from tcr_kit.audit.canonical import parse_canonical
    from tcr_kit.audit.selection import EventSelection
    from tcr_kit.audit.transcript import build_transcript

    if not c["events"]:
        return []
    selection = EventSelection(ceremony=c["number"])
    closed = (c.get("closing") or {}).get("source") == "checkpoint"
    transcript = build_transcript(
        ledger.audit, selection, selection.description, through_checkpoint=closed
    )
    names = set(data.people)
    names |= {str(p.get("facility")) for p in data.people.values() if p.get("facility")}
    names |= {str(x["facility"]) for x in data.ceremonies if x.get("facility")}
    bodies = [parse_canonical(e["body"].encode("ascii")) for e in transcript["events"]]
    withheld = private_transcript_fields(bodies, names)
    path = root / "transcripts" / f"transcript-ceremony-{c['number']}.json"
    if withheld:
        if path.exists():
            path.unlink()
        return withheld
    text = json.dumps(transcript, indent=1, sort_keys=True) + "\n"
    write_public(path, text)
    return []
