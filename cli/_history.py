"""``tcr discrepancy summary``: filters, totals, --csv and --json."""

from __future__ import annotations

import csv
import io
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from ._ledger import open_ledger
from ._output import say
from .app import emit_json, table


def _day(text: str | None, what: str) -> datetime | None:
    from tcr_kit.errors import InputError

    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InputError(f"{what} {text!r} is not a date YYYY-MM-DD") from None


def summary_command(
    ledger_path: Path | None,
    ceremony: int | None,
    since: str | None,
    until: str | None,
    *,
    as_csv: bool,
    as_json: bool,
) -> None:
    from tcr_kit.report.assumptions import assumption_for

    start, end = _day(since, "--since"), _day(until, "--until")
    with open_ledger(ledger_path) as led:
        counts = led.discrepancy_summary(ceremony=ceremony, since=start, until=end)
    rows = [dict(c.to_json(), assumption=assumption_for(c.category)) for c in counts]
    totals: dict[str, dict[str, int]] = {"category": {}, "severity": {}, "year": {}}
    for r in rows:
        for k in totals:
            key = str(r[k])
            totals[k][key] = totals[k].get(key, 0) + int(r["count"])
    total = sum(int(r["count"]) for r in rows)
    filters = {"ceremony": ceremony, "since": since, "until": until}
    if as_json:
        emit_json(
            {"ok": True, "filters": filters, "summary": rows, "totals": totals, "total": total}
        )
        return
    cols = ["year", "category", "severity", "status", "count", "assumption"]
    if as_csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buf.getvalue())
        return
    click.echo(table(rows, cols))
    for k in ("year", "category", "severity"):
        say(f"by {k}: " + ", ".join(f"{a} {n}" for a, n in sorted(totals[k].items())))
    say(f"total: {total}")
