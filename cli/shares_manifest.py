"""``tcr shares sign | register | check | extend``: signed manifests, lone share checks and
extending a set.

Parsing and printing only: the format is :mod:`tcr_kit.sharing.manifest`, the signing,
checking and extending :mod:`tcr_kit.custody.share_manifests`, the ledger record
:mod:`tcr_kit.custody.ledger.manifests`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from ._cards import OneCard, card_options, module_option, read_secret
from ._ledger import (
    actor,
    actor_options,
    dry_run_option,
    ledger_option,
    load_signer,
    open_ledger,
    report_change,
)
from ._output import say, say_lines
from .app import emit_json, ensure_output_dir, json_option, progress, table, warn

if TYPE_CHECKING:
    from tcr_kit.custody.ledger import Ledger
    from tcr_kit.sharing.manifest import ShareManifest

F = TypeVar("F", bound=Callable[..., Any])
FILE = click.Path(dir_okay=False, path_type=Path)
EXISTING = click.Path(dir_okay=False, exists=True, path_type=Path)


def _manifest_option(help: str) -> Callable[[F], F]:
    return click.option("--manifest", "manifest_path", required=True, type=EXISTING, help=help)


def one_card_options(f: F) -> F:
    """``--pkcs11-module`` and ``--token-label | --token-serial | --reader``, given to the
    command as one :class:`OneCard` (``card``)."""

    @functools.wraps(f)
    def run(*args: Any, pkcs11_module: str | None, token_label: str | None,
            token_serial: str | None, reader: str | None, **kw: Any) -> Any:  # fmt: skip
        return f(*args, card=OneCard(pkcs11_module, token_label, token_serial, reader, 0.0), **kw)

    return cast(F, module_option(card_options(help_name="your signing card")(run)))


def _facts(manifest: ShareManifest, path: Path | None = None) -> dict[str, object]:
    from tcr_kit.custody.share_manifests import manifest_facts

    return {**manifest_facts(manifest), **({"manifest": str(path)} if path else {})}


def _describe(manifest: ShareManifest) -> list[str]:
    from tcr_kit.custody.share_manifests import describe_manifest

    return describe_manifest(manifest)


@click.command("sign")
@click.argument("manifest_path", metavar="MANIFEST", type=EXISTING)
@click.option(
    "--output",
    type=FILE,
    default=None,
    help="Signed manifest (default: MANIFEST with .signed.json).",
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--as", "actor_id", envvar="TCR_AS", required=True, help="Your roster id.")
@click.option(
    "--key", "key_file", type=EXISTING, default=None,
    help="Your Ed25519 key file (0600); or sign with your card (--pkcs11-module ...).",
)  # fmt: skip
@one_card_options
@click.option("--pin-file", type=EXISTING, default=None,
              help="The card's PIN in a 0600 file (else stdin or a hidden prompt).")  # fmt: skip
@json_option
def sign_cmd(manifest_path: Path, output: Path | None, force: bool, actor_id: str,
             key_file: Path | None, card: OneCard, pin_file: Path | None,
             as_json: bool) -> None:  # fmt: skip
    """Sign the manifest a split wrote, as the person who split.

    With your software key (--key) or your card's signing key (--pkcs11-module with
    --token-label or --token-serial).

    Then register it (tcr shares register) and hand out the shares: each TCR can check
    theirs alone with tcr shares check. The ledger registers it only if the policy lets
    you sign manifests (share-set.sign-manifest: SA, CA by default; else exit 5)."""
    from tcr_kit.custody.share_manifests import sign_manifest
    from tcr_kit.fileio import write_new_file
    from tcr_kit.sharing.manifest import load_manifest

    on_card = card.label is not None or card.serial is not None or card.reader is not None
    if (key_file is None) == (not on_card):
        raise click.UsageError("sign with either --key FILE or a card (--token-label ...)")
    manifest = load_manifest(manifest_path)
    if key_file is not None:
        signed = sign_manifest(manifest, load_signer(key_file), actor_id)
    else:
        from tcr_kit.cards.signing import CardSigner

        opened = card.open(card.select())
        with CardSigner(opened, read_secret("PIN of the signing card", pin_file)) as signer:
            signed = sign_manifest(manifest, signer, actor_id)
    if output is None:
        name = manifest_path.name.removesuffix(".json") + ".signed.json"
        output = manifest_path.with_name(name)
    write_new_file(output, signed.to_bytes(), mode=0o644, force=force)
    if as_json:
        emit_json({"ok": True, **_facts(signed, output)})
        return
    say_lines([f"signed manifest {output}", *_describe(signed)])


@click.command("register")
@click.argument("manifest_path", metavar="MANIFEST", type=EXISTING)
@click.option(
    "--share-set", "share_set_id", required=True, metavar="ID", help="Ledger id of the share set."
)
@click.option(
    "--purpose", default=None, help="Create the share set with this purpose if the ledger has none."
)
@actor_options
@ledger_option
@dry_run_option
@json_option
def register_cmd(
    manifest_path: Path,
    share_set_id: str,
    purpose: str | None,
    actor_id: str,
    key_file: Path,
    ledger_path: Path | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Record a signed manifest (the split's, or an extension's revision) in the ledger."""
    from tcr_kit.sharing.manifest import load_manifest

    manifest = load_manifest(manifest_path)
    who = actor(actor_id, key_file)
    with open_ledger(ledger_path) as led:
        led.register_manifest(who, share_set_id, manifest, purpose=purpose, dry_run=dry_run)
        signer = manifest.signer.id if manifest.signer else "-"
        summary = (
            f"manifest revision {manifest.revision} of share set {share_set_id} "
            f"(native set {manifest.set_id}, signed by {signer})"
        )
        report_change(led, summary, dry_run, {"share_set": share_set_id, **_facts(manifest)})


@click.command("check")
@click.argument("share_path", metavar="SHARE", type=EXISTING)
@_manifest_option("The set's signed manifest.")
@click.option(
    "--signer-key",
    metavar="HEX",
    default=None,
    help="Expected public key of the manifest's signer (hex, as the roster shows it).",
)
@click.option(
    "--use-ledger",
    is_flag=True,
    help="Check the signer against the roster and that the manifest is registered.",
)
@click.option(
    "--self-signed-only",
    is_flag=True,
    help="Accept a check under the key inside the manifest only (signer unchecked).",
)
@ledger_option
@json_option
def check_cmd(
    share_path: Path,
    manifest_path: Path,
    signer_key: str | None,
    use_ledger: bool,
    self_signed_only: bool,
    ledger_path: Path | None,
    as_json: bool,
) -> None:
    """Check one share alone: it belongs to the signed set of the manifest, at its index.

    \b
    Exit 0: it does. Exit 3 (saying what is wrong): a share of another set, an index
    the manifest does not list, an altered share, a bad manifest signature, a signer
    other than --signer-key, or (--use-ledger) a signer not on the roster or a manifest
    never registered. Without --signer-key or --use-ledger the signer is NOT checked:
    exit 3 unless --self-signed-only is given."""
    from tcr_kit.custody.share_manifests import check_share_alone
    from tcr_kit.sharing.manifest import load_manifest
    from tcr_kit.sharing.native_share import open_share_file

    expected = None
    if signer_key is not None:
        try:
            expected = bytes.fromhex(signer_key.strip())
        except ValueError:
            raise click.BadParameter("not hex", param_hint="--signer-key") from None
    manifest = load_manifest(manifest_path)
    share = open_share_file(share_path, str(share_path))
    ledger: AbstractContextManager[Ledger | None] = (
        open_ledger(ledger_path, read_only=True) if use_ledger else nullcontext(None)
    )
    with ledger as led:
        result = check_share_alone(share, manifest, expected_public_key=expected, ledger=led,
                                   self_signed_only=self_signed_only)  # fmt: skip
    if as_json:
        emit_json({"ok": True, **result.facts()})
        return
    say_lines(result.describe())


@click.command("extend")
@click.argument("share_paths", metavar="SHARE...", nargs=-1, required=True, type=EXISTING)
@_manifest_option("The set's signed manifest (its latest revision).")
@click.option(
    "--count",
    "-k",
    type=click.IntRange(1, 254),
    default=None,
    help="Make this many new shares, at the next free indices.",
)
@click.option(
    "--index",
    "indices",
    type=click.IntRange(1, 255),
    multiple=True,
    help="Make a new share at this index (repeat); never one already issued.",
)
@click.option(
    "--replaces",
    type=click.IntRange(1, 255),
    multiple=True,
    metavar="INDEX",
    help="Index of a lost share the next new share replaces (repeat, in order).",
)
@click.option(
    "--output-dir",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the new share files (0600) and the new manifest revision.",
)
@click.option(
    "--encoding", type=click.Choice(["auto", "text", "compact"]), default="auto", show_default=True
)
@click.option(
    "--share-set",
    "share_set_id",
    default=None,
    metavar="ID",
    help="Record the extension in the ledger for this share set.",
)
@click.option(
    "--no-ledger",
    is_flag=True,
    help="Do not record it (register the new manifest later: tcr shares register).",
)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@actor_options
@ledger_option
@dry_run_option
@json_option
def extend_cmd(
    share_paths: tuple[Path, ...],
    manifest_path: Path,
    count: int | None,
    indices: tuple[int, ...],
    replaces: tuple[int, ...],
    output_dir: Path,
    encoding: str,
    share_set_id: str | None,
    no_ledger: bool,
    force: bool,
    actor_id: str,
    key_file: Path,
    ledger_path: Path | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Make new shares of a set at new indices, from at least m of its shares.

    A native set: same secret, same integrity data, new indices; the manifest's next
    revision is signed by you (--as).

    The new shares combine with the old ones. A lost share still works for whoever finds
    it: if it may have been found, rekey (tcr hsm rekey) instead.

    \b
    Exit 3: a share of another set or altered, an index already issued; exit 4: fewer
    than m shares."""
    from tcr_kit.custody.share_manifests import extend_set
    from tcr_kit.sharing.manifest import load_manifest

    if (count is None) == (not indices):
        raise click.UsageError("give either --count or --index")
    if (share_set_id is None) == (not no_ledger):
        raise click.UsageError(
            "every extension is recorded: give --share-set ID (the ledger), or --no-ledger"
        )
    manifest = load_manifest(manifest_path)
    who = actor(actor_id, key_file)
    if not dry_run:
        ensure_output_dir(output_dir)
    elif not output_dir.is_dir():
        raise click.UsageError(f"{output_dir}: no such folder (a dry run creates nothing)")
    progress(f"extending set {manifest.set_id} from {len(share_paths)} shares")
    if no_ledger:
        warn("--no-ledger: the extension is not recorded; register the new manifest later")
    ledger: AbstractContextManager[Ledger | None] = (
        nullcontext(None) if no_ledger else open_ledger(ledger_path)
    )
    with ledger as led:
        result = extend_set(
            share_paths,
            manifest,
            who.signer,
            actor_id,
            output_dir,
            count=count,
            indices=indices,
            replaces=replaces,
            encoding=encoding,
            force=force,
            ledger=led,
            actor=who,
            share_set_id=share_set_id,
            dry_run=dry_run,
        )
    new = result.manifest
    rows = (
        result.outcome.share_rows()
        if not dry_run
        else [{"index": x, "replaces": result.replaces.get(x)} for x in result.outcome.indices]
    )
    for row in rows:
        row["replaces"] = result.replaces.get(int(str(row["index"])))
    if as_json:
        emit_json(
            {
                "ok": True,
                "dry_run": dry_run,
                "new_shares": rows,
                **_facts(new, None if dry_run else result.manifest_path),
            }
        )
        return
    head = "dry run: would make" if dry_run else "made"
    say(f"{head} {len(rows)} new share(s) of set {new.set_id}:")
    columns = ["index", "replaces"] if dry_run else ["index", "replaces", "file", "share_sha256"]
    click.echo(table(rows, columns))
    where = "(not written)" if dry_run else str(result.manifest_path)
    say(f"new manifest {where}")
    say_lines(_describe(new)[1:])
    if dry_run:
        say("dry run: nothing was written or recorded")
