"""``tcr credential retire | lose | destroy | replace``: a credential's end of life and its
replacement (a rotated card), added to the ``tcr credential`` group of :mod:`.custody`."""

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
from .app import json_option
from .custody import KINDS, credential, new_credential, one_record, record_options

__all__ = ["credential"]


def _action(name: str, helptext: str, *, witness: bool) -> None:
    @credential.command(name, help=helptext)
    @ledger_option
    @actor_options
    @click.argument("cid")
    @click.option(
        "--witness",
        required=witness,
        help="Roster id of the witness (a different person; staff).",
    )
    @dry_run_option
    @cosign_options("witness")
    @json_option
    def command(
        ledger_path: Path | None,
        actor_id: str,
        key_file: Path,
        cid: str,
        witness: str | None,
        dry_run: bool,
        as_json: bool,
    ) -> None:
        from tcr_kit.custody.lifecycle import CredentialAction

        with open_ledger(ledger_path) as led:
            cred = led.credential_action(
                actor(actor_id, key_file),
                cid,
                CredentialAction(name),
                witness=witness,
                dry_run=dry_run,
            )
            _report(led, f"credential {cid} {cred.state.value}", dry_run, {"credential": cid})


_action(
    "retire", "Retire a credential (out of use; it never counts for a quorum again).", witness=False
)
_action("lose", "Record a credential as lost.", witness=False)
_action("destroy", "Record a retired credential destroyed (witnessed).", witness=True)


@credential.command("replace")
@ledger_option
@actor_options
@click.argument("old")
@click.option("--id", "cid", required=True, help="The new credential's id.")
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option("--serial", required=True, help="The serial printed on the new item.")
@click.option("--holder", help="Default: the old credential's holder.")
@click.option("--share-set", help="Default: the old credential's share set.")
@click.option("--share-index", type=int, help="Default: the old credential's share index.")
@record_options("The new card's enrolment record (JSON), e.g. from 'tcr card rotate'.")
@dry_run_option
@json_option
def credential_replace(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    old: str,
    cid: str,
    kind: str,
    serial: str,
    holder: str | None,
    share_set: str | None,
    share_index: int | None,
    enrolment: Path | None,
    old_enrolment: Path | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Retire OLD and register its replacement in one change (after a card rotation)."""
    enrolment = one_record(enrolment, old_enrolment)
    new = new_credential(cid, kind, serial, holder, share_set, share_index, enrolment)
    with open_ledger(ledger_path) as led:
        led.replace_credential(actor(actor_id, key_file), old, new, dry_run=dry_run)
        _report(led, f"credential {old} retired, replaced by {cid}", dry_run, {"credential": cid})
