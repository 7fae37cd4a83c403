"""``tcr bag``: seal, ship, receive and store bags, end their life, list and show them.

Inspecting, opening and resealing (the ceremony's part) are in :mod:`.bag_opening`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

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
from ._output import say
from .app import emit_json, json_option, table
from .bag_opening import bag_inspect, bag_open, bag_reseal

if TYPE_CHECKING:
    from tcr_kit.custody.models import Location


@click.group()
def bag() -> None:
    """Tamper-evident bags: seal, ship, receive, inspect, open, reseal.

    And the history of a bag, from the signed audit log."""


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
@cosign_options("witness")
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
    where: Location,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Seal credentials into a new bag, on site, with a witness."""
    with open_ledger(ledger_path) as led:
        b = led.seal_bag(
            actor(actor_id, key_file),
            serial,
            split_ids(contents),
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
    where: Location,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Record a bag's arrival; it stays unopened until inspected at a ceremony."""
    from tcr_kit.custody import remote

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
    where: Location,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Put a bag away (safe, box, or with a person)."""
    with open_ledger(ledger_path) as led:
        b = led.store_bag(actor(actor_id, key_file), serial, location=where, dry_run=dry_run)
        _report(led, f"bag {b.serial} stored at {where.describe()}", dry_run, {"bag": b.serial})


def _simple(action: str, helptext: str) -> click.Command:
    @click.command(action, help=helptext)
    @ledger_option
    @actor_options
    @click.argument("serial")
    @click.option("--witness")
    @dry_run_option
    @cosign_options("witness")
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
        say(f"{k:>19}: {data[k]}")
    say(f"{'location':>19}: {b.location.describe()}")
    for i in data["inspections"]:
        say(
            f"{'inspection':>19}: {i['id']} {i['at']} read {i['serial_read']} "
            f"by {i['inspector']} witness {i['witness']}"
        )
    say(f"{'open discrepancies':>19}: {', '.join(data['open_discrepancies']) or 'none'}")


def _witness(payload: dict[str, Any]) -> str:
    """The witness, marked when they co-signed the event."""
    who = payload.get("witness") or ""
    cosigners = [c.get("person") for c in payload.get("cosigners") or () if isinstance(c, dict)]
    return f"{who} (co-signed)" if who and who in cosigners else str(who)


def _history_note(payload: dict[str, Any]) -> str:
    """Discrepancies an event opened, and the ones it went ahead despite (overrides)."""
    notes = []
    if payload.get("discrepancies"):
        notes.append("opened " + ", ".join(payload["discrepancies"]))
    if payload.get("override_by"):
        overridden = ", ".join(payload.get("overridden") or []) or "open discrepancies"
        notes.append(f"override of {overridden} by {payload['override_by']}")
    return "; ".join(notes)


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
            "witness": _witness(e["payload"]),
            "note": _history_note(e["payload"]),
        }
        for e in events
    ]
    if as_json:
        emit_json({"ok": True, "events": events})
        return
    click.echo(table(rows, ["seq", "time", "actor", "event", "witness", "note"]))


bag.add_command(bag_inspect)
bag.add_command(bag_open)
bag.add_command(bag_reseal)
