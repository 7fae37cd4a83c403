"""``tcr card``: enrol, check, rotate and wipe TCR smartcards. Thin: parse, prompt, call, print.

PINs come from a hidden prompt, from stdin when stdin is not a terminal (one per line, in
the order each command's help gives), or from a file named by a ``--*-pin-file`` option
that must be mode 0600. Never from argv or the environment. The work is done by
:mod:`tcr_kit.cards` and :mod:`tcr_kit.secretio`; this module only turns options into calls
and results into text or JSON.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tcr_kit import cards, secretio
from tcr_kit.errors import FileExistsRefused
from tcr_kit.secrets import SecretBuffer

from .app import emit_json, json_option, progress, quiet_option, table, warn

if TYPE_CHECKING:
    from tcr_kit.cards import Card, CardRequest, CardSelector, EnrolmentRecord, ListedCard

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _hidden_prompt(text: str, confirm: bool) -> str:
    # click returns a str, which cannot be wiped; secretio copies it into a buffer at once.
    return str(click.prompt(text, hide_input=True, confirmation_prompt=confirm, err=True))


def read_secret(what: str, path: Path | None = None, *, confirm: bool = False) -> SecretBuffer:
    """One PIN: from ``path`` (0600), stdin (not a TTY: one per line) or a hidden prompt."""
    stream = None if sys.stdin.isatty() else sys.stdin.buffer
    return secretio.read_secret(
        what, path=path, stream=stream, prompt=_hidden_prompt, confirm=confirm, kind="PIN"
    )


# -- options -------------------------------------------------------------------------------


def _path(*decls: str, **kw: Any) -> Callable[[F], F]:
    return click.option(*decls, type=click.Path(path_type=Path), **kw)


def card_options(prefix: str = "", help_name: str = "the card") -> Callable[[F], F]:
    """``--reader`` or ``--token-label | --token-serial`` (the module is ``--pkcs11-module``)."""
    dash, under = (f"{prefix}-", f"{prefix}_") if prefix else ("", "")

    def deco(f: F) -> F:
        for name, metavar, text in (
            ("reader", "NAME", f"PC/SC reader holding {help_name}."),
            ("token-serial", "S", f"Serial of the PKCS#11 token that is {help_name}."),
            ("token-label", "L", f"Label of the PKCS#11 token that is {help_name}."),
        ):
            dest = under + name.replace("-", "_")
            f = click.option(f"--{dash}{name}", dest, metavar=metavar, help=text)(f)
        return f

    return deco


def module_option(f: F) -> F:
    return click.option(
        "--pkcs11-module",
        metavar="PATH",
        help="PKCS#11 module (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so;"
        " OpenSC: /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so; YubiKey: libykcs11.so).",
    )(f)


@dataclass(frozen=True)
class OneCard:
    """The options naming one card (turned into a selector when the command gets to it)."""

    module: str | None
    label: str | None
    serial: str | None
    reader: str | None
    wait: float

    def select(self) -> CardSelector:
        return _usage(cards.select_card, self.module, self.label, self.serial, self.reader)


def one_card(f: Callable[..., None]) -> Callable[..., None]:
    """``--pkcs11-module``, the card options and ``--wait``, given to ``f`` as one
    :class:`OneCard` (its first argument)."""

    @functools.wraps(f)
    def run(
        *, pkcs11_module: str | None, token_label: str | None, token_serial: str | None,
        reader: str | None, wait: float, **kw: Any,
    ) -> None:  # fmt: skip
        f(OneCard(pkcs11_module, token_label, token_serial, reader, wait), **kw)

    run = click.option(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="PC/SC: wait this long for the card to be inserted.",
    )(run)
    return module_option(card_options()(run))


force_option = click.option("--force", is_flag=True, help="Allow spending the last PIN try.")


# -- calling the library -------------------------------------------------------------------


def _usage(call: Callable[..., T], *args: Any) -> T:
    """A selection refusal is a usage error: click's, so it carries the '--help' hint."""
    try:
        return call(*args)
    except cards.CardSelectionError as exc:
        raise click.UsageError(str(exc)) from None


def _ask(request: CardRequest) -> None:
    progress(f"{request.describe()} ...")


def _open(sel: CardSelector, *, force: bool, wait: float, rec: EnrolmentRecord | None) -> Card:
    who = rec.describe_card() if rec is not None else "the card"
    return cards.open_card(sel, allow_last_try=force, wait=wait, ask=_ask, card_name=who)


def _record(path: Path | None) -> EnrolmentRecord | None:
    return None if path is None else cards.load_record(path)


def _confirm(action: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError(f"{action} needs a typed 'yes' at a terminal; use --yes in scripts")
    answer = click.prompt(
        f"{action}: type 'yes' to go on", default="", show_default=False, err=True
    )
    if answer != "yes":
        raise click.exceptions.Abort()


# -- printing ------------------------------------------------------------------------------


def with_words(facts: dict[str, Any]) -> dict[str, Any]:
    """Add PGP words next to every digest and fingerprint, the way people compare them."""
    from tcr_kit.audit.pgpwords import digest_words

    out: dict[str, Any] = {}
    for key, value in facts.items():
        out[key] = value
        if key in ("share_digest", "share_key_fingerprint", "signing_key_fingerprint") and value:
            out[f"{key}_words"] = digest_words(bytes.fromhex(value))[1]
    return out


def _print_facts(facts: dict[str, Any]) -> None:
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        if value is not None:
            click.echo(f"{key.ljust(width)}  {value}")


def _row(listed: ListedCard) -> dict[str, Any]:
    if listed.facts is None:
        return {"backend": listed.backend, "location": listed.location, "state": listed.state}
    row = with_words(listed.facts.to_dict())
    if listed.record is not None:
        tcr = listed.record.tcr
        row.update(tcr=f"{tcr.id} ({tcr.name})", record_matches=listed.record_matches)
    return row


# -- commands ------------------------------------------------------------------------------


@click.group()
def card() -> None:
    """Enrol, check, rotate and wipe TCR smartcards (PKCS#11 tokens or PC/SC cards).

    \b
    Exit codes: 0 ok; 1 card, reader or middleware problem (removed card, wrong PIN,
    blocked PIN, last try refused, pcscd down, bad module path, PIN file readable by
    others); 2 usage (bad option, bad new PIN, malformed record); 3 integrity (wrong
    card, other share set, damaged share).
    """


@card.command("list")
@module_option
@_path(
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
    rows = [_row(listed) for listed in listing.cards]
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
@_path("--record", metavar="FILE", help="The enrolment record to check the card against.")
@click.option(
    "--with-pin",
    is_flag=True,
    help="Also enter the PIN: decrypt the share and verify it (never shown).",
)
@_path("--pin-file", help="PIN from a 0600 file.")
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
    rec = _record(record)
    sel = where.select()
    with closing(_open(sel, force=force, wait=where.wait, rec=rec)) as c, ExitStack() as stack:
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
    _print_facts(facts)


@card.command()
@one_card
@_path("--share", "share_path", required=True, help="Share file (from 'tcr shares split').")
@click.option("--tcr-name", required=True, help="The TCR's name.")
@click.option("--tcr-id", required=True, help="The TCR's identifier (letters, digits, . _ -).")
@_path(
    "--record",
    "record_path",
    required=True,
    help="Where to write the enrolment record (never overwritten without --force).",
)
@_path("--pin-file", help="Current (transport) PIN, 0600 file.")
@_path("--new-pin-file", help="The TCR's new PIN, 0600 file.")
@_path("--puk-file", help="PC/SC: the card's PUK, 0600 file.")
@click.option(
    "--no-puk", is_flag=True, help="PC/SC: no PUK recovery slot (an unblock loses the share)."
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
    from pydantic import ValidationError

    try:
        tcr = cards.TcrRef(name=tcr_name, id=tcr_id)
    except ValidationError:
        raise click.UsageError("--tcr-id: letters, digits, '.', '_' and '-' only (1-32)") from None
    prepared = cards.load_share_file(share_path)
    if record_path.exists() and not force:
        raise FileExistsRefused(str(record_path))
    sel = where.select()
    with closing(_open(sel, force=force, wait=where.wait, rec=None)) as c:
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
                click.echo("dry run: would enrol")
                _print_facts(plan)
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
            )  # fmt: skip
    rec = result.record
    out: dict[str, Any] = {"ok": True, "record": str(record_path)}
    out.update(completed_interrupted=result.completed_interrupted, enrolment_id=rec.enrolment_id)
    out.update(card_serial=rec.card.serial, share_digest=rec.share.digest)
    out.update(set_id=rec.share.set_id, index=rec.share.index)
    if rec.keys is not None:
        out["share_key_fingerprint"] = rec.keys.share_encryption.fingerprint
        out["signing_key_fingerprint"] = rec.keys.signing.fingerprint
    out = with_words(out)
    if as_json:
        emit_json(out)
        return
    if result.completed_interrupted:
        click.echo("completed an interrupted enrolment: the card was already committed")
    _print_facts({k: v for k, v in out.items() if k not in ("ok", "completed_interrupted")})


@card.command("change-pin")
@one_card
@_path("--pin-file", help="Current PIN, 0600 file.")
@_path("--new-pin-file", help="New PIN, 0600 file.")
@force_option
@quiet_option
def change_pin(
    where: OneCard,
    pin_file: Path | None,
    new_pin_file: Path | None,
    force: bool,
    quiet: bool,
) -> None:
    """Change the card's PIN (stdin order: current PIN, new PIN, new PIN again)."""
    sel = where.select()
    with (
        closing(_open(sel, force=force, wait=where.wait, rec=None)) as c,
        read_secret("Current PIN", pin_file) as old,
        read_secret("New PIN", new_pin_file, confirm=True) as new,
    ):
        c.change_pin(old, new)
    click.echo("PIN changed")


@card.command()
@one_card
@_path("--puk-file", help="PUK (PC/SC) or SO PIN (PKCS#11), 0600 file.")
@_path("--new-pin-file", help="New PIN, 0600 file.")
@quiet_option
def unblock(
    where: OneCard,
    puk_file: Path | None,
    new_pin_file: Path | None,
    quiet: bool,
) -> None:
    """Set a new PIN with the PUK / SO PIN (stdin order: PUK, new PIN, new PIN again)."""
    sel = where.select()
    with (
        closing(_open(sel, force=False, wait=where.wait, rec=None)) as c,
        read_secret(sel.unblock_secret, puk_file) as puk,
        read_secret("New PIN", new_pin_file, confirm=True) as new,
    ):
        c.unblock(puk, new)
    click.echo("PIN reset; the retry counter is full again")


@card.command("wipe")
@one_card
@_path("--record", metavar="FILE", help="Refuse unless the card is the one this record names.")
@_path("--pin-file", help="PIN, 0600 file.")
@click.option("--yes", is_flag=True, help="Do not ask for a typed confirmation.")
@click.option("--dry-run", is_flag=True, help="Show what would be wiped; change nothing.")
@force_option
@quiet_option
def wipe_cmd(
    where: OneCard,
    record: Path | None,
    pin_file: Path | None,
    yes: bool,
    dry_run: bool,
    force: bool,
    quiet: bool,
) -> None:
    """Remove the share, keys and metadata from a card (irreversible). Stdin: the PIN."""
    if not (dry_run or yes or sys.stdin.isatty()):
        raise click.UsageError("wipe needs a typed 'yes' at a terminal; use --yes in scripts")
    rec = _record(record)
    sel = where.select()
    with closing(_open(sel, force=force, wait=where.wait, rec=rec)) as c:
        status = c.status()
        if rec is not None:
            cards.match_record(status, rec)
        facts = cards.CardFacts.from_status(status).to_dict()
        click.echo(f"{'dry run: would wipe' if dry_run else 'about to wipe'}:", err=True)
        shown = ("backend", "serial", "label", "state", "tcr_id", "set_id", "index", "share_digest")
        for key in shown:
            if facts.get(key) is not None:
                click.echo(f"  {key}: {facts[key]}", err=True)
        if dry_run:
            return
        _confirm(f"wipe {status.identity.describe()}", yes)
        with read_secret("PIN", pin_file) as pin:
            cards.wipe_card(c, pin, record=rec)
    click.echo(f"wiped {status.identity.describe()}")


@card.command()
@module_option
@card_options("old", "the old card")
@card_options("new", "the new card")
@_path("--record", metavar="FILE", help="The old card's enrolment record.")
@_path(
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
@click.option("--force", is_flag=True, help="Overwrite --new-record; allow the last PIN try.")
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
    rec = _record(record)
    old_sel = _usage(
        cards.select_card, pkcs11_module, old_token_label, old_token_serial, old_reader
    )
    new_sel = _usage(
        cards.select_card, pkcs11_module, new_token_label, new_token_serial, new_reader
    )
    if not (yes or sys.stdin.isatty()):
        raise click.UsageError("rotate wipes the old card: use --yes in scripts")
    _usage(cards.uses_one_reader, old_sel, new_sel)
    _confirm("rotate the share to the new card, then wipe the old card", yes)
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
            ask=_ask, swap_timeout=swap_timeout, progress=progress,
        )  # fmt: skip
    out = {
        "ok": True,
        "new_record": str(new_record),
        "new_card_serial": result.record.card.serial,
        "share_digest": result.record.share.digest,
        "old_card": "wiped",
    }
    if as_json:
        emit_json(out)
    else:
        _print_facts({k: v for k, v in out.items() if k != "ok"})
