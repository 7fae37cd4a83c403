"""``tcr credential``, ``tcr discrepancy`` and ``tcr status`` (``tcr bag`` is in :mod:`.bag`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._ledger import actor, actor_options, dry_run_option, ledger_option, open_ledger
from ._ledger import report_change as _report
from .app import emit_json, json_option, quiet_option, table
from .audit_show import echo_entries, head_line

if TYPE_CHECKING:
    from tcr_kit.custody.history import PersonHistory

__all__ = ["credential", "discrepancy", "status"]

KINDS = ["smartcard", "token", "ikey", "safe-deposit-key", "usb-drive", "hsm", "paper-share"]


# -- credentials ----------------------------------------------------------------------------
@click.group()
def credential() -> None:
    """Credentials: smartcards, tokens, iKeys, safe-deposit keys, USB drives, HSMs, paper."""


@credential.command("add")
@ledger_option
@actor_options
@click.option("--id", "cid", required=True)
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option(
    "--serial", help="The serial printed on the item (a card's: read from --record if omitted)."
)
@click.option("--holder", help="Roster id of the person who holds it.")
@click.option("--share-set")
@click.option("--share-index", type=int)
@click.option(
    "--record",
    "enrolment",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Card enrolment record (JSON) written by 'tcr card enrol --record'.",
)
@click.option(
    "--enrolment",
    "old_enrolment",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    hidden=True,
    help="Old name of --record.",
)
@dry_run_option
@json_option
def credential_add(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    cid: str,
    kind: str,
    serial: str | None,
    holder: str | None,
    share_set: str | None,
    share_index: int | None,
    enrolment: Path | None,
    old_enrolment: Path | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Register a credential (a smartcard: with --record, its enrolment record)."""
    if old_enrolment is not None:
        if enrolment is not None:
            raise click.UsageError("give the enrolment record once, with --record")
        enrolment = old_enrolment
    from tcr_kit.custody.ledger import enrolment_sha256
    from tcr_kit.custody.models import Credential, CredentialKind, build

    record = enrolment.read_text(encoding="utf-8") if enrolment else None
    if serial is None:
        serial = _record_serial(enrolment, record)
    cred = build(
        Credential,
        id=cid,
        kind=CredentialKind(kind),
        serial=serial,
        holder=holder,
        share_set=share_set,
        share_index=share_index,
        enrolment_record=record,
        enrolment_sha256=enrolment_sha256(record) if record else None,
    )
    with open_ledger(ledger_path) as led:
        led.add_credential(actor(actor_id, key_file), cred, dry_run=dry_run)
        _report(led, f"credential {cid} ({kind} {serial})", dry_run, {"credential": cid})


def _record_serial(path: Path | None, record: str | None) -> str:
    """The card serial an enrolment record names."""
    import json

    if path is None or record is None:
        raise click.UsageError("give --serial (or, for a card, its --record)")
    try:
        serial = json.loads(record)["card"]["serial"]
    except (ValueError, KeyError, TypeError):
        serial = None
    if not isinstance(serial, str) or not serial:
        raise click.BadParameter(f"{path}: no card serial in this record", param_hint="--record")
    return serial


# retire, lose, destroy and replace are in :mod:`.credential_lifecycle` (same group).


@credential.command("list")
@ledger_option
@click.option("--holder")
@json_option
def credential_list(ledger_path: Path | None, holder: str | None, as_json: bool) -> None:
    """List credentials."""
    with open_ledger(ledger_path) as led:
        creds = [
            c.model_dump(mode="json", exclude={"enrolment_record"}) for c in led.credentials(holder)
        ]
    if as_json:
        emit_json({"ok": True, "credentials": creds})
        return
    click.echo(table(creds, ["id", "kind", "serial", "holder", "state", "bag"]))


@credential.command("show")
@ledger_option
@click.argument("cid")
@json_option
def credential_show(ledger_path: Path | None, cid: str, as_json: bool) -> None:
    """Show a credential."""
    with open_ledger(ledger_path) as led:
        cred = led.credential(cid).model_dump(mode="json")
    if as_json:
        emit_json({"ok": True, "credential": cred})
        return
    for k, v in cred.items():
        if k != "enrolment_record":
            click.echo(f"{k:>17}: {v}")


# -- discrepancies --------------------------------------------------------------------------
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
        click.echo(f"{k:>14}: {'' if v is None else v}")


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
@click.command("status")
@ledger_option
@click.option("--as", "actor_id", envvar="TCR_AS", required=True, help="Your roster id.")
@click.option(
    "--transcript",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Work offline from an exported transcript (no ledger needed); it is verified first.",
)
@click.option("--expect-head", help="With --transcript: the published head (hex); must match.")
@quiet_option
@json_option
def status(
    ledger_path: Path | None,
    actor_id: str,
    transcript: Path | None,
    expect_head: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Your own view: your credentials, where each is, and the history of your bags
    (state changes, inspections, discrepancies, overrides, with times and witnesses)."""
    from tcr_kit.custody.history import person_history

    if transcript is not None:
        from tcr_kit.audit.timeline import read_timeline

        timeline, _ = read_timeline(transcript, expect_head=expect_head)
        hist = person_history(list(timeline.entries), actor_id)
        source = (timeline.source, timeline.head_seq, timeline.head)
        if as_json:
            emit_json(
                {
                    "ok": True,
                    "source": timeline.source,
                    "head_seq": timeline.head_seq,
                    "head": timeline.head,
                    **hist.to_json(),
                }
            )
            return
        _echo_history(hist, source, quiet)
        return
    from tcr_kit.audit.timeline import entries_of

    with open_ledger(ledger_path) as led:
        view = led.status(actor_id)
        hist = person_history(entries_of(led.audit.events()), actor_id)
        seq, head = led.audit.head()
    if as_json:
        emit_json(
            {
                "ok": True,
                **view.to_json(),
                "history": [e.to_json() for e in hist.history],
                "head_seq": seq,
                "head": head,
            }
        )
        return
    click.echo(f"{view.name} ({view.person}, {', '.join(view.roles)})")
    rows = [
        dict(
            item.to_json(),
            bag=item.bag or "-",
            bag_state=item.bag_state or "-",
            location=item.location or "-",
            last_inspection=(
                f"{item.last_inspection.at} {item.last_inspection.outcome}"
                if item.last_inspection
                else "none"
            ),
            open_discrepancies=",".join(item.open_discrepancies) or "none",
        )
        for item in view.credentials
    ]
    click.echo(table(rows, STATUS_COLUMNS))
    if not quiet and hist.history:
        click.echo("")
        click.echo("history:")
        echo_entries(hist.history)


def _echo_history(hist: PersonHistory, source: tuple[str, int, str], quiet: bool) -> None:
    if not quiet:
        for line in head_line(*source):
            click.echo(line)
        click.echo("")
    click.echo(f"{hist.name} ({hist.person}, {', '.join(hist.roles)})")
    rows = [
        dict(c.to_json(), bag=c.bag or "-", bag_state=c.bag_state or "-") for c in hist.credentials
    ]
    click.echo(table(rows, ["credential", "kind", "serial", "state", "bag", "bag_state"]))
    if hist.history:
        click.echo("")
        click.echo("history:")
        echo_entries(hist.history)


STATUS_COLUMNS = [
    "credential",
    "kind",
    "state",
    "bag",
    "bag_state",
    "location",
    "last_inspection",
    "open_discrepancies",
]
