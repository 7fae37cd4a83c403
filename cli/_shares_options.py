"""Options and reports shared by the ``tcr shares`` commands: split and inspect
(:mod:`tcr_cli.shares`), combine and convert (:mod:`tcr_cli.shares_combine`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from tcr_kit.sharing import dispatch, files
from tcr_kit.sharing.formats.base import ForeignOptions, read_passphrase_file
from tcr_kit.sharing.native_header import validate_label

from ._output import say
from .app import emit_json, table, warn

FORMATS = list(dispatch.FORMATS)
"""Share formats; the peer formats' code is imported only when one is used."""

F = TypeVar("F", bound=Callable[..., Any])


def share_files_argument(f: F) -> F:
    path = click.Path(dir_okay=False, path_type=Path)
    return click.argument("share_files", nargs=-1, required=True, type=path)(f)


def size_option(name: str, short: str, **kw: Any) -> Callable[[F], F]:
    return click.option(name, short, type=click.IntRange(1, 255), **kw)


def out_dir_option(help: str) -> Callable[[F], F]:
    path = click.Path(file_okay=False, path_type=Path)
    return click.option("--output-dir", "-o", type=path, required=True, help=help)


def encoding_option(**kw: Any) -> Callable[[F], F]:
    choice = click.Choice(["auto", "text", "compact"])
    return click.option("--encoding", type=choice, default="auto", show_default=True, **kw)


def _check_label(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    try:
        return validate_label(value) if value is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def label_option(help: str) -> Callable[[F], F]:
    return click.option("--label", default=None, callback=_check_label, help=help)


def set_id_option(f: F) -> F:
    return click.option(
        "--set-id",
        default=None,
        metavar="HEX",
        help="Native shares: combine the set with this id (as `inspect` shows it) when "
        "shares of several sets are given.",
    )(f)


def format_option(name: str, dest: str, *extra: str, **kw: Any) -> Callable[[F], F]:
    return click.option(name, dest, type=click.Choice([*extra, *FORMATS]), **kw)


def format_options(f: F) -> F:
    """Options of the peer formats, shared by split, combine and convert."""
    encodings, path = click.Choice(["base64", "hex"]), click.Path(dir_okay=False, path_type=Path)
    options = [
        click.option("--ssss-token", default=None, metavar="TOKEN",
                     help="ssss: token prefix of every share (ssss-split -w)."),
        click.option("--ssss-no-diffusion", is_flag=True,
                     help="ssss: without the diffusion layer (ssss -D)."),
        click.option("--ssss-ascii", is_flag=True,
                     help="ssss: ASCII mode (the secret is text; ssss without -x)."),
        click.option("--vault-encoding", type=encodings, default=None,
                     help="Vault: how unseal keys are written (split, convert; default "
                          "base64), or were (combine: needed only for short keys that "
                          "read both as hex and as base64)."),
        click.option("--passphrase-file", type=path, default=None,
                     help="SLIP-39: file (0600) holding the passphrase."),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


def foreign_options(
    ssss_token: str | None,
    ssss_no_diffusion: bool,
    ssss_ascii: bool,
    vault_encoding: str | None,
    passphrase_file: Path | None,
) -> ForeignOptions:
    return ForeignOptions(
        ssss_token=ssss_token,
        ssss_diffusion=not ssss_no_diffusion,
        ssss_hex=not ssss_ascii,
        vault_encoding=vault_encoding,
        slip39_passphrase=read_passphrase_file(passphrase_file) if passphrase_file else b"",
    )


def native_secret_length(detected: dispatch.DetectedSet) -> int | None:
    """The secret length the first native share records (for the progress bar only: the
    combine itself checks every share)."""
    if detected.format != files.NATIVE or not detected.paths:
        return None
    from tcr_kit.sharing.errors import ShareError
    from tcr_kit.sharing.native_share import open_share_file

    try:
        return open_share_file(detected.paths[0]).secret_length
    except (ShareError, OSError):
        return None


def _kernel_used() -> str | None:
    from tcr_kit.sharing.stream import kernel_used

    return kernel_used()


def report_split(outcome: files.SplitOutcome | dispatch.PeerSplit, as_json: bool) -> None:
    for message in outcome.warnings:
        warn(message)
    record = outcome.record()
    kernel = _kernel_used()
    if kernel is not None:
        # Which GF(2^8) kernel computed the shares: "isa-l" or "numpy" (peer formats that
        # split small values in pure Python, such as ssss or Vault, name none).
        record = {**record, "kernel": kernel}
    if isinstance(outcome, dispatch.PeerSplit):
        if as_json:
            emit_json(record)
        else:
            say(f"{outcome.format} shares: {outcome.threshold} of {outcome.count}")
            click.echo(table(outcome.share_rows(), ["index", "file", "sha256"]))
        return
    from tcr_kit.audit.pgpwords import digest_words

    hexdigest, words = digest_words(outcome.manifest_digest)
    if as_json:
        emit_json({**record, "manifest_pgp_words": words})
        return
    m = outcome.manifest
    say(
        f"share set {m.set_id_hex}: {m.threshold} of {m.count}, "
        f"secret {m.secret_length} bytes, {outcome.encoding} encoding"
        + (f", label {m.label!r}" if m.label else "")
    )
    click.echo(table(outcome.share_rows(), ["index", "file", "share_sha256"]))
    say(f"manifest {outcome.manifest_path}")
    say(f"  SHA-256: {hexdigest}")
    say(f"  PGP Words: {words}")
