"""``tcr approval``: remote approvals of an HSM activation (docs/remote-approval.md).

A thin layer over :mod:`tcr_kit.hsm.approval`: parse, call the library, print.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._hsm_options import FILE, ask, config_option, ledger_option, output_options
from ._output import say, say_lines
from .app import emit_json, json_mode

if TYPE_CHECKING:
    from tcr_kit.audit.signing import Signer
    from tcr_kit.cards.base import Card
    from tcr_kit.cards.signing import CardSigner


@click.group()
def approval() -> None:
    """Remote approvals of an HSM activation by TCRs.

    A TCR away from the ceremony approves one activation with their key.

    \b
    Exit codes: 0 ok; 2 bad input or file; 3 a signature that does not verify, an expired
    request at signing; 4 fewer valid approvals than --need."""


@approval.command("request")
@config_option
@click.option("--ceremony", type=click.IntRange(min=1), required=True,
              help="The ceremony whose activation is approved.")  # fmt: skip
@click.option("--hsm", "hsm_name", metavar="ID", help="The HSM (must be the config's).")
@click.option("--purpose", required=True, help="What the activation is for (shown to TCRs).")
@click.option("--expires", required=True, metavar="T",
              help="UTC time (2026-12-02T18:00Z) or a duration (90m, 12h, 2d).")  # fmt: skip
@click.option("--output", "output_path", required=True, type=FILE, help="The request file.")
@click.option("--force", is_flag=True, help="Overwrite an existing --output.")
@output_options
def request_cmd(config_path: Path, ceremony: int, hsm_name: str | None, purpose: str,
                expires: str, output_path: Path, force: bool) -> None:  # fmt: skip
    """Write an approval request: ceremony, HSM, the config's SHA-256, purpose, a random
    nonce and the expiry (canonical JSON). Send it to the TCRs; they sign it at home."""
    from tcr_kit.fileio import write_new_file
    from tcr_kit.hsm.approval import new_request, parse_expiry
    from tcr_kit.hsm.config import load_config

    loaded = load_config(config_path)
    if hsm_name is not None and hsm_name != loaded.hsm.name:
        raise click.BadParameter(f"the config {config_path} is for HSM {loaded.hsm.name}",
                                 param_hint="--hsm")  # fmt: skip
    req = new_request(loaded, ceremony=ceremony, purpose=purpose, expires=parse_expiry(expires))
    write_new_file(output_path, req.canonical(), 0o644, force=force)
    if json_mode():
        return emit_json({"ok": True, "output": str(output_path), "request_sha256": req.sha256,
                          "request": req.facts()})  # fmt: skip
    say_lines([*req.describe(), f"written to {output_path}"])


def _card_signer(spec: str, module: str | None) -> tuple[Card, CardSigner, str | None]:
    """The card named by ``spec`` as a signer (its PIN read from pin-file or asked), and
    the TCR id its enrolment record names; the caller closes the signer and its card."""
    from tcr_kit.cards.enrol import open_card
    from tcr_kit.cards.signing import CardSigner
    from tcr_kit.hsm.collect import CardSpecError, parse_card_spec

    from .card import read_secret

    try:
        card_spec = parse_card_spec(spec, module)
    except CardSpecError as exc:
        raise click.UsageError(str(exc)) from None
    card = open_card(card_spec.selector)
    try:
        with read_secret(f"PIN for {card_spec.describe()}", card_spec.pin_file) as pin:
            signer = CardSigner(card, pin)
    except BaseException:
        card.close()
        raise
    tcr = card_spec.record.tcr.id if card_spec.record is not None else None
    return card, signer, tcr


@approval.command("sign")
@click.argument("request_path", metavar="REQ", type=FILE)
@click.option("--as", "signer_id", metavar="ID", help="Your roster id (default: the id in"
              " the card's enrolment record).")  # fmt: skip
@click.option("--key", "key_file", type=FILE, help="Sign with this software key file.")
@click.option("--card", "card_spec", metavar="record=FILE[,pin-file=F][,label=L|serial=S]",
              help="Sign with the card's signing key (PIN: pin-file, else asked).")  # fmt: skip
@click.option("--pkcs11-module", metavar="PATH", help="PKCS#11 module of the card.")
@click.option("--output", "output_path", required=True, type=FILE, help="The signed approval.")
@click.option("--force", is_flag=True, help="Overwrite an existing --output.")
@click.option("--yes", is_flag=True, help="Do not ask for a typed confirmation.")
@output_options
def sign_cmd(request_path: Path, signer_id: str | None, key_file: Path | None,
             card_spec: str | None, pkcs11_module: str | None, output_path: Path, force: bool,
             yes: bool) -> None:  # fmt: skip
    """Approve a request: shows it with its hash as PGP words (compare them with the ones
    read aloud on the call), asks for typed 'yes', then signs with your card or key."""
    from tcr_kit.errors import OperationalError
    from tcr_kit.fileio import write_new_file
    from tcr_kit.hsm.approval import load_request, sign_request

    if (key_file is None) == (card_spec is None):
        raise click.UsageError("sign with either --card or --key")
    req = load_request(request_path)
    say_lines(req.describe(), err=True)
    if not yes and ask("type yes to approve this activation") != "yes":
        raise OperationalError("not approved: nothing was signed")
    signer: Signer
    opened: tuple[Card, CardSigner] | None = None
    if key_file is not None:
        from ._ledger import load_signer

        if signer_id is None:
            raise click.UsageError("--key needs --as ID (your roster id)")
        signer = load_signer(key_file)
    else:
        assert card_spec is not None  # noqa: S101 - checked above
        card, card_signer, tcr = _card_signer(card_spec, pkcs11_module)
        opened = (card, card_signer)
        signer, signer_id = card_signer, signer_id or tcr
    try:
        if signer_id is None:
            raise click.UsageError("--card without an enrolment record needs --as ID")
        signed = sign_request(req, signer_id, signer)
    finally:
        if opened is not None:
            opened[1].close()  # wipes the PIN
            opened[0].close()
    write_new_file(output_path, signed.canonical(), 0o644, force=force)
    if json_mode():
        return emit_json({"ok": True, "output": str(output_path), "signer": signer_id,
                          "request_sha256": req.sha256})  # fmt: skip
    say(f"approved by {signer_id} ({signed.algorithm}); written to {output_path}")


@approval.command("verify")
@click.argument("request_path", metavar="REQ", type=FILE)
@click.argument("approval_paths", metavar="SIG...", nargs=-1, required=True, type=FILE)
@click.option("--need", type=click.IntRange(min=1), default=None,
              help="Valid approvals needed (default: every one given).")  # fmt: skip
@ledger_option
@output_options
def verify_cmd(request_path: Path, approval_paths: tuple[Path, ...], need: int | None,
               ledger_path: Path | None) -> None:  # fmt: skip
    """Check approvals of a request against the ledger's roster: each signer a TCR with
    the key the roster records, the request's hash, its expiry, one approval per TCR."""
    from tcr_kit.errors import QuorumError
    from tcr_kit.hsm.approval import check_approvals, ledger_roster, load_approval, load_request

    from ._ledger import open_ledger

    req = load_request(request_path)
    approvals = [load_approval(p) for p in approval_paths]
    with open_ledger(ledger_path, read_only=True) as ledger:
        check = check_approvals(req, approvals, ledger_roster(ledger))
    wanted = need if need is not None else len(approvals)
    ok = len(check.valid) >= wanted
    if json_mode():
        emit_json({"ok": ok, "need": wanted, **check.facts()})
    else:
        lines = req.describe()
        lines += [f"  valid: {a.signer} ({a.algorithm}, signed {a.signed_at})" for a in check.valid]
        lines += [f"  refused: {signer}: {reason}" for signer, reason in check.rejected]
        lines.append(f"{len(check.valid)} valid approval(s), {wanted} needed")
        say_lines(lines)
    if not ok:
        from .app import AlreadyReported

        if json_mode():
            raise AlreadyReported(QuorumError.exit_code)
        raise QuorumError(f"{len(check.valid)} valid approval(s) of {wanted} needed")


__all__ = ["approval"]
