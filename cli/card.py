"""``tcr card``: enrol, check, rotate and wipe TCR smartcards. Thin: parse, prompt, call, print.

PINs come from a hidden prompt, from stdin when stdin is not a terminal (one per line, in
the order each command's help gives), or from a file named by a ``--*-pin-file`` option
that must be mode 0600. Never from argv or the environment. The work is done by
:mod:`tcr_kit.cards` and :mod:`tcr_kit.secretio`; the options and printing helpers shared
with other commands are in :mod:`._cards`.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any, Literal

import click

from tcr_kit import cards
from tcr_kit.errors import FileExistsRefused

from . import _rotation_ledger as rotation_ledger
from ._cards import (
    OneCard,
    ask,
    card_options,
    confirm,
    file_option,
    force_option,
    listed_row,
    load_optional,
    module_option,
    one_card,
    print_facts,
    read_secret,
    usage,
    with_words,
)
from ._output import say, say_lines
from ._rotation_ledger import rotation_ledger_options
from .app import emit_json, json_option, progress, quiet_option, table, warn
from .card_pin import change_pin, unblock

__all__ = ["card", "read_secret"]  # read_secret: cli/hsm.py reads card PINs with it


# -- commands ------------------------------------------------------------------------------


@click.group()
def card() -> None:
    """Enrol, check, rotate and wipe TCR smartcards and tokens.

    A card is a PKCS#11 token or a PC/SC card.

    \b
    Exit codes: 0 ok; 1 card, reader or middleware problem (removed card, wrong PIN,
    blocked PIN, last try refused, pcscd down, bad module path, PIN file readable by
    others); 2 usage (bad option, bad new PIN, malformed record); 3 integrity (wrong
    card, other share set, damaged share).
    """


card.add_command(change_pin)
card.add_command(unblock)


@card.command("list")
@module_option
@file_option(
    "--record",
    "records",
    multiple=True,
    metavar="FILE",
    help="Enrolment records: show the TCR of matching cards (repeatable).",
)
@json_option
@quiet_option
def list_cmd(
    pkcs11_module: str | None, records: tuple[Path, ...], as_json: bool, quiet: bool
) -> None:
    """List readers, tokens and cards: blank or enrolled, set id and index."""
    listing = cards.list_cards(pkcs11_module, [cards.load_record(path) for path in records])
    for message in listing.warnings:
        warn(message)
    rows = [listed_row(listed) for listed in listing.cards]
    if as_json:
        emit_json({"ok": True, "cards": rows})
        return
    for row in rows:
        row.update(set=row.get("set_id") or "", index=row.get("index") or "")
        row["pin"] = row.get("pin_tries") or ""
        row.update({key: "" for key, value in row.items() if value is None})
    columns = ["backend", "location", "serial", "label", "state", "set", "index", "tcr", "pin"]
    click.echo(table(rows, columns))


@card.command()
@one_card
@file_option("--record", metavar="FILE", help="The enrolment record to check the card against.")
@click.option(
    "--with-pin",
    is_flag=True,
    help="Also enter the PIN: decrypt the share and verify it (never shown).",
)
@file_option("--pin-file", help="PIN from a 0600 file.")
@force_option
@json_option
@quiet_option
def check(
    where: OneCard,
    record: Path | None,
    with_pin: bool,
    pin_file: Path | None,
    force: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Check a card: identity and key fingerprints against the record, PIN tries left;
    with --with-pin also decrypt the share and verify its digest (the share is wiped)."""
    rec = load_optional(record)
    sel = where.select()
    with closing(where.open(sel, force=force, rec=rec)) as c, ExitStack() as stack:
        pin = stack.enter_context(read_secret("PIN", pin_file)) if with_pin or pin_file else None
        result = cards.check_card(c, record=rec, pin=pin)
    facts = with_words(cards.CardFacts.from_status(result.status).to_dict())
    facts.update(record_matches=result.record_matches, share_intact=result.share_intact)
    if as_json:
        emit_json({"ok": True, **facts, "notes": result.notes})
        return
    intact = "OK: share intact" if result.share_intact else "OK (share not read: no PIN given)"
    facts["result"] = intact
    for note in result.notes:
        warn(note)
    print_facts(facts)


@card.command()
@one_card
@file_option("--share", "share_path", required=True, help="Share file (from 'tcr shares split').")
@click.option("--tcr-name", required=True, help="The TCR's name.")
@click.option("--tcr-id", required=True, help="The TCR's identifier (letters, digits, . _ -).")
@file_option(
    "--record",
    "record_path",
    required=True,
    help="Where to write the enrolment record (never overwritten without --force).",
)
@file_option("--pin-file", help="Current (transport) PIN, 0600 file.")
@file_option("--new-pin-file", help="The TCR's new PIN, 0600 file.")
@file_option("--puk-file", help="PC/SC: the card's PUK, 0600 file.")
@click.option(
    "--no-puk", is_flag=True, help="PC/SC: no PUK recovery slot (an unblock loses the share)."
)
@click.option(
    "--signing-key",
    "signing_algorithm",
    type=click.Choice(["ed25519", "ec-p256"]),
    default=None,
    help="PKCS#11: the algorithm of the card's signing key (default: Ed25519 where the token"
    " has it, else EC P-256).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing record; allow the last PIN try.")
@click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
@json_option
@quiet_option
def enrol(
    where: OneCard,
    share_path: Path,
    tcr_name: str,
    tcr_id: str,
    record_path: Path,
    pin_file: Path | None,
    new_pin_file: Path | None,
    puk_file: Path | None,
    no_puk: bool,
    signing_algorithm: Literal["ed25519", "ec-p256"] | None,
    force: bool,
    dry_run: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Enrol one share on one card for one TCR and write the enrolment record.

    \b
    Secrets read from stdin (when it is not a terminal), one per line, in this order:
    current (transport) PIN, new PIN, new PIN again, and for a PC/SC card the PUK.
    """
    try:
        tcr = cards.TcrRef(name=tcr_name, id=tcr_id)
    except ValueError:
        raise click.UsageError("--tcr-id: letters, digits, '.', '_' and '-' only (1-32)") from None
    prepared = cards.load_share_file(share_path)
    if record_path.exists() and not force:
        raise FileExistsRefused(str(record_path))
    sel = where.select()
    if signing_algorithm is not None and sel.is_pcsc:
        raise click.UsageError("--signing-key: a PC/SC card holds no signing key")
    with closing(where.open(sel, force=force)) as c:
        status = c.status()
        ref = prepared.ref
        plan = with_words(
            {"card": status.identity.describe(), "card_state": status.state,
             "tcr": f"{tcr.id} ({tcr.name})", "share_digest": ref.digest, "set_id": ref.set_id,
             "index": ref.index, "record": str(record_path)}
        )  # fmt: skip
        if dry_run:
            if as_json:
                emit_json({"ok": True, "dry_run": True, "plan": plan})
            else:
                say("dry run: would enrol")
                print_facts(plan)
            return
        with ExitStack() as stack:
            current = stack.enter_context(
                read_secret("Current (transport) PIN of the card", pin_file)
            )
            new = stack.enter_context(
                read_secret(f"New PIN for TCR {tcr.id}", new_pin_file, confirm=True)
            )
            puk = None
            if sel.is_pcsc and not no_puk:
                puk = stack.enter_context(read_secret("PUK of the card (staff)", puk_file))
            progress(f"enrolling {status.identity.describe()} for TCR {tcr.id} ...")
            result = cards.enrol_card(
                c, prepared.data, tcr=tcr, current_pin=current, new_pin=new,
                record_path=record_path, puk=puk, force=force, source=str(share_path),
                signing_algorithm=signing_algorithm,
            )  # fmt: skip
    rec = result.record
    out: dict[str, Any] = {"ok": True, "record": str(record_path)}
    out.update(completed_interrupted=result.completed_interrupted, enrolment_id=rec.enrolment_id)
    out.update(card_serial=rec.card.serial, share_digest=rec.share.digest)
    out.update(set_id=rec.share.set_id, index=rec.share.index)
    if rec.keys is not None:
        out["share_key_fingerprint"] = rec.keys.share_encryption.fingerprint
        out["signing_key_fingerprint"] = rec.keys.signing.fingerprint
        # What 'tcr roster add/rekey --public-key --key-algorithm' registers for this card.
        from tcr_kit.cards.signing import ALGORITHM_NAMES

        out["signing_key_algorithm"] = ALGORITHM_NAMES[rec.keys.signing.algorithm]
        out["signing_public_key"] = cards.audit_public_key(rec.keys.signing).hex()
    out = with_words(out)
    if as_json:
        emit_json(out)
        return
    if result.completed_interrupted:
        say("completed an interrupted enrolment: the card was already committed")
    print_facts({k: v for k, v in out.items() if k not in ("ok", "completed_interrupted")})


@card.command("wipe")
@one_card
@file_option(
    "--record", metavar="FILE", help="Refuse unless the card is the one this record names."
)
@file_option("--pin-file", help="PIN, 0600 file.")
@click.option("--yes", is_flag=True, help="Do not ask for a typed confirmation.")
@click.option("--dry-run", is_flag=True, help="Show what would be wiped; change nothing.")
@force_option
@json_option
@quiet_option
def wipe_cmd(
    where: OneCard,
    record: Path | None,
    pin_file: Path | None,
    yes: bool,
    dry_run: bool,
    force: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Remove the share, keys and metadata from a card (irreversible). Stdin: the PIN."""
    if not (dry_run or yes or sys.stdin.isatty()):
        raise click.UsageError("wipe needs a typed 'yes' at a terminal; use --yes in scripts")
    rec = load_optional(record)
    sel = where.select()
    with closing(where.open(sel, force=force, rec=rec)) as c:
        status = c.status()
        if rec is not None:
            cards.match_record(status, rec)
        facts = cards.CardFacts.from_status(status).to_dict()
        shown = ("backend", "serial", "label", "state", "tcr_id", "set_id", "index", "share_digest")
        plan = {key: facts[key] for key in shown if facts.get(key) is not None}
        if not quiet:
            head = "dry run: would wipe" if dry_run else "about to wipe"
            say_lines([f"{head}:", *(f"  {k}: {v}" for k, v in plan.items())], err=True)
        if dry_run:
            if as_json:
                emit_json({"ok": True, "dry_run": True, "would_wipe": plan})
            return
        confirm(f"wipe {status.identity.describe()}", yes)
        with read_secret("PIN", pin_file) as pin:
            cards.wipe_card(c, pin, record=rec)
    if as_json:
        emit_json({"ok": True, "wiped": plan})
        return
    say(f"wiped {status.identity.describe()}")


@card.command()
@module_option
@card_options("old", "the old card")
@card_options("new", "the new card")
@file_option("--record", metavar="FILE", help="The old card's enrolment record.")
@file_option(
    "--new-record",
    required=True,
    metavar="FILE",
    help="Where to write the new card's enrolment record.",
)
@click.option("--no-puk", is_flag=True, help="PC/SC new card: no PUK recovery slot.")
@click.option(
    "--swap-timeout",
    type=float,
    default=120.0,
    metavar="SECONDS",
    help="One reader for both cards: how long to wait for each card swap.",
)
@click.option("--yes", is_flag=True, help="Do not ask before wiping the old card.")
@click.option(
    "--signing-key",
    "signing_algorithm",
    type=click.Choice(["ed25519", "ec-p256"]),
    default=None,
    help="PKCS#11 new card: the algorithm of its signing key (default: Ed25519 where the"
    " token has it, else EC P-256).",
)
@click.option("--force", is_flag=True, help="Overwrite --new-record; allow the last PIN try.")
@rotation_ledger_options
@json_option
@quiet_option
def rotate(
    pkcs11_module: str | None,
    old_token_label: str | None,
    old_token_serial: str | None,
    old_reader: str | None,
    new_token_label: str | None,
    new_token_serial: str | None,
    new_reader: str | None,
    record: Path | None,
    new_record: Path,
    no_puk: bool,
    swap_timeout: float,
    yes: bool,
    signing_algorithm: Literal["ed25519", "ec-p256"] | None,
    force: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Move a share to a new card, verify it there, then wipe the old card (one step).

    With --old-reader and --new-reader naming the same reader, the command asks for the
    cards to be swapped (old out, new in; then new out, old in to wipe it) and waits.

    \b
    Stdin order: old card's PIN, new card's transport PIN, new PIN, new PIN again,
    and for a PC/SC new card its PUK.
    """
    rec = load_optional(record)
    old_sel = usage(cards.select_card, pkcs11_module, old_token_label, old_token_serial, old_reader)
    new_sel = usage(cards.select_card, pkcs11_module, new_token_label, new_token_serial, new_reader)
    if not (yes or sys.stdin.isatty()):
        raise click.UsageError("rotate wipes the old card: use --yes in scripts")
    usage(cards.uses_one_reader, old_sel, new_sel)
    if signing_algorithm is not None and new_sel.is_pcsc:
        raise click.UsageError("--signing-key: a PC/SC card holds no signing key")
    rotation_ledger.precheck()  # with --replace: the ledger change is tried first
    confirm("rotate the share to the new card, then wipe the old card", yes)
    with ExitStack() as stack:
        old_pin = stack.enter_context(read_secret("PIN of the old card"))
        transport = stack.enter_context(read_secret("Current (transport) PIN of the new card"))
        new_pin = stack.enter_context(read_secret("New PIN for the new card", confirm=True))
        puk = None
        if new_sel.is_pcsc and not no_puk:
            puk = stack.enter_context(read_secret("PUK of the new card (staff)"))
        result = cards.rotate_selected(
            old_sel, new_sel, old_pin, new_current_pin=transport, new_pin=new_pin,
            record_path=new_record, old_record=rec, puk=puk, force=force, allow_last_try=force,
            ask=ask, swap_timeout=swap_timeout, progress=progress,
            signing_algorithm=signing_algorithm,
        )  # fmt: skip
    rotation_ledger.record(result.record, new_record)
    out = {
        "ok": True,
        "new_record": str(new_record),
        "new_card_serial": result.record.card.serial,
        "share_digest": result.record.share.digest,
        "old_card": "wiped",
    }
    new_keys = result.record.keys
    if new_keys is not None:  # the new card's signing key, for 'tcr roster rekey'
        from tcr_kit.cards.signing import ALGORITHM_NAMES

        out["signing_key_algorithm"] = ALGORITHM_NAMES[new_keys.signing.algorithm]
        out["signing_public_key"] = cards.audit_public_key(new_keys.signing).hex()
    if as_json:
        emit_json(out)
    else:
        print_facts({k: v for k, v in out.items() if k != "ok"})
