"""``tcr card``: enrol, check, rotate and wipe TCR smartcards. Thin: parse, prompt, call, print.

PINs come from a hidden prompt, from stdin when stdin is not a terminal (one per line, in
the order each command's help gives), or from a file named by a ``--*-pin-file`` option
that must be mode 0600. Never from argv or the environment.
"""

from __future__ import annotations

import hmac
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tcr_kit.errors import FileExistsRefused, InputError, TcrError
from tcr_kit.secrets import SecretBuffer, wipe

from .app import emit_json, json_option, progress, quiet_option, table, warn

if TYPE_CHECKING:
    from tcr_kit.cards.enrol import CardSelector

F = TypeVar("F", bound=Callable[..., Any])


# -- secrets -------------------------------------------------------------------------------


def _from_file(path: Path) -> SecretBuffer:
    from tcr_kit.fileio import check_private_file

    check_private_file(path)  # refuses a file others can read or write
    raw = bytearray(256)  # read straight into a buffer we can wipe
    try:
        with open(path, "rb") as f:
            n = f.readinto(raw)
            more = f.read(1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read PIN file: {exc.strerror}") from None
    if more:
        wipe(raw)
        raise InputError(f"{path}: too long for a PIN file")
    del raw[n:]
    return _strip(raw)


def _strip(raw: bytearray) -> SecretBuffer:
    end = len(raw)
    while end and raw[end - 1] in (0x0A, 0x0D):
        end -= 1
    out = SecretBuffer(raw[:end])  # copies, then wipes the slice it was given
    wipe(raw)
    if not len(out):
        raise InputError("empty PIN")
    return out


def _stdin_line(what: str) -> SecretBuffer:
    line = bytearray(sys.stdin.buffer.readline())
    if not line:
        raise InputError(f"stdin ended before the {what} was read")
    return _strip(line)


def read_secret(what: str, path: Path | None = None, *, confirm: bool = False) -> SecretBuffer:
    """One secret: from ``path`` (0600), stdin (not a TTY) or a hidden prompt."""
    if path is not None:
        return _from_file(path)
    if not sys.stdin.isatty():
        value = _stdin_line(what)
        if confirm:
            again = _stdin_line(f"{what} (again)")
            same = hmac.compare_digest(bytes(value.view()), bytes(again.view()))
            again.wipe()
            if not same:
                value.wipe()
                raise InputError(f"the two {what} entries differ")
        return value
    # click returns a str, which cannot be wiped; we copy it out at once.
    text = click.prompt(what, hide_input=True, confirmation_prompt=confirm, err=True)
    return SecretBuffer(bytearray(text.encode()))


# -- card selection ------------------------------------------------------------------------


def card_options(prefix: str = "", help_name: str = "the card") -> Callable[[F], F]:
    """``--pkcs11-module`` + ``--token-label | --token-serial``, or ``--reader``."""
    dash = f"{prefix}-" if prefix else ""
    under = f"{prefix}_" if prefix else ""

    def deco(f: F) -> F:
        f = click.option(
            f"--{dash}reader",
            f"{under}reader",
            metavar="NAME",
            help=f"PC/SC reader holding {help_name}.",
        )(f)
        f = click.option(
            f"--{dash}token-serial",
            f"{under}token_serial",
            metavar="S",
            help=f"Serial of the PKCS#11 token that is {help_name}.",
        )(f)
        f = click.option(
            f"--{dash}token-label",
            f"{under}token_label",
            metavar="L",
            help=f"Label of the PKCS#11 token that is {help_name}.",
        )(f)
        return f

    return deco


def module_option(f: F) -> F:
    return click.option(
        "--pkcs11-module",
        metavar="PATH",
        help="PKCS#11 module (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so;"
        " OpenSC: /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so; YubiKey: libykcs11.so).",
    )(f)


def wait_option(f: F) -> F:
    return click.option(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="PC/SC: wait this long for the card to be inserted.",
    )(f)


def selector(
    module: str | None, label: str | None, serial: str | None, reader: str | None
) -> CardSelector:
    from tcr_kit.cards.enrol import CardSelector

    if reader is not None and (label or serial):
        raise click.UsageError("give either a reader or a PKCS#11 token, not both")
    if reader is None and module is None:
        raise click.UsageError("select a card: --reader NAME, or --pkcs11-module PATH with a token")
    if reader is None and (label is None) == (serial is None):
        raise click.UsageError("select the token by --token-label or --token-serial (one)")
    return CardSelector(
        pkcs11_module=module if reader is None else None,
        token_label=label,
        token_serial=serial,
        reader=reader,
    )


def open_selected(sel: Any, *, force: bool = False, wait: float = 0.0, who: str = "") -> Any:
    from tcr_kit.cards.apdu import reader_has_card, wait_for_card
    from tcr_kit.cards.enrol import open_card

    if sel.reader is not None and wait > 0 and not reader_has_card(sel.reader):
        progress(f"insert {who or 'the card'} into {sel.reader} ...")
        wait_for_card(sel.reader, wait)
    return open_card(sel, allow_last_try=force)


def _load_record(path: Path | None) -> Any:
    if path is None:
        return None
    from tcr_kit.cards.record import load_record

    return load_record(path)


def _who(record: Any) -> str:
    if record is None:
        return ""
    return f"the card of TCR {record.tcr.id} ({record.tcr.name}), serial {record.card.serial}"


def _facts(status: Any) -> dict[str, Any]:
    meta = status.meta
    out: dict[str, Any] = {
        "backend": status.identity.backend,
        "location": status.location,
        "serial": status.identity.serial,
        "label": status.identity.label,
        "model": status.identity.model,
        "atr": status.identity.atr,
        "state": status.state,
        "pin_tries": status.pin.describe(),
        "pin_tries_left": status.pin.tries_left,
    }
    if meta is not None:
        out.update(
            enrolment_id=meta.enrolment_id,
            tcr_id=meta.tcr.id,
            tcr_name=meta.tcr.name,
            set_id=meta.share.set_id,
            index=meta.share.index,
            threshold=meta.share.threshold,
            count=meta.share.count,
            share_digest=meta.share.digest,
            enrolled_at=meta.enrolled_at.isoformat().replace("+00:00", "Z"),
        )
    if status.keys is not None:
        out["share_key_fingerprint"] = status.keys.share_encryption.fingerprint
        out["signing_key_fingerprint"] = status.keys.signing.fingerprint
    return with_words(out)


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
@click.option(
    "--record",
    "records",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Enrolment records: show the TCR of matching cards (repeatable).",
)
@json_option
@quiet_option
def list_cmd(
    pkcs11_module: str | None, records: tuple[Path, ...], as_json: bool, quiet: bool
) -> None:
    """List readers, tokens and cards: blank or enrolled, set id and index."""
    from tcr_kit.cards.apdu import list_readers, reader_has_card
    from tcr_kit.cards.pcsc_backend import PcscCard
    from tcr_kit.cards.pkcs11_backend import Pkcs11Card, list_tokens
    from tcr_kit.cards.record import EnrolmentRecord, load_record

    by_card: dict[tuple[str, str], EnrolmentRecord] = {}
    for path in records:
        rec = load_record(path)
        by_card[(rec.card.backend, rec.card.serial)] = rec
    rows: list[dict[str, Any]] = []
    try:
        readers = list_readers()
    except TcrError as exc:
        if pkcs11_module is None:
            raise
        warn(str(exc))
        readers = []
    for reader in readers:
        row: dict[str, Any] = {"backend": "pcsc", "location": reader}
        if not reader_has_card(reader):
            row["state"] = "no card"
        else:
            try:
                c = PcscCard(reader)
                try:
                    row.update(_facts(c.status()))
                finally:
                    c.close()
            except TcrError as exc:
                row["state"] = f"unusable: {exc}"
        rows.append(row)
    if pkcs11_module is not None:
        for _where, token in list_tokens(pkcs11_module):
            serial = str(token.serial.decode() if isinstance(token.serial, bytes) else token.serial)
            t = Pkcs11Card(pkcs11_module, token_serial=serial.strip())
            rows.append(_facts(t.status()))
    for row in rows:
        match = by_card.get((str(row.get("backend")), str(row.get("serial"))))
        if match is not None:
            row["tcr"] = f"{match.tcr.id} ({match.tcr.name})"
            row["record_matches"] = rec.enrolment_id == row.get("enrolment_id")
    if as_json:
        emit_json({"ok": True, "cards": rows})
        return
    for row in rows:
        row["set"] = row.get("set_id") or ""
        row["index"] = row.get("index") or ""
        row["pin"] = row.get("pin_tries") or ""
        for key, value in list(row.items()):
            if value is None:
                row[key] = ""
    click.echo(
        table(
            rows, ["backend", "location", "serial", "label", "state", "set", "index", "tcr", "pin"]
        )
    )


@card.command()
@module_option
@card_options()
@wait_option
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="The enrolment record to check the card against.",
)
@click.option(
    "--with-pin",
    is_flag=True,
    help="Also enter the PIN: decrypt the share and verify it (never shown).",
)
@click.option("--pin-file", type=click.Path(path_type=Path), help="PIN from a 0600 file.")
@click.option("--force", is_flag=True, help="Allow spending the last PIN try.")
@json_option
@quiet_option
def check(
    pkcs11_module: str | None,
    token_label: str | None,
    token_serial: str | None,
    reader: str | None,
    wait: float,
    record: Path | None,
    with_pin: bool,
    pin_file: Path | None,
    force: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Check a card: identity and key fingerprints against the record, PIN tries left;
    with --with-pin also decrypt the share and verify its digest (the share is wiped)."""
    from tcr_kit.cards.enrol import check_card

    rec = _load_record(record)
    sel = selector(pkcs11_module, token_label, token_serial, reader)
    c = open_selected(sel, force=force, wait=wait, who=_who(rec))
    try:
        pin = read_secret("PIN", pin_file) if (with_pin or pin_file) else None
        try:
            result = check_card(c, record=rec, pin=pin)
        finally:
            if pin is not None:
                pin.wipe()
        facts = _facts(result.status)
        facts["record_matches"] = result.record_matches
        facts["share_intact"] = result.share_intact
    finally:
        c.close()
    if as_json:
        emit_json({"ok": True, **facts, "notes": result.notes})
        return
    facts["result"] = (
        "OK: share intact" if result.share_intact else "OK (share not read: no PIN given)"
    )
    for note in result.notes:
        warn(note)
    _print_facts(facts)


@card.command()
@module_option
@card_options()
@wait_option
@click.option(
    "--share",
    "share_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Share file (from 'tcr shares split').",
)
@click.option("--tcr-name", required=True, help="The TCR's name.")
@click.option("--tcr-id", required=True, help="The TCR's identifier (letters, digits, . _ -).")
@click.option(
    "--record",
    "record_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Where to write the enrolment record (never overwritten without --force).",
)
@click.option(
    "--pin-file", type=click.Path(path_type=Path), help="Current (transport) PIN, 0600 file."
)
@click.option(
    "--new-pin-file", type=click.Path(path_type=Path), help="The TCR's new PIN, 0600 file."
)
@click.option(
    "--puk-file", type=click.Path(path_type=Path), help="PC/SC: the card's PUK, 0600 file."
)
@click.option(
    "--no-puk", is_flag=True, help="PC/SC: no PUK recovery slot (an unblock loses the share)."
)
@click.option("--force", is_flag=True, help="Overwrite an existing record; allow the last PIN try.")
@click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
@json_option
@quiet_option
def enrol(
    pkcs11_module: str | None,
    token_label: str | None,
    token_serial: str | None,
    reader: str | None,
    wait: float,
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

    from tcr_kit.cards import enrol as cards
    from tcr_kit.cards.record import TcrRef
    from tcr_kit.cards.shareinfo import prepare_share

    try:
        tcr = TcrRef(name=tcr_name, id=tcr_id)
    except ValidationError:
        raise click.UsageError("--tcr-id: letters, digits, '.', '_' and '-' only (1-32)") from None
    try:
        share = share_path.read_bytes()
    except OSError as exc:
        raise InputError(f"{share_path}: cannot read: {exc.strerror}") from None
    prepared = prepare_share(share, str(share_path))
    if record_path.exists() and not force:
        raise FileExistsRefused(str(record_path))
    sel = selector(pkcs11_module, token_label, token_serial, reader)
    c = open_selected(sel, force=force, wait=wait)
    try:
        status = c.status()
        plan = {
            "card": status.identity.describe(),
            "card_state": status.state,
            "tcr": f"{tcr.id} ({tcr.name})",
            "share_digest": prepared.ref.digest,
            "set_id": prepared.ref.set_id,
            "index": prepared.ref.index,
            "record": str(record_path),
        }
        plan = with_words(plan)
        if dry_run:
            if as_json:
                emit_json({"ok": True, "dry_run": True, "plan": plan})
            else:
                click.echo("dry run: would enrol")
                _print_facts(plan)
            return
        secrets: list[SecretBuffer] = []
        try:
            current = read_secret("Current (transport) PIN of the card", pin_file)
            secrets.append(current)
            new = read_secret(f"New PIN for TCR {tcr.id}", new_pin_file, confirm=True)
            secrets.append(new)
            puk = None
            if sel.reader is not None and not no_puk:
                puk = read_secret("PUK of the card (staff)", puk_file)
                secrets.append(puk)
            progress(f"enrolling {status.identity.describe()} for TCR {tcr.id} ...")
            result = cards.enrol(
                c,
                prepared.data,
                tcr=tcr,
                current_pin=current,
                new_pin=new,
                record_path=record_path,
                puk=puk,
                force=force,
                source=str(share_path),
            )
        finally:
            for s in secrets:
                s.wipe()
    finally:
        c.close()
    rec = result.record
    out = {
        "ok": True,
        "record": str(record_path),
        "completed_interrupted": result.completed_interrupted,
        "enrolment_id": rec.enrolment_id,
        "card_serial": rec.card.serial,
        "share_digest": rec.share.digest,
        "set_id": rec.share.set_id,
        "index": rec.share.index,
    }
    if rec.keys is not None:
        out["share_key_fingerprint"] = rec.keys.share_encryption.fingerprint
        out["signing_key_fingerprint"] = rec.keys.signing.fingerprint
    out = with_words(out)
    if as_json:
        emit_json(out)
    else:
        if result.completed_interrupted:
            click.echo("completed an interrupted enrolment: the card was already committed")
        _print_facts({k: v for k, v in out.items() if k not in ("ok", "completed_interrupted")})


@card.command("change-pin")
@module_option
@card_options()
@wait_option
@click.option("--pin-file", type=click.Path(path_type=Path), help="Current PIN, 0600 file.")
@click.option("--new-pin-file", type=click.Path(path_type=Path), help="New PIN, 0600 file.")
@click.option("--force", is_flag=True, help="Allow spending the last PIN try.")
@quiet_option
def change_pin(
    pkcs11_module: str | None,
    token_label: str | None,
    token_serial: str | None,
    reader: str | None,
    wait: float,
    pin_file: Path | None,
    new_pin_file: Path | None,
    force: bool,
    quiet: bool,
) -> None:
    """Change the card's PIN (stdin order: current PIN, new PIN, new PIN again)."""
    sel = selector(pkcs11_module, token_label, token_serial, reader)
    c = open_selected(sel, force=force, wait=wait)
    try:
        old = read_secret("Current PIN", pin_file)
        try:
            new = read_secret("New PIN", new_pin_file, confirm=True)
            try:
                c.change_pin(old, new)
            finally:
                new.wipe()
        finally:
            old.wipe()
    finally:
        c.close()
    click.echo("PIN changed")


@card.command()
@module_option
@card_options()
@wait_option
@click.option(
    "--puk-file",
    type=click.Path(path_type=Path),
    help="PUK (PC/SC) or SO PIN (PKCS#11), 0600 file.",
)
@click.option("--new-pin-file", type=click.Path(path_type=Path), help="New PIN, 0600 file.")
@quiet_option
def unblock(
    pkcs11_module: str | None,
    token_label: str | None,
    token_serial: str | None,
    reader: str | None,
    wait: float,
    puk_file: Path | None,
    new_pin_file: Path | None,
    quiet: bool,
) -> None:
    """Set a new PIN with the PUK / SO PIN (stdin order: PUK, new PIN, new PIN again)."""
    sel = selector(pkcs11_module, token_label, token_serial, reader)
    c = open_selected(sel, wait=wait)
    what = "PUK" if sel.reader is not None else "SO PIN"
    try:
        puk = read_secret(what, puk_file)
        try:
            new = read_secret("New PIN", new_pin_file, confirm=True)
            try:
                c.unblock(puk, new)
            finally:
                new.wipe()
        finally:
            puk.wipe()
    finally:
        c.close()
    click.echo("PIN reset; the retry counter is full again")


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


@card.command("wipe")
@module_option
@card_options()
@wait_option
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Refuse unless the card is the one this record names.",
)
@click.option("--pin-file", type=click.Path(path_type=Path), help="PIN, 0600 file.")
@click.option("--yes", is_flag=True, help="Do not ask for a typed confirmation.")
@click.option("--dry-run", is_flag=True, help="Show what would be wiped; change nothing.")
@click.option("--force", is_flag=True, help="Allow spending the last PIN try.")
@quiet_option
def wipe_cmd(
    pkcs11_module: str | None,
    token_label: str | None,
    token_serial: str | None,
    reader: str | None,
    wait: float,
    record: Path | None,
    pin_file: Path | None,
    yes: bool,
    dry_run: bool,
    force: bool,
    quiet: bool,
) -> None:
    """Remove the share, keys and metadata from a card (irreversible). Stdin: the PIN."""
    from tcr_kit.cards.enrol import match_record, wipe_card

    if not (dry_run or yes or sys.stdin.isatty()):
        raise click.UsageError("wipe needs a typed 'yes' at a terminal; use --yes in scripts")
    rec = _load_record(record)
    sel = selector(pkcs11_module, token_label, token_serial, reader)
    c = open_selected(sel, force=force, wait=wait, who=_who(rec))
    try:
        status = c.status()
        if rec is not None:
            match_record(status, rec)
        facts = _facts(status)
        click.echo(f"{'dry run: would wipe' if dry_run else 'about to wipe'}:", err=True)
        for key in (
            "backend",
            "serial",
            "label",
            "state",
            "tcr_id",
            "set_id",
            "index",
            "share_digest",
        ):
            if facts.get(key) is not None:
                click.echo(f"  {key}: {facts[key]}", err=True)
        if dry_run:
            return
        _confirm(f"wipe {status.identity.describe()}", yes)
        pin = read_secret("PIN", pin_file)
        try:
            wipe_card(c, pin, record=rec)
        finally:
            pin.wipe()
    finally:
        c.close()
    click.echo(f"wiped {status.identity.describe()}")


@card.command()
@module_option
@card_options("old", "the old card")
@card_options("new", "the new card")
@click.option(
    "--record",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="The old card's enrolment record.",
)
@click.option(
    "--new-record",
    required=True,
    type=click.Path(path_type=Path),
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
    from tcr_kit.cards import enrol as cards
    from tcr_kit.cards.apdu import wait_for_card

    rec = _load_record(record)
    old_sel = selector(pkcs11_module, old_token_label, old_token_serial, old_reader)
    new_sel = selector(pkcs11_module, new_token_label, new_token_serial, new_reader)
    if not (yes or sys.stdin.isatty()):
        raise click.UsageError("rotate wipes the old card: use --yes in scripts")
    one_reader = old_sel.reader is not None and old_sel.reader == new_sel.reader
    if not one_reader and old_sel == new_sel:
        raise click.UsageError("the old and the new card are the same selection")
    _confirm("rotate the share to the new card, then wipe the old card", yes)
    secrets: list[SecretBuffer] = []
    try:
        old_pin = read_secret("PIN of the old card", None)
        secrets.append(old_pin)
        transport = read_secret("Current (transport) PIN of the new card", None)
        secrets.append(transport)
        new_pin = read_secret("New PIN for the new card", None, confirm=True)
        secrets.append(new_pin)
        puk = None
        if new_sel.reader is not None and not no_puk:
            puk = read_secret("PUK of the new card (staff)", None)
            secrets.append(puk)
        kwargs: dict[str, Any] = {
            "new_current_pin": transport,
            "new_pin": new_pin,
            "record_path": new_record,
            "old_record": rec,
            "puk": puk,
            "force": force,
        }
        if one_reader:
            reader = str(old_sel.reader)
            seen: list[str] = []

            def swap(take_out: str, put_in: str) -> None:
                progress(f"remove {take_out} from {reader} ...")
                wait_for_card(reader, swap_timeout, present=False)
                progress(f"insert {put_in} into {reader} ...")
                wait_for_card(reader, swap_timeout, present=True)

            def open_old() -> Any:
                if seen:
                    swap("the new card", f"the old card ({seen[0]}) to wipe it")
                card_ = cards.open_card(old_sel, allow_last_try=force)
                if not seen:
                    seen.append(card_.identity().describe())
                return card_

            def open_new() -> Any:
                swap(f"the old card ({seen[0]})", "the new card")
                return cards.open_card(new_sel, allow_last_try=force)

            progress("reading the share from the old card ...")
            result = cards.rotate_cards(open_old, open_new, old_pin, **kwargs)
        else:
            old = cards.open_card(old_sel, allow_last_try=force)
            try:
                new = cards.open_card(new_sel, allow_last_try=force)
                try:
                    progress("reading the share from the old card, enrolling the new one ...")
                    result = cards.rotate(old, old_pin, new, **kwargs)
                finally:
                    new.close()
            finally:
                old.close()
    finally:
        for s in secrets:
            s.wipe()
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
