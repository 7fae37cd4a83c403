"""The custody timeline of one credential or one bag: its current record, then every event
about it with the state, serial and place it left the object in, who acted and who
witnessed."""

from __future__ import annotations

import json
from typing import Any

from tcr_kit.report.markup import esc, page, table, who
from tcr_kit.report.model import ReportData

__all__ = ["timeline_page"]


def _plain(value: object) -> object:
    """A record's field as shown: a nested value (a place, a list) as its JSON."""
    return json.dumps(value) if isinstance(value, dict | list) else value


def timeline_page(what: str, subject: str, doc: dict[str, Any], data: ReportData) -> str:
    """The HTML of the page of ``subject`` (``credential:ID`` or ``bag:SERIAL``), titled
    ``what`` and its key; ``doc``: its current public record."""
    key = subject.split(":", 1)[1]
    facts = "".join(f"<tr><th>{esc(k)}</th><td>{esc(_plain(v))}</td></tr>" for k, v in doc.items())
    rows = []
    for e in data.about(subject):
        state = serial = place = ""
        for rec in e.get("records", []):
            if f"{rec['table']}:{rec['key']}" == subject or (
                rec["table"] == "bag" and subject == f"bag:{rec['key']}"
            ):
                state = str(rec["doc"].get("state", ""))
                serial = str(rec["doc"].get("serial", rec["doc"].get("bag", "")) or "")
                loc = rec["doc"].get("location")
                if isinstance(loc, dict):
                    place = " ".join(f"{k}={v}" for k, v in loc.items())
        d = e.get("details", {})
        rows.append(
            [
                esc(e["seq"]),
                esc(e["time"]),
                esc(e["kind"]),
                esc(state),
                esc(serial),
                esc(place),
                who(e["actor"], data),
                who(d.get("witness"), data),
                f'<code class="hash">{esc(e["hash"][:16])}</code>',
            ]
        )
    body = f"<table>{facts}</table><h2>Custody timeline</h2>" + table(
        rows,
        [
            "event",
            "time (UTC)",
            "what",
            "state",
            "serial",
            "place",
            "by",
            "witness",
            "event hash",
        ],
        tid="timeline",
    )
    return page(f"{what} {key}", body)
