"""``tcr ceremony``: open a ceremony, record its script steps, close it and publish its head."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ._ledger import (
    actor,
    cosign_options,
    dry_run_option,
    ledger_option,
    open_ledger,
    progress_callback,
    who_options,
)
from ._ledger import report_change as _report
from ._output import say
from ._tlog import origin_options, write_checkpoint_note
from .app import emit_json, json_option, quiet_option, table

if TYPE_CHECKING:
    from tcr_kit.custody.models import Attendance, Ceremony

__all__ = ["ceremony"]


def _attendance(present: tuple[str, ...], remote: tuple[str, ...]) -> list[Attendance]:
    from tcr_kit.custody.models import Attendance, build

    out = []
    for values, is_remote in ((present, False), (remote, True)):
        for item in values:
            for part in (p.strip() for p in item.split(",")):
                if not part:
                    continue
                person, sep, role = part.partition(":")
                if not sep or not person or not role:
                    raise click.BadParameter(
                        f"{part!r}: write a participant as ID:ROLE (e.g. tcr-3:CO)",
                        param_hint="--present/--remote",
                    )
                out.append(build(Attendance, person=person, role=role, remote=is_remote))
    return out


def _file_sha256(path: Path | None) -> str | None:
    if path is None:
        return None
    from tcr_kit.errors import OperationalError

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise OperationalError(f"{path}: cannot read: {exc.strerror}") from None


def ceremony_doc(c: Ceremony) -> dict[str, Any]:
    """A ceremony record as JSON, for ``--json`` output."""
    return c.model_dump(mode="json")


@click.group()
def ceremony() -> None:
    """Open a ceremony, record its steps, close it and publish its head."""


@ceremony.command("open")
@click.argument("number", type=click.IntRange(min=1))
@ledger_option
@who_options
@click.option("--facility", required=True, help="Where it runs (e.g. east, west).")
@click.option("--script", help="The printed script it follows (a reference or version).")
@click.option(
    "--present",
    multiple=True,
    metavar="ID:ROLE",
    help="A participant in the room and their role (CA, IW, CO, SSC, SA, ...); repeat.",
)
@click.option(
    "--remote", multiple=True, metavar="ID:ROLE", help="A participant taking part remotely."
)
@click.option("--rehearsal", is_flag=True, help="This is a rehearsal, not the real ceremony.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The shared configuration (the part rehearsed and used for real); its SHA-256 is "
    "recorded.",
)
@click.option(
    "--site",
    "site_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The site file (paths, module locations, PIN sources) used here; its SHA-256 is "
    "recorded beside the configuration's.",
)
@click.option(
    "--rehearsed-in",
    type=click.IntRange(min=1),
    help="The rehearsal this ceremony repeats: refuse a configuration that differs from it.",
)
@dry_run_option
@quiet_option
@json_option
def open_(
    number: int,
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    facility: str,
    script: str | None,
    present: tuple[str, ...],
    remote: tuple[str, ...],
    rehearsal: bool,
    config_file: Path | None,
    site_file: Path | None,
    rehearsed_in: int | None,
    dry_run: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Open ceremony NUMBER: until it closes, every change is tagged with it. With
    --config naming an HSM configuration that names a site file, that site file's hash is
    recorded (no --site needed)."""
    attendance = _attendance(present, remote)
    if site_file is None and config_file is not None:
        from tcr_kit.hsm.config import named_site_file

        site_file = named_site_file(config_file)
    with open_ledger(ledger_path) as led:
        record = led.begin_ceremony(
            actor(actor_id, key_file),
            number,
            facility=facility,
            script=script,
            attendance=attendance,
            rehearsal=rehearsal,
            config_sha256=_file_sha256(config_file),
            site_sha256=_file_sha256(site_file),
            rehearsed_in=rehearsed_in,
            dry_run=dry_run,
        )
        what = "rehearsal" if rehearsal else "ceremony"
        summary = f"{what} {number} opened at {facility}"
        if record.rehearsed_in:
            summary += ", configuration as rehearsed in " + ", ".join(
                str(n) for n in record.rehearsed_in
            )
        if quiet and not as_json:
            return
        _report(led, summary, dry_run, {"ceremony": ceremony_doc(record)})
        if not as_json and not dry_run:
            for a in record.attendance:
                where = "remote" if a.remote else "present"
                say(f"  {a.person}: {a.role}, {where}")
            if record.config_sha256:
                say(f"  configuration SHA-256: {record.config_sha256}")
            if record.site_sha256:
                say(f"  site file SHA-256:     {record.site_sha256}")


@ceremony.command("step")
@click.argument("step")
@ledger_option
@who_options
@click.option(
    "--ceremony",
    "number",
    type=click.IntRange(min=1),
    envvar="TCR_CEREMONY",
    help="The ceremony (default: the one open). Env: TCR_CEREMONY.",
)
@click.option("--text", help="What the step says or what was done.")
@click.option("--initials", help="The Internal Witness's initials, as on the paper script.")
@click.option("--witness", help="Roster id of who witnessed the step.")
@dry_run_option
@cosign_options("witness")
@quiet_option
@json_option
def step(
    step: str,
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    number: int | None,
    text: str | None,
    initials: str | None,
    witness: str | None,
    dry_run: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Record script step STEP as done now (UTC), like the IW's Initial/Time column."""
    from tcr_kit.audit.canonical import parse_canonical
    from tcr_kit.errors import InputError

    with open_ledger(ledger_path) as led:
        if number is None:
            current = led.open_ceremony()
            if current is None:
                raise InputError("no ceremony is open: give --ceremony N")
            number = current.number
        event = led.record_step(
            actor(actor_id, key_file),
            number,
            step,
            text=text,
            initials=initials,
            witness=witness,
            dry_run=dry_run,
        )
        if quiet and not as_json:
            return
        _report(
            led,
            f"ceremony {number} step {step} at {parse_canonical(event.body)['payload']['time']}",
            dry_run,
            {"ceremony": number, "step": step},
        )


@ceremony.command("close")
@click.argument("number", type=click.IntRange(min=1))
@ledger_option
@who_options
@click.option(
    "--transcript",
    "transcript_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Write the ceremony's transcript (through the closing checkpoint) to this new file.",
)
@click.option(
    "--note",
    "note_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the closing tree head as a C2SP checkpoint note to this new file.",
)
@origin_options
@click.option("--force", is_flag=True, help="Replace the transcript or note if they exist.")
@quiet_option
@json_option
def close(
    number: int,
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    transcript_path: Path,
    note_path: Path | None,
    origin: str | None,
    site: str | None,
    force: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Close ceremony NUMBER: sign a checkpoint, export its transcript including that
    checkpoint, and print the head to read aloud and publish."""
    from tcr_kit.audit.pgpwords import digest_words
    from tcr_kit.audit.transcript import build_transcript, write_transcript
    from tcr_kit.custody.ledger import EventSelection
    from tcr_kit.errors import OperationalError

    for path in (transcript_path, note_path):
        if path is not None and path.exists() and not force:
            raise OperationalError(f"{path} exists (use --force to replace it)")
    with open_ledger(ledger_path) as led:
        who = actor(actor_id, key_file)
        closed = led.end_ceremony(who, number)
        note: dict[str, Any] = {}
        if note_path is not None:
            note = write_checkpoint_note(led, who.signer, note_path, origin, site, force=force)
        selection = EventSelection(ceremony=number)
        doc = build_transcript(
            led.audit,
            selection,
            selection.description,
            through_checkpoint=True,
            progress=progress_callback("exporting"),
        )
    file_hash = write_transcript(doc, transcript_path, force=force)
    head_hex, head_words = digest_words(bytes.fromhex(doc["head"]["sha256"]))
    file_hex, file_words = digest_words(bytes.fromhex(file_hash))
    data: dict[str, Any] = {
        "ok": True,
        "ceremony": number,
        "closing_event": closed.event.seq,
        "checkpoint": closed.checkpoint.seq,
        "head": head_hex,
        "head_words": head_words,
        "head_seq": doc["head"]["seq"],
        "transcript": str(transcript_path),
        "transcript_sha256": file_hex,
        "transcript_words": file_words,
        **note,
    }
    if as_json:
        emit_json(data)
        return
    say(f"closed ceremony {number}: checkpoint at event {closed.checkpoint.seq}")
    say(f"head (event {doc['head']['seq']}) SHA-256: {head_hex}")
    say(f"PGP Words: {head_words}")
    if quiet:
        return
    say(f"wrote {transcript_path}: SHA-256 {file_hex}")
    say(f"  PGP Words: {file_words}")
    if note:
        say(f"wrote {note['note']}: {note['origin']}, tree size {note['tree_size']}")
    say(f"check it: tcr audit verify --transcript {transcript_path} --expect-head {head_hex}")


@ceremony.command("list")
@ledger_option
@quiet_option
@json_option
def list_(ledger_path: Path | None, quiet: bool, as_json: bool) -> None:
    """Ceremonies in the ledger, with their state."""
    with open_ledger(ledger_path) as led:
        found = led.ceremonies()
    if as_json:
        emit_json({"ok": True, "ceremonies": [ceremony_doc(c) for c in found]})
        return
    rows = [
        {
            "number": c.number,
            "kind": "rehearsal" if c.rehearsal else "ceremony",
            "facility": c.facility,
            "opened": c.date.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "state": c.status or "recorded",
            "script": c.script or "",
        }
        for c in found
    ]
    if not rows:
        if not quiet:
            say("no ceremonies recorded")
        return
    click.echo(table(rows, ["number", "kind", "facility", "opened", "state", "script"]))
