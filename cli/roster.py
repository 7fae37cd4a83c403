"""``tcr roster`` (people and their keys) and ``tcr key`` (software signing keys)."""

from __future__ import annotations

from pathlib import Path

import click

from ._ledger import (
    actor,
    actor_options,
    dry_run_option,
    ledger_option,
    load_signer,
    open_ledger,
    read_new_passphrase,
    report_change,
)
from ._output import say
from .app import emit_json, json_option, table

ROLE_CHOICE = click.Choice(["CO", "RKSH", "CA", "IW", "SSC", "SA"])
ALGORITHM_OPTION = click.option(
    "--key-algorithm",
    type=click.Choice(["ed25519", "ecdsa-p256-sha256"]),
    default="ed25519",
    show_default=True,
    help="ecdsa-p256-sha256 for a card's signing key (public key as DER SPKI hex).",
)


@click.group()
def roster() -> None:
    """People (TCRs and staff) and their public keys.

    TCRs are COs and RKSHs; staff are CAs, IWs, SSCs and SAs."""


@roster.command("init")
@ledger_option
@click.option("--id", "pid", required=True)
@click.option("--name", required=True)
@click.option("--role", "roles", type=ROLE_CHOICE, multiple=True, required=True)
@click.option("--facility")
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Your key file: its public key starts the audit log.",
)
@dry_run_option
@json_option
def init(
    ledger_path: Path | None,
    pid: str,
    name: str,
    roles: tuple[str, ...],
    facility: str | None,
    key_file: Path,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Create a ledger with its first person (staff), who registers their own key."""
    from tcr_kit.custody.models import Person

    signer = load_signer(key_file)
    person = Person.new(
        pid, name, roles, facility=facility, public_key=signer.public_key_bytes().hex()
    )
    with open_ledger(ledger_path, create=True) as led:
        led.initialise(person, signer, dry_run=dry_run)
        report_change(led, f"ledger {led.path} started by {pid}", dry_run, {"person": pid})


@roster.command("add")
@ledger_option
@actor_options
@click.option("--id", "pid", required=True)
@click.option("--name", required=True)
@click.option("--role", "roles", type=ROLE_CHOICE, multiple=True, required=True)
@click.option("--facility")
@click.option("--public-key", help="The person's public key (hex).")
@ALGORITHM_OPTION
@dry_run_option
@json_option
def add(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    pid: str,
    name: str,
    roles: tuple[str, ...],
    facility: str | None,
    public_key: str | None,
    key_algorithm: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Add a person (and register their public key in the audit log)."""
    from tcr_kit.custody.models import Person

    person = Person.new(
        pid, name, roles, facility=facility, public_key=public_key, key_algorithm=key_algorithm
    )
    with open_ledger(ledger_path) as led:
        led.add_person(actor(actor_id, key_file), person, dry_run=dry_run)
        report_change(led, f"person {pid} ({', '.join(roles)})", dry_run, {"person": pid})


@roster.command("list")
@ledger_option
@json_option
def list_(ledger_path: Path | None, as_json: bool) -> None:
    """List people."""
    with open_ledger(ledger_path) as led:
        people = [p.model_dump(mode="json") for p in led.people()]
    if as_json:
        emit_json({"ok": True, "people": people})
        return
    rows = [
        dict(p, roles=",".join(p["roles"]), key="yes" if p["public_key"] else "no") for p in people
    ]
    click.echo(table(rows, ["id", "name", "roles", "facility", "key", "retired"]))


@roster.command("show")
@ledger_option
@click.argument("pid")
@json_option
def show(ledger_path: Path | None, pid: str, as_json: bool) -> None:
    """Show one person, with their key's fingerprint."""
    from tcr_kit.audit.pgpwords import fingerprint

    with open_ledger(ledger_path) as led:
        person = led.person(pid).model_dump(mode="json")
    if person["public_key"]:
        hex_, words = fingerprint(bytes.fromhex(person["public_key"]))
        person["public_key_sha256"] = hex_
        person["public_key_words"] = words
    if as_json:
        emit_json({"ok": True, "person": person})
        return
    for k, v in person.items():
        say(f"{k:>18}: {', '.join(v) if isinstance(v, list) else v}")


@roster.command("retire")
@ledger_option
@actor_options
@click.argument("pid")
@dry_run_option
@json_option
def retire(
    ledger_path: Path | None, actor_id: str, key_file: Path, pid: str, dry_run: bool, as_json: bool
) -> None:
    """Retire a person (who must hold no live credential)."""
    with open_ledger(ledger_path) as led:
        led.retire_person(actor(actor_id, key_file), pid, dry_run=dry_run)
        report_change(led, f"person {pid} retired", dry_run, {"person": pid})


@click.group()
def key() -> None:
    """Software Ed25519 signing keys (0600 files)."""


@key.command("generate")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--passphrase/--no-passphrase",
    default=False,
    help="Encrypt the key file: typed twice (prompted; two lines on stdin when not a "
    "terminal); an empty or unconfirmed passphrase is refused.",
)
@json_option
def generate(output: Path, passphrase: bool, as_json: bool) -> None:
    """Make a new key file (never overwrites) and print the public key to register."""
    from tcr_kit.audit.pgpwords import fingerprint
    from tcr_kit.audit.signing import SoftwareEd25519Signer
    from tcr_kit.errors import FileExistsRefused, OperationalError

    refused = f"{output}: already exists; a key file is never replaced (choose another --output)"
    if output.exists():
        raise OperationalError(refused)
    signer = SoftwareEd25519Signer.generate()
    try:
        if passphrase:
            with read_new_passphrase("New passphrase") as secret:
                signer.save(output, secret.raw)
        else:
            signer.save(output)
    except FileExistsRefused:
        raise OperationalError(refused) from None
    pub = signer.public_key_bytes()
    hex_, words = fingerprint(pub)
    if as_json:
        emit_json(
            {
                "ok": True,
                "file": str(output),
                "public_key": pub.hex(),
                "sha256": hex_,
                "words": words,
            }
        )
        return
    say(f"key file:   {output} (mode 0600)")
    say(f"public key: {pub.hex()}")
    say(f"SHA-256:    {hex_}")
    say(f"PGP Words:  {words}")


@key.command("show")
@click.argument("key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print the public key (hex) alone, for scripts.")
@json_option
def show_key(key_file: Path, quiet: bool, as_json: bool) -> None:
    """Print a key file's public key and its fingerprint."""
    from tcr_kit.audit.pgpwords import fingerprint

    pub = load_signer(key_file).public_key_bytes()
    hex_, words = fingerprint(pub)
    if as_json:
        emit_json({"ok": True, "public_key": pub.hex(), "sha256": hex_, "words": words})
        return
    if quiet:
        say(pub.hex())
        return
    say(f"public key: {pub.hex()}")
    say(f"SHA-256:    {hex_}")
    say(f"PGP Words:  {words}")


@roster.command("rekey")
@ledger_option
@actor_options
@click.argument("pid")
@click.option("--public-key", required=True, help="The new public key (hex).")
@ALGORITHM_OPTION
@dry_run_option
@json_option
def rekey(
    ledger_path: Path | None,
    actor_id: str,
    key_file: Path,
    pid: str,
    public_key: str,
    key_algorithm: str,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Replace a person's signing key (the old key is revoked in the audit log)."""
    try:
        raw = bytes.fromhex(public_key)
    except ValueError:
        raise click.BadParameter("not hex", param_hint="--public-key") from None
    with open_ledger(ledger_path) as led:
        led.replace_key(
            actor(actor_id, key_file), pid, raw, algorithm=key_algorithm, dry_run=dry_run
        )
        report_change(led, f"new signing key for {pid}; old key revoked", dry_run, {"person": pid})
