"""``tcr remote``: a TCR at home seals a bag and signs an attestation; anyone verifies it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tcr_kit.fileio import sha256_file

from ._ledger import ledger_option, load_signer, open_ledger
from ._output import say
from .app import emit_json, json_option

if TYPE_CHECKING:
    from tcr_kit.custody.remote import SignedAttestation


@click.group()
def remote() -> None:
    """Remote participation: seal attestations signed by a TCR."""


@remote.command("seal")
@click.option("--holder", required=True, help="Your roster id.")
@click.option("--serial", required=True, help="The bag's pre-printed serial, as read aloud.")
@click.option("--contents", multiple=True, required=True, help="Credential ids in the bag.")
@click.option("--kind", default="TEB", show_default=True)
@click.option(
    "--photo", "photos", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--note")
@click.option(
    "--key",
    "key_file",
    envvar="TCR_KEY",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your signing key file (0600).",
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@json_option
def seal(
    holder: str,
    serial: str,
    contents: tuple[str, ...],
    kind: str,
    photos: tuple[Path, ...],
    note: str | None,
    key_file: Path,
    output: Path,
    force: bool,
    as_json: bool,
) -> None:
    """Sign a seal attestation for a bag you just sealed; read the fingerprint aloud."""
    from tcr_kit.custody import remote as lib

    signed = lib.seal(
        load_signer(key_file),
        holder=holder,
        bag_serial=serial,
        contents=[c for item in contents for c in item.split(",") if c],
        bag_kind=kind,
        photo_sha256=[sha256_file(p).hex() for p in photos],
        note=note,
    )
    lib.write(signed, output, force=force)
    _show(signed, str(output), as_json)


@remote.command("verify")
@click.argument("attestation", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", help="Expected signer public key (hex).")
@click.option("--use-ledger", is_flag=True, help="Check against the holder's registered key.")
@click.option(
    "--self-signed-only",
    is_flag=True,
    help="Accept a check of the signature under the key inside the file only (signer unchecked).",
)
@ledger_option
@json_option
def verify(
    attestation: Path,
    public_key: str | None,
    use_ledger: bool,
    self_signed_only: bool,
    ledger_path: Path | None,
    as_json: bool,
) -> None:
    """Verify an attestation's signature and its signer (--public-key or --use-ledger).

    Without either, the signer is not checked: exit 3 unless --self-signed-only is given."""
    from tcr_kit.custody import remote as lib
    from tcr_kit.errors import IntegrityError

    signed = lib.load(attestation)
    if public_key is None and not use_ledger:
        signed.verify(None)
        if not self_signed_only:
            raise IntegrityError(
                f"{attestation}: signed by the key inside the file, but the signer was NOT "
                "checked: give --public-key or --use-ledger (or --self-signed-only)"
            )
        _show(signed, str(attestation), as_json, verified=True, signer_checked=False)
        return
    expected = bytes.fromhex(public_key) if public_key else None
    if use_ledger:
        with open_ledger(ledger_path) as led:
            expected = led.registered_key(signed.attestation.holder)
        if expected is None:
            raise click.ClickException(f"{signed.attestation.holder} has no registered key")
    signed.verify(expected)
    _show(signed, str(attestation), as_json, verified=True)


def _show(
    signed: SignedAttestation,
    path: str,
    as_json: bool,
    verified: bool = False,
    signer_checked: bool = True,
) -> None:
    hex_, words = signed.fingerprint
    att = signed.attestation
    if as_json:
        emit_json(
            {
                "ok": True,
                "file": path,
                "verified": verified or None,
                "signer_checked": signer_checked if verified else None,
                "attestation": att.model_dump(mode="json"),
                "sha256": hex_,
                "words": words,
            }
        )
        return
    if verified and not signer_checked:
        status = " (self-signed only: signature valid, signer NOT checked)"
    else:
        status = " (signature and signer verified)" if verified else ""
    say(f"attestation: {path}{status}")
    say(f"bag:         {att.bag_serial} ({att.bag_kind})")
    say(f"holder:      {att.holder}")
    say(f"contents:    {', '.join(att.contents)}")
    say(f"sealed at:   {att.sealed_at.isoformat().replace('+00:00', 'Z')}")
    say(f"SHA-256:     {hex_}")
    say(f"PGP Words:   {words}")
