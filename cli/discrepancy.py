"""``tcr discrepancy``: record, list, summarise, import, show and resolve discrepancies."""

from __future__ import annotations

from pathlib import Path

import click

from ._ledger import (
    actor,
    actor_options,
    cosign_options,
    dry_run_option,
    ledger_option,
    open_ledger,
)
from ._ledger import report_change as _report
from ._output import say
from .app import emit_json, json_option, table

__all__ = ["discrepancy"]


@click.group()
def discrepancy() -> None:
    """Discrepancies (exceptions): record, list, resolve."""


@discrepancy.command("add")
@ledger_option
@actor_options
@click.option(
    "--category",
    required=True,
    type=click.Choice(
        [
            "serial-mismatch",
            "tamper",
            "wrong-item",
            "procedure",
            "equipment",
            "time",
            "loss",
            "other",
        ]
    ),
)
@click.option("--severity", required=True, type=click.Choice(["low", "medium", "high", "critical"]))
@click.option("--description", required=True)
@click.option("--object", "objects", multiple=True, help="e.g. bag:TEB-1, credential:X")
@click.option("--step")
@dry_run_option
@json_option
def discrepancy_add(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    category: str,
    severity: str,
    description: str,
    objects: tuple[str, ...],
    step: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Record a discrepancy by hand (the IW's numbered exception)."""
    from tcr_kit.custody.models import DiscrepancyCategory, Severity

    with open_ledger(ledger_path) as led:
        d = led.add_discrepancy(
            actor(actor_id, key_file),
            category=DiscrepancyCategory(category),
            severity=Severity(severity),
            description=description,
            objects=list(objects),
            step=step,
            dry_run=dry_run,
        )
        _report(led, f"discrepancy {d.id} opened", dry_run, {"discrepancy": d.id})


@discrepancy.command("list")
@ledger_option
@click.option("--open", "open_only", is_flag=True)
@json_option
def discrepancy_list(ledger_path: Path | None, open_only: bool, as_json: bool) -> None:
    """List discrepancies."""
    with open_ledger(ledger_path) as led:
        items = [d.model_dump(mode="json") for d in led.discrepancies(open_only=open_only)]
    if as_json:
        emit_json({"ok": True, "discrepancies": items})
        return
    rows = [dict(d, objects=",".join(d["objects"])) for d in items]
    click.echo(table(rows, ["id", "status", "category", "severity", "objects", "description"]))


@discrepancy.command("summary")
@ledger_option
@click.option("--ceremony", "ceremony_no", type=click.IntRange(min=1), help="Only this ceremony.")
@click.option("--since", help="Opened on or after this date (YYYY-MM-DD, UTC).")
@click.option("--until", help="Opened before this date (YYYY-MM-DD, UTC).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV rows (with the assumption challenged).")
@json_option
def discrepancy_summary(
    ledger_path: Path | None,
    ceremony_no: int | None,
    since: str | None,
    until: str | None,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Counts by year, category, severity and status, with totals and the design
    assumption each category challenges."""
    from ._history import summary_command

    summary_command(ledger_path, ceremony_no, since, until, as_csv=as_csv, as_json=as_json)


@discrepancy.command("import")
@ledger_option
@actor_options
@click.argument("csv_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@dry_run_option
@json_option
def discrepancy_import(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    csv_file: Path,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import historical discrepancies from CSV (one signed event by you). Columns:
    date,ceremony,category,severity,step,description,source,objects,resolution."""
    from tcr_kit.custody.historical import parse_history_csv
    from tcr_kit.fileio import sha256_file

    try:
        text = csv_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        from tcr_kit.errors import InputError

        raise InputError(f"{csv_file}: cannot read: {exc}") from None
    rows = parse_history_csv(text, name=str(csv_file))
    with open_ledger(ledger_path) as led:
        made = led.import_discrepancies(
            actor(actor_id, key_file),
            rows,
            source_sha256=sha256_file(csv_file).hex(),
            dry_run=dry_run,
        )
        ids = [d.id for d in made]
        _report(
            led,
            f"imported {len(made)} discrepancies ({ids[0]}..{ids[-1]})",
            dry_run,
            {"discrepancies": ids},
        )


@discrepancy.command("show")
@ledger_option
@click.argument("did")
@json_option
def discrepancy_show(ledger_path: Path | None, did: str, as_json: bool) -> None:
    """One discrepancy in full, with the design assumption its category challenges."""
    from tcr_kit.report.assumptions import assumption_for

    with open_ledger(ledger_path) as led:
        doc = led.discrepancy(did).model_dump(mode="json")
    doc["assumption"] = assumption_for(doc["category"])
    if as_json:
        emit_json({"ok": True, "discrepancy": doc})
        return
    for k, v in doc.items():
        if isinstance(v, list):
            v = ", ".join(map(str, v))
        say(f"{k:>14}: {'' if v is None else v}")


@discrepancy.command("resolve")
@ledger_option
@actor_options
@click.argument("did")
@click.option("--resolution", required=True)
@click.option(
    "--second",
    help="The second staff member resolving it (a critical discrepancy needs two).",
)
@dry_run_option
@cosign_options("second")
@json_option
def discrepancy_resolve(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    did: str,
    resolution: str,
    second: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Resolve a discrepancy (a critical one with --second: two staff, neither involved)."""
    with open_ledger(ledger_path) as led:
        led.resolve_discrepancy(
            actor(actor_id, key_file), did, resolution, second=second, dry_run=dry_run
        )
        _report(led, f"discrepancy {did} resolved", dry_run, {"discrepancy": did})


# -- status ---------------------------------------------------------------------------------
