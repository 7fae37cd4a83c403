"""``tcr credential``, ``tcr bag``, ``tcr discrepancy`` and ``tcr status``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tcr_kit.fileio import sha256_file

from ._ledger import actor, actor_options, dry_run_option, ledger_option, open_ledger
from ._ledger import report_change as _report
from .app import emit_json, json_option, table

if TYPE_CHECKING:
    from tcr_kit.custody.models import Location

KINDS = ["smartcard", "token", "ikey", "safe-deposit-key", "usb-drive", "hsm", "paper-share"]


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _location(
    facility: str | None, safe: str | None, box: str | None, person: str | None
) -> Location:
    from tcr_kit.custody.models import Location

    where = Location.where(facility=facility, safe=safe, box=box, person=person)
    if where is None:
        raise click.UsageError("say where: --facility (and --safe/--box) or --with PERSON")
    return where


def location_options(f: Any) -> Any:
    for opt in (
        click.option("--with", "with_person", help="Held by this person."),
        click.option("--box", help="Safe-deposit box."),
        click.option("--safe", help="Safe at the facility."),
        click.option("--facility", help="Facility (e.g. east, west)."),
    ):
        f = opt(f)
    return f


def _photo_hashes(photos: tuple[Path, ...], given: tuple[str, ...]) -> list[str]:
    out = [sha256_file(p).hex() for p in photos]
    return out + [g.lower() for g in given]


# -- credentials ----------------------------------------------------------------------------
@click.group()
def credential() -> None:
    """Credentials: smartcards, tokens, iKeys, safe-deposit keys, USB drives, HSMs, paper."""


@credential.command("add")
@ledger_option
@actor_options
@click.option("--id", "cid", required=True)
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option("--serial", required=True, help="The serial printed on the item.")
@click.option("--holder", help="Roster id of the person who holds it.")
@click.option("--share-set")
@click.option("--share-index", type=int)
@click.option(
    "--enrolment",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Card enrolment record (JSON) from 'tcr card'.",
)
@dry_run_option
@json_option
def credential_add(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    cid: str,
    kind: str,
    serial: str,
    holder: str | None,
    share_set: str | None,
    share_index: int | None,
    enrolment: Path | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Register a credential."""
    from tcr_kit.custody.ledger import enrolment_sha256
    from tcr_kit.custody.models import Credential, CredentialKind, build

    record = enrolment.read_text(encoding="utf-8") if enrolment else None
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


# -- bags -----------------------------------------------------------------------------------
@click.group()
def bag() -> None:
    """Tamper-evident bags: seal, ship, receive, inspect, open, reseal, and their history."""


@bag.command("seal")
@ledger_option
@actor_options
@click.argument("serial")
@click.option("--contents", multiple=True, required=True, help="Credential ids (repeat or ,).")
@click.option("--witness", required=True)
@click.option("--holder")
@click.option("--kind", default="TEB", show_default=True)
@location_options
@dry_run_option
@json_option
def bag_seal(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    serial: str,
    contents: tuple[str, ...],
    witness: str,
    holder: str | None,
    kind: str,
    facility: str | None,
    safe: str | None,
    box: str | None,
    with_person: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Seal credentials into a new bag, on site, with a witness."""
    where = _location(facility, safe, box, with_person)
    with open_ledger(ledger_path) as led:
        b = led.seal_bag(
            actor(actor_id, key_file),
            serial,
            _split(contents),
            witness=witness,
            location=where,
            kind=kind,
            holder=holder,
            dry_run=dry_run,
        )
        _report(
            led, f"bag {b.serial} sealed with {', '.join(b.contents)}", dry_run, {"bag": b.serial}
        )


@bag.command("ship")
@ledger_option
@actor_options
@click.argument("serial")
@click.option("--carrier", required=True)
@click.option("--tracking", required=True)
@click.option("--from", "sender", required=True)
@click.option("--to", "recipient", required=True)
@click.option(
    "--attestation",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A TCR's seal attestation: records the remote seal first.",
)
@dry_run_option
@json_option
def bag_ship(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    serial: str,
    carrier: str,
    tracking: str,
    sender: str,
    recipient: str,
    attestation: Path | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Record a shipment (for a TCR's own bag, give its attestation)."""
    from tcr_kit.custody import remote
    from tcr_kit.custody.ledger import normalise_serial

    who = actor(actor_id, key_file)
    signed = remote.load(attestation) if attestation is not None else None
    if signed is not None and signed.attestation.bag_serial != normalise_serial(serial):
        raise click.UsageError(
            f"attestation is for bag {signed.attestation.bag_serial}, not {serial}"
        )
    route = {"carrier": carrier, "tracking": tracking, "sender": sender, "recipient": recipient}
    with open_ledger(ledger_path) as led:
        if signed is not None:
            s = led.ship_remotely_sealed(who, signed, **route, dry_run=dry_run)
        else:
            s = led.ship_bag(who, serial, **route, dry_run=dry_run)
        if s is None:
            holder = signed.attestation.holder if signed else ""
            _report(led, f"remote seal of bag {serial} by {holder}", True, {"bag": serial})
            return
        _report(
            led,
            f"bag {s.bag} shipped as {s.id} ({carrier} {tracking}) {sender} -> {recipient}",
            dry_run,
            {"bag": s.bag, "shipment": s.id},
        )


@bag.command("receive")
@ledger_option
@actor_options
@click.argument("serial")
@click.option("--serial-read", required=True, help="The serial as read aloud off the bag.")
@click.option(
    "--attestation",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The TCR's attestation file, checked against the recorded one.",
)
@location_options
@dry_run_option
@json_option
def bag_receive(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    serial: str,
    serial_read: str,
    attestation: Path | None,
    facility: str | None,
    safe: str | None,
    box: str | None,
    with_person: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Record a bag's arrival; it stays unopened until inspected at a ceremony."""
    from tcr_kit.custody import remote

    where = _location(facility, safe, box, with_person)
    signed = remote.load(attestation) if attestation else None
    with open_ledger(ledger_path) as led:
        b = led.receive_bag(
            actor(actor_id, key_file),
            serial,
            serial_read=serial_read,
            location=where,
            attestation=signed,
            dry_run=dry_run,
        )
        _report(
            led,
            f"bag {b.serial} received (unopened) at {where.describe()}",
            dry_run,
            {"bag": b.serial},
        )


@bag.command("store")
@ledger_option
@actor_options
@click.argument("serial")
@location_options
@dry_run_option
@json_option
def bag_store(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    serial: str,
    facility: str | None,
    safe: str | None,
    box: str | None,
    with_person: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Put a bag away (safe, box, or with a person)."""
    where = _location(facility, safe, box, with_person)
    with open_ledger(ledger_path) as led:
        b = led.store_bag(actor(actor_id, key_file), serial, location=where, dry_run=dry_run)
        _report(led, f"bag {b.serial} stored at {where.describe()}", dry_run, {"bag": b.serial})


@bag.command("inspect")
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


@bag.command("open")
@ledger_option
@actor_options
@click.argument("serial")
@click.option("--serial-read", required=True)
@click.option("--witness", required=True)
@click.option("--override-by", help="IW or CA explicitly overriding open discrepancies.")
@dry_run_option
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


@bag.command("reseal")
@ledger_option
@actor_options
@click.argument("old_serial")
@click.argument("new_serial")
@click.option("--witness", required=True)
@click.option("--contents", multiple=True, help="Default: what the old bag held.")
@click.option("--kind")
@location_options
@dry_run_option
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
    facility: str | None,
    safe: str | None,
    box: str | None,
    with_person: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Put the contents of an opened bag into a new bag (old serial -> new serial)."""
    where = _location(facility, safe, box, with_person)
    with open_ledger(ledger_path) as led:
        b = led.reseal_bag(
            actor(actor_id, key_file),
            old_serial,
            new_serial,
            witness=witness,
            location=where,
            contents=_split(contents) or None,
            kind=kind,
            dry_run=dry_run,
        )
        _report(
            led,
            f"bag {b.replaces} -> new bag {b.serial} ({', '.join(b.contents)})",
            dry_run,
            {"bag": b.serial, "replaces": b.replaces},
        )


def _simple(action: str, helptext: str) -> click.Command:
    @click.command(action, help=helptext)
    @ledger_option
    @actor_options
    @click.argument("serial")
    @click.option("--witness")
    @dry_run_option
    @json_option
    def command(
        ledger_path: Path | None,
        actor_id: str,
        key_file: Path,
        serial: str,
        witness: str | None,
        dry_run: bool,
        as_json: bool,
    ) -> None:
        from tcr_kit.custody.lifecycle import BagAction

        with open_ledger(ledger_path) as led:
            b = led.bag_action(
                actor(actor_id, key_file),
                serial,
                BagAction(action),
                witness=witness,
                dry_run=dry_run,
            )
            _report(led, f"bag {b.serial} is now {b.state.value}", dry_run, {"bag": b.serial})

    return command


bag.add_command(_simple("retire", "Retire an opened bag whose contents are not resealed."))
bag.add_command(_simple("destroy", "Destroy an opened or resealed bag (witness required)."))
bag.add_command(_simple("lose", "Record a bag as lost (its sealed contents become lost)."))


@bag.command("list")
@ledger_option
@json_option
def bag_list(ledger_path: Path | None, as_json: bool) -> None:
    """List bags."""
    with open_ledger(ledger_path) as led:
        bags = led.bags()
    rows = [
        {
            "serial": b.serial,
            "state": b.state.value,
            "holder": b.holder or "",
            "contents": ",".join(b.contents),
            "location": b.location.describe(),
            "replaces": b.replaces or "",
            "replaced_by": b.replaced_by or "",
        }
        for b in bags
    ]
    if as_json:
        emit_json({"ok": True, "bags": rows})
        return
    click.echo(table(rows, ["serial", "state", "holder", "contents", "location", "replaced_by"]))


@bag.command("show")
@ledger_option
@click.argument("serial")
@json_option
def bag_show(ledger_path: Path | None, serial: str, as_json: bool) -> None:
    """Show a bag with its inspections and open discrepancies."""
    with open_ledger(ledger_path) as led:
        view = led.bag_view(serial)
    b, data = view.bag, view.to_json()
    if as_json:
        emit_json({"ok": True, "bag": data})
        return
    for k in (
        "serial",
        "kind",
        "state",
        "holder",
        "contents",
        "sealed_by",
        "sealed_at",
        "seal_witness",
        "attestation_sha256",
        "replaces",
        "replaced_by",
    ):
        click.echo(f"{k:>19}: {data[k]}")
    click.echo(f"{'location':>19}: {b.location.describe()}")
    for i in data["inspections"]:
        click.echo(
            f"{'inspection':>19}: {i['id']} {i['at']} read {i['serial_read']} "
            f"by {i['inspector']} witness {i['witness']}"
        )
    click.echo(f"{'open discrepancies':>19}: {', '.join(data['open_discrepancies']) or 'none'}")


@bag.command("history")
@ledger_option
@click.argument("serial")
@json_option
def bag_history(ledger_path: Path | None, serial: str, as_json: bool) -> None:
    """Every audit event about a bag, oldest first."""
    from tcr_kit.custody.ledger import normalise_serial

    with open_ledger(ledger_path) as led:
        events = led.history(f"bag:{normalise_serial(serial)}")
    rows = [
        {
            "seq": e["seq"],
            "time": e["time"],
            "actor": e["actor"],
            "event": e["kind"],
            "witness": e["payload"].get("witness") or "",
            "note": ",".join(e["payload"].get("discrepancies", [])),
        }
        for e in events
    ]
    if as_json:
        emit_json({"ok": True, "events": events})
        return
    click.echo(table(rows, ["seq", "time", "actor", "event", "witness", "note"]))


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
@json_option
def discrepancy_summary(ledger_path: Path | None, as_json: bool) -> None:
    """Counts by year, category, severity and status."""
    with open_ledger(ledger_path) as led:
        rows = [row.to_json() for row in led.discrepancy_summary()]
    if as_json:
        emit_json({"ok": True, "summary": rows})
        return
    click.echo(table(rows, ["year", "category", "severity", "status", "count"]))


@discrepancy.command("resolve")
@ledger_option
@actor_options
@click.argument("did")
@click.option("--resolution", required=True)
@dry_run_option
@json_option
def discrepancy_resolve(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    did: str,
    resolution: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Resolve a discrepancy."""
    with open_ledger(ledger_path) as led:
        led.resolve_discrepancy(actor(actor_id, key_file), did, resolution, dry_run=dry_run)
        _report(led, f"discrepancy {did} resolved", dry_run, {"discrepancy": did})


# -- status ---------------------------------------------------------------------------------
@click.command("status")
@ledger_option
@click.option("--as", "actor_id", envvar="TCR_AS", required=True, help="Your roster id.")
@json_option
def status(ledger_path: Path | None, actor_id: str, as_json: bool) -> None:
    """Your own view: your credentials, where each is, last inspection, open issues."""
    with open_ledger(ledger_path) as led:
        view = led.status(actor_id)
    if as_json:
        emit_json({"ok": True, **view.to_json()})
        return
    click.echo(f"{view.name} ({view.person}, {', '.join(view.roles)})")
    rows = [
        dict(
            item.to_json(),
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
