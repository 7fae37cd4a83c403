"""``tcr credential`` and ``tcr status`` (``tcr bag`` is in :mod:`.bag`, ``tcr discrepancy`` in
:mod:`.discrepancy`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._ledger import (
    actor,
    actor_options,
    dry_run_option,
    ledger_option,
    open_ledger,
    progress_callback,
)
from ._ledger import report_change as _report
from ._output import say
from .app import emit_json, json_option, quiet_option, table
from .audit_show import echo_entries, head_line

if TYPE_CHECKING:
    from tcr_kit.custody.history import PersonHistory
    from tcr_kit.custody.models import Credential

__all__ = ["credential", "new_credential", "one_record", "record_options", "status"]

F = TypeVar("F", bound=Callable[..., Any])

KINDS = ["smartcard", "token", "ikey", "safe-deposit-key", "usb-drive", "hsm", "paper-share"]


def record_options(help_text: str) -> Callable[[F], F]:
    """``--record FILE`` (an enrolment record), with its old name ``--enrolment`` hidden."""
    kind = click.Path(exists=True, dir_okay=False, path_type=Path)

    def deco(f: F) -> F:
        f = click.option("--enrolment", "old_enrolment", type=kind, hidden=True)(f)
        return click.option("--record", "enrolment", type=kind, help=help_text)(f)

    return deco


def one_record(record: Path | None, old_name: Path | None) -> Path | None:
    """The record file given by ``--record`` or by its old name, refusing both."""
    if old_name is None:
        return record
    if record is not None:
        raise click.UsageError("give the enrolment record once, with --record")
    return old_name


# -- credentials ----------------------------------------------------------------------------
@click.group()
def credential() -> None:
    """Register, list, retire and replace credentials.

    A credential is a smartcard, token, iKey, safe-deposit key, USB drive, HSM or paper."""


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
@record_options("Card enrolment record (JSON) written by 'tcr card enrol --record'.")
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
    enrolment = one_record(enrolment, old_enrolment)
    cred = new_credential(cid, kind, serial, holder, share_set, share_index, enrolment)
    with open_ledger(ledger_path) as led:
        led.add_credential(actor(actor_id, key_file), cred, dry_run=dry_run)
        _report(led, f"credential {cid} ({kind} {cred.serial})", dry_run, {"credential": cid})


def new_credential(
    cid: str,
    kind: str,
    serial: str | None,
    holder: str | None,
    share_set: str | None,
    share_index: int | None,
    enrolment: Path | None,
) -> Credential:
    """The credential ``add`` and ``replace`` register: their options, with the enrolment
    record's text and hash; without ``serial``, the card serial the record names."""
    from tcr_kit.custody.ledger import enrolment_sha256
    from tcr_kit.custody.models import Credential, CredentialKind, build

    record = enrolment.read_text(encoding="utf-8") if enrolment else None
    if serial is None:
        serial = _record_serial(enrolment, record)
    return build(
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
            say(f"{k:>17}: {v}")


# -- discrepancies --------------------------------------------------------------------------
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
    """A TCR's own view of their credentials and bags.

    Your credentials, where each is, and the history of your bags (state changes,
    inspections, discrepancies, overrides, with times and witnesses); then the HSM
    activations and share set manifests that concern you, with what each was to you."""
    from tcr_kit.custody.history import person_history

    if transcript is not None:
        from tcr_kit.audit.timeline import read_timeline

        timeline, _ = read_timeline(
            transcript, expect_head=expect_head, progress=progress_callback()
        )
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
    from tcr_kit.custody import read_own_view

    own = read_own_view(ledger_path, actor_id)
    view, hist, seq, head = own.status, own.history, own.head_seq, own.head
    if as_json:
        emit_json(
            {
                "ok": True,
                **view.to_json(),
                "history": [e.to_json() for e in hist.history],
                "activations": [a.to_json() for a in hist.activations],
                "manifests": [m.to_json() for m in hist.manifests],
                "head_seq": seq,
                "head": head,
            }
        )
        return
    say(f"{view.name} ({view.person}, {', '.join(view.roles)})")
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
        say("")
        say("history:")
        echo_entries(hist.history)
    if not quiet:
        _echo_concerning(hist)


def _echo_history(hist: PersonHistory, source: tuple[str, int, str], quiet: bool) -> None:
    if not quiet:
        for line in head_line(*source):
            say(line)
        say("")
    say(f"{hist.name} ({hist.person}, {', '.join(hist.roles)})")
    rows = [
        dict(c.to_json(), bag=c.bag or "-", bag_state=c.bag_state or "-") for c in hist.credentials
    ]
    click.echo(table(rows, ["credential", "kind", "serial", "state", "bag", "bag_state"]))
    if hist.history:
        say("")
        say("history:")
        echo_entries(hist.history)
    _echo_concerning(hist)


def _echo_concerning(hist: PersonHistory) -> None:
    """The activations and manifest events that concern the person, each with what it was
    to them (``presented share 2``, ``signed the override (rejected: ...)``)."""
    for title, events in (("activations", hist.activations), ("manifests", hist.manifests)):
        if not events:
            continue
        say("")
        say(f"{title}:")
        for e in events:
            say(f"{e.time}  #{e.seq}  {e.action}  {'; '.join(i.text() for i in e.involvements)}")
            say(f"    outcome:   {e.outcome}")


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
