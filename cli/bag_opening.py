"""``tcr bag inspect``, ``open`` and ``reseal``: the bag's part in a ceremony."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tcr_kit.fileio import sha256_file

from ._ledger import (
    actor,
    actor_options,
    cosign_options,
    dry_run_option,
    ledger_option,
    location_options,
    open_ledger,
    split_ids,
)
from ._ledger import report_change as _report
from .app import json_option

if TYPE_CHECKING:
    from tcr_kit.custody.models import Location


def _photo_hashes(photos: tuple[Path, ...], given: tuple[str, ...]) -> list[str]:
    out = [sha256_file(p).hex() for p in photos]
    return out + [g.lower() for g in given]


@click.command("inspect")
@ledger_option
@actor_options
@click.argument("serial")
@click.option("--serial-read", required=True)
@click.option(
    "--check",
    "checks",
    multiple=True,
    required=True,
    help="Checklist item as NAME=ok or NAME=fail (repeat).",
)
@click.option(
    "--photo", "photos", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--photo-sha256", "photo_hashes", multiple=True)
@click.option("--witness", required=True)
@click.option("--step")
@dry_run_option
@cosign_options("witness")
@json_option
def bag_inspect(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    serial: str,
    serial_read: str,
    checks: tuple[str, ...],
    photos: tuple[Path, ...],
    photo_hashes: tuple[str, ...],
    witness: str,
    step: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Inspect a bag on camera before opening: serial read and tamper checklist."""
    from tcr_kit.custody.errors import ChecklistItemInvalid
    from tcr_kit.custody.ledger.inspections import parse_checklist

    try:
        checklist = parse_checklist(checks)
    except ChecklistItemInvalid as exc:
        raise click.UsageError(f"--check {exc.item!r}: expected NAME=ok or NAME=fail") from None
    with open_ledger(ledger_path) as led:
        i = led.inspect_bag(
            actor(actor_id, key_file),
            serial,
            serial_read=serial_read,
            checklist=checklist,
            witness=witness,
            photo_sha256=_photo_hashes(photos, photo_hashes),
            step=step,
            dry_run=dry_run,
        )
        _report(
            led,
            f"bag {i.bag} inspected ({i.id}): {i.outcome}",
            dry_run,
            {"bag": i.bag, "inspection": i.id, "outcome": i.outcome},
        )


@click.command("open")
@ledger_option
@actor_options
@click.argument("serial")
@click.option("--serial-read", required=True)
@click.option("--witness", required=True)
@click.option("--override-by", help="IW or CA explicitly overriding open discrepancies.")
@dry_run_option
@cosign_options("witness", "override")
@json_option
def bag_open(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    serial: str,
    serial_read: str,
    witness: str,
    override_by: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Open an inspected bag (refused while a discrepancy on it is open)."""
    with open_ledger(ledger_path) as led:
        b = led.open_bag(
            actor(actor_id, key_file),
            serial,
            serial_read=serial_read,
            witness=witness,
            override_by=override_by,
            dry_run=dry_run,
        )
        _report(
            led, f"bag {b.serial} opened; out: {', '.join(b.contents)}", dry_run, {"bag": b.serial}
        )


@click.command("reseal")
@ledger_option
@actor_options
@click.argument("old_serial")
@click.argument("new_serial")
@click.option("--witness", required=True)
@click.option("--contents", multiple=True, help="Default: what the old bag held.")
@click.option("--kind")
@location_options
@dry_run_option
@cosign_options("witness")
@json_option
def bag_reseal(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    old_serial: str,
    new_serial: str,
    witness: str,
    contents: tuple[str, ...],
    kind: str | None,
    where: Location,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Put the contents of an opened bag into a new bag (old serial -> new serial)."""
    with open_ledger(ledger_path) as led:
        b = led.reseal_bag(
            actor(actor_id, key_file),
            old_serial,
            new_serial,
            witness=witness,
            location=where,
            contents=split_ids(contents) or None,
            kind=kind,
            dry_run=dry_run,
        )
        _report(
            led,
            f"bag {b.replaces} -> new bag {b.serial} ({', '.join(b.contents)})",
            dry_run,
            {"bag": b.serial, "replaces": b.replaces},
        )
