"""``tcr audit``: verify the log (live or from a transcript), export, checkpoint, head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._ledger import actor, actor_options, ledger_option, open_ledger, progress_callback
from ._output import say
from ._tlog import (
    check_head_note,
    note_output_options,
    tree_head,
    witness_options,
    write_checkpoint_note,
)
from .app import emit_json, json_option, progress, quiet_option


@click.group()
def audit() -> None:
    """The signed, hash-chained audit log."""


@audit.command("verify")
@ledger_option
@click.option(
    "--transcript",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify an exported transcript offline, from the file alone.",
)
@click.option("--expect-head", help="The head hash (hex) you were told; must match.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes that check the events (default: CPUs; with 2, a large transcript is "
    "also parsed in halves).",
)
@witness_options
@quiet_option
@json_option
def verify(
    ledger_path: Path | None,
    transcript: Path | None,
    expect_head: str | None,
    workers: int | None,
    head_note: Path | None,
    witness_keys: tuple[str, ...],
    need: int | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Recompute the chain and every signature; name the first bad event. The signed
    statements events carry (overrides, approvals, seal attestations, manifests) are
    re-checked with the keys the log registered. With --checkpoint NOTE also check a
    checkpoint note and its witnesses' cosignatures."""
    from tcr_kit.audit.pgpwords import digest_words

    selection: list[int] | None = None
    if transcript is not None:
        from tcr_kit.audit.transcript import verify_transcript

        result = verify_transcript(
            transcript, expect_head=expect_head, progress=progress_callback(), workers=workers
        )
        report = result.report
        selection = result.selection
        source = str(transcript)
        head_data = check_head_note(head_note, witness_keys, need, report, transcript=transcript)
    else:
        with open_ledger(ledger_path, read_only=True) as led:
            report = led.verify(
                expect_head=expect_head, progress=progress_callback(), workers=workers
            )
            source = str(led.path)
            head_data = check_head_note(head_note, witness_keys, need, report, led=led)
    hex_, words = digest_words(bytes.fromhex(report.head))
    data: dict[str, Any] = {
        "ok": True,
        "source": source,
        "events": report.events,
        "checkpoints": report.checkpoints,
        "keys": len(report.keys),
        "cosignatures": report.cosignatures,
        "statements": report.statements,
        "head": hex_,
        "head_words": words,
    }
    if selection is not None:
        data["selected_events"] = len(selection)
    data.update(head_data)
    if as_json:
        emit_json(data)
        return
    say(
        f"verified: {source}: {report.events} events, {report.checkpoints} checkpoints, "
        f"{len(report.keys)} keys"
    )
    if report.cosignatures:
        say(f"witnesses' co-signatures: {report.cosignatures} verified")
    if report.statements:
        say(
            f"signed statements in events (overrides, approvals, attestations, manifests): "
            f"{report.statements} verified"
        )
    say(f"head (event {report.events}) SHA-256: {hex_}")
    say(f"PGP Words: {words}")
    if head_data:
        cp = head_data["checkpoint"]
        say(
            f"checkpoint note: {cp['origin']} tree size {cp['tree_size']} matches the log; "
            f"cosigned by {len(cp['witnessed_by'])} known witnesses (needed {cp['need']})"
        )


@audit.command("export")
@ledger_option
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--ceremony",
    type=click.IntRange(min=1),
    envvar="TCR_CEREMONY",
    help="Events naming this ceremony number, through the checkpoint taken at its close. "
    "Env: TCR_CEREMONY.",
)
@click.option("--since", help="Events at or after this UTC time (ISO 8601).")
@click.option("--until", help="Events before this UTC time (ISO 8601).")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@json_option
def export(
    ledger_path: Path | None,
    output: Path,
    ceremony: int | None,
    since: str | None,
    until: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Write a self-contained transcript (events, keys, checkpoints); never overwrites."""
    from tcr_kit.audit.pgpwords import digest_words
    from tcr_kit.audit.transcript import build_transcript, write_transcript
    from tcr_kit.custody.ledger import EventSelection
    from tcr_kit.errors import InputError

    try:
        selection = EventSelection.parse(ceremony=ceremony, since=since, until=until)
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None
    description = selection.description
    with open_ledger(ledger_path) as led:
        progress("building transcript")
        doc = build_transcript(
            led.audit,
            selection,
            description,
            through_checkpoint=ceremony is not None,
            progress=progress_callback("exporting"),
        )
    file_hash = write_transcript(doc, output, force=force)
    hex_, words = digest_words(bytes.fromhex(file_hash))
    data = {
        "ok": True,
        "file": str(output),
        "selection": description,
        "selected_events": len(doc["selection"]["seqs"]),
        "events": len(doc["events"]),
        "sha256": hex_,
        "words": words,
        "head": doc["head"],
    }
    if as_json:
        emit_json(data)
        return
    say(
        f"wrote {output}: {data['selected_events']} selected of {data['events']} events "
        f"({description})"
    )
    say(f"SHA-256:   {hex_}")
    say(f"PGP Words: {words}")


@audit.command("checkpoint")
@ledger_option
@actor_options
@note_output_options
@json_option
def checkpoint(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    note_path: Path | None,
    force: bool,
    origin: str | None,
    site: str | None,
    as_json: bool,
) -> None:
    """Sign the current head of the log (and, with --output, its tree head as a note)."""
    from tcr_kit.audit.pgpwords import digest_words

    note: dict[str, Any] = {}
    with open_ledger(ledger_path) as led:
        who = actor(actor_id, key_file)
        led.checkpoint(who)
        seq, head = led.audit.head()
        if note_path is not None:
            note = write_checkpoint_note(led, who.signer, note_path, origin, site, force=force)
    hex_, words = digest_words(bytes.fromhex(head))
    if as_json:
        emit_json({"ok": True, "seq": seq, "head": hex_, "words": words, **note})
        return
    say(f"checkpoint at event {seq}: {hex_}")
    say(f"PGP Words: {words}")
    if note:
        say(f"wrote {note['note']}: {note['origin']}, tree size {note['tree_size']}")
        say(f"verifier key: {note['verifier_key']}")


@audit.command("head")
@ledger_option
@json_option
def head(ledger_path: Path | None, as_json: bool) -> None:
    """Print the head of the log as hex and PGP words (to read aloud or publish), and its
    Merkle tree size and root."""
    from tcr_kit.audit.pgpwords import digest_words

    with open_ledger(ledger_path) as led:
        tree = tree_head(led)
    seq, value = tree["tree_size"], tree.pop("chain_head")
    hex_, words = digest_words(bytes.fromhex(value))
    if as_json:
        emit_json({"ok": True, "seq": seq, "head": hex_, "words": words, **tree})
        return
    say(f"event {seq} SHA-256: {hex_}")
    say(f"PGP Words: {words}")
    say(f"tree size {seq} root: {tree['tree_root']} (hex {tree['tree_root_hex']})")
