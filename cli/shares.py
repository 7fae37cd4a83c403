"""``tcr shares``: split, combine, inspect and convert secret shares.

Parsing and printing only: the jobs are :mod:`tcr_kit.sharing.dispatch` and
:mod:`tcr_kit.sharing.convert`; peer-format code is imported only when a peer format is used.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click

from tcr_kit.audit.pgpwords import digest_words
from tcr_kit.errors import ExitCode, InputError, TcrError
from tcr_kit.fileio import check_private_file, sha256_file
from tcr_kit.sharing import dispatch, files
from tcr_kit.sharing.convert import recorded_size, recover_secret, split_secret
from tcr_kit.sharing.formats.base import ForeignOptions
from tcr_kit.sharing.result import CombineResult

from .app import emit_json, json_option, progress, quiet_option, table, warn

FORMATS = list(dispatch.FORMATS)
"""Share formats; the peer formats' code is imported only when one is used."""
INSPECT_COLUMNS = [
    "file",
    "format",
    "set_id",
    "index",
    "threshold",
    "count",
    "secret_length",
    "label",
    "checksum",
]

F = TypeVar("F", bound=Callable[..., Any])


class ShareFilesFailed(TcrError):
    """Some share files failed ``inspect``: the worst of their exit codes."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = ExitCode(exit_code)


@click.group()
def shares() -> None:
    """Split secrets into shares, combine shares, inspect and convert them."""


def format_options(f: F) -> F:
    """Options of the peer formats, shared by split, combine and convert."""
    options = [
        click.option(
            "--ssss-token",
            default=None,
            metavar="TOKEN",
            help="ssss: token prefix of every share (ssss-split -w).",
        ),
        click.option(
            "--ssss-no-diffusion", is_flag=True, help="ssss: without the diffusion layer (ssss -D)."
        ),
        click.option(
            "--ssss-ascii",
            is_flag=True,
            help="ssss: ASCII mode (the secret is text; ssss without -x).",
        ),
        click.option(
            "--vault-encoding",
            type=click.Choice(["base64", "hex"]),
            default="base64",
            show_default=True,
            help="Vault: how unseal keys are written.",
        ),
        click.option(
            "--passphrase-file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="SLIP-39: file (0600) holding the passphrase.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _foreign_options(
    ssss_token: str | None,
    ssss_no_diffusion: bool,
    ssss_ascii: bool,
    vault_encoding: str,
    passphrase_file: Path | None,
) -> ForeignOptions:
    passphrase = b""
    if passphrase_file is not None:
        check_private_file(passphrase_file)
        passphrase = passphrase_file.read_bytes().rstrip(b"\r\n")
    return ForeignOptions(
        ssss_token=ssss_token,
        ssss_diffusion=not ssss_no_diffusion,
        ssss_hex=not ssss_ascii,
        vault_encoding=vault_encoding,
        slip39_passphrase=passphrase,
    )


def _open_input(name: str) -> BinaryIO:
    """The secret's byte stream; warns when a secret file is readable by others."""
    if name == "-":
        if sys.stdin.isatty():
            raise InputError(
                "refusing to read a secret typed on a terminal through --input -; "
                "put it in a 0600 file or pipe it in"
            )
        return sys.stdin.buffer
    path = Path(name)
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    st = os.fstat(fh.fileno())
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISFIFO(st.st_mode):
        fh.close()
        raise InputError(f"{path}: not a regular file")
    if stat.S_IMODE(st.st_mode) & 0o077:
        warn(
            f"{path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            "secrets belong in 0600 files"
        )
    return fh


@shares.command()
@click.option(
    "--threshold",
    "-m",
    type=click.IntRange(1, 255),
    required=True,
    help="Shares needed to recover the secret (m).",
)
@click.option(
    "--count", "-n", type=click.IntRange(1, 255), required=True, help="Shares to make (n)."
)
@click.option(
    "--input",
    "-i",
    "input_name",
    required=True,
    metavar="FILE",
    help="Secret file, or - for stdin (a pipe).",
)
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the share files (one per share, 0600).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="native", show_default=True)
@click.option(
    "--encoding",
    type=click.Choice(["auto", "text", "compact"]),
    default="auto",
    show_default=True,
    help="Native shares: text for paper, compact for files/cards.",
)
@click.option("--label", default=None, help="A label stored in every native share.")
@format_options
@click.option("--force", is_flag=True, help="Overwrite existing share files.")
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@json_option
@quiet_option
def split(
    threshold: int,
    count: int,
    input_name: str,
    output_dir: Path,
    fmt: str,
    encoding: str,
    label: str | None,
    force: bool,
    dry_run: bool,
    as_json: bool,
    quiet: bool,
    **format_opts: Any,
) -> None:
    """Split a secret into COUNT shares, any THRESHOLD of which recover it."""
    if threshold > count:
        raise click.BadParameter("threshold cannot exceed count", param_hint="--threshold")
    if label is not None and fmt != "native":
        raise click.BadParameter("only native shares carry a label", param_hint="--label")
    stem = files.share_stem(input_name)
    if dry_run:
        names = dispatch.planned_share_names(fmt, stem, count, encoding)
        would_write = [str(output_dir / n) for n in names]
        _report_dry_run(input_name, would_write, fmt, threshold, count, as_json)
        return
    options = _foreign_options(**format_opts)
    source = _open_input(input_name)
    try:
        outcome = dispatch.split_to_dir(
            fmt,
            source,
            threshold,
            count,
            output_dir,
            stem,
            options,
            label=label,
            encoding=encoding,
            force=force,
        )
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    _report_split(outcome, as_json)


def _report_dry_run(
    input_name: str, would_write: list[str], fmt: str, threshold: int, count: int, as_json: bool
) -> None:
    existing = [p for p in would_write if Path(p).exists()]
    if as_json:
        emit_json(
            {
                "dry_run": True,
                "format": fmt,
                "threshold": threshold,
                "count": count,
                "would_write": would_write,
                "already_exist": existing,
            }
        )
        return
    click.echo(f"would split {input_name} {threshold}-of-{count} ({fmt}) into:")
    for name in would_write:
        click.echo(
            f"  {name}"
            + ("  (exists: would be refused without --force)" if name in existing else "")
        )


def _report_split(outcome: files.SplitOutcome | dispatch.PeerSplit, as_json: bool) -> None:
    for message in outcome.warnings:
        warn(message)
    if isinstance(outcome, dispatch.PeerSplit):
        rows = [
            {"index": i, "file": str(path), "sha256": sha256_file(path).hex()}
            for i, path in enumerate(outcome.paths, 1)
        ]
        fmt, m, n = outcome.format, outcome.threshold, outcome.count
        if as_json:
            emit_json({"ok": True, "format": fmt, "threshold": m, "count": n, "shares": rows})
        else:
            click.echo(f"{fmt} shares: {m} of {n}")
            click.echo(table(rows, ["index", "file", "sha256"]))
        return
    manifest = outcome.manifest
    rows = [
        {"index": i, "file": str(p), "share_sha256": d.hex()}
        for i, (p, d) in enumerate(zip(outcome.paths, manifest.share_digests, strict=True), 1)
    ]
    hexdigest, words = digest_words(outcome.manifest_digest)
    if as_json:
        emit_json(
            {
                "ok": True,
                "format": "native",
                "encoding": outcome.encoding,
                "set_id": manifest.set_id_hex,
                "threshold": manifest.threshold,
                "count": manifest.count,
                "secret_length": manifest.secret_length,
                "label": manifest.label,
                "shares": rows,
                "manifest": str(outcome.manifest_path),
                "manifest_sha256": hexdigest,
                "manifest_pgp_words": words,
            }
        )
        return
    click.echo(
        f"share set {manifest.set_id_hex}: {manifest.threshold} of {manifest.count}, "
        f"secret {manifest.secret_length} bytes, {outcome.encoding} encoding"
        + (f", label {manifest.label!r}" if manifest.label else "")
    )
    click.echo(table(rows, ["index", "file", "share_sha256"]))
    click.echo(f"manifest {outcome.manifest_path}")
    click.echo(f"  SHA-256: {hexdigest}")
    click.echo(f"  PGP Words: {words}")


def _detect(share_files: tuple[Path, ...], fmt: str) -> dispatch.DetectedSet:
    detected = dispatch.detect_set(share_files, fmt)
    for message in detected.warnings:
        warn(message)
    return detected


def _warn_combined(result: CombineResult) -> None:
    for message in result.warnings:
        warn(message)
    for source, why in result.rejected.items():
        warn(f"{source} rejected: {why}")


@shares.command()
@click.option(
    "--output",
    "-o",
    required=True,
    metavar="FILE",
    help="Where the secret goes (0600), or - for stdout.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True
)
@click.option(
    "--threshold",
    "-m",
    type=click.IntRange(1, 255),
    default=None,
    help="Foreign formats: the set's threshold (required for ssss; "
    "with vault/gfshare, surplus shares are then checked).",
)
@format_options
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.argument(
    "share_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@json_option
@quiet_option
def combine(
    output: str,
    fmt: str,
    threshold: int | None,
    force: bool,
    share_files: tuple[Path, ...],
    as_json: bool,
    quiet: bool,
    **format_opts: Any,
) -> None:
    """Recover a secret from SHARE_FILES (format detected); native shares are verified
    before a single byte is written."""
    if as_json and output == "-":
        raise click.UsageError("--json needs stdout: use --output FILE with it")
    detected = _detect(share_files, fmt)
    options = _foreign_options(**format_opts)
    if output == "-":
        result = dispatch.combine_files(
            detected.format, detected.paths, options, threshold=threshold, sink=sys.stdout.buffer
        )
        sys.stdout.buffer.flush()
    else:
        result = dispatch.combine_files(
            detected.format,
            detected.paths,
            options,
            threshold=threshold,
            output=Path(output),
            force=force,
        )
    _warn_combined(result)
    if as_json:
        emit_json(
            {
                "ok": True,
                "format": detected.format,
                "verified": result.verified,
                "output": output,
                "used": result.used,
                "rejected": result.rejected,
                "warnings": result.warnings,
            }
        )
    else:
        state = "verified" if result.verified else "NOT verifiable"
        progress(
            f"secret recovered from {len(result.used)} {detected.format} shares ({state}) "
            f"-> {output}"
        )


@shares.command()
@click.argument(
    "share_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--format", "fmt", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True
)
# Not json_option: the report is the JSON answer, and a failed file must not add a second
# JSON document to stdout; its error goes to stderr only, as in text mode.
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON object on stdout instead of a human table.",
)
def inspect(share_files: tuple[Path, ...], fmt: str, as_json: bool) -> None:
    """Show what each share says about itself and whether its checksum holds.

    Never shows or reconstructs the secret. Exits 3 when any share fails its checksum,
    2 when a file is not a share.
    """
    facts = dispatch.inspect_files(share_files, fmt)
    worst = dispatch.worst_exit_code(facts)
    rows = [f.record() for f in facts]
    if as_json:
        emit_json({"ok": worst == 0, "shares": rows})
    else:
        click.echo(table(rows, INSPECT_COLUMNS))
    errors = [f.error for f in facts if f.error]
    if errors:
        if not as_json:
            for message in errors[:-1]:
                click.echo(f"error: {message}", err=True)
        raise ShareFilesFailed(errors[-1], worst)


@shares.command()
@click.option(
    "--to", "to_fmt", type=click.Choice(FORMATS), required=True, help="Format of the new shares."
)
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the new share files.",
)
@click.option(
    "--from",
    "from_fmt",
    type=click.Choice(["auto", *FORMATS]),
    default="auto",
    show_default=True,
    help="Format of the given shares.",
)
@click.option(
    "--threshold",
    "-m",
    type=click.IntRange(1, 255),
    default=None,
    help="Threshold of the new set (default: the old set's, when it is known); "
    "for ssss input also the old set's threshold.",
)
@click.option(
    "--count",
    "-n",
    type=click.IntRange(1, 255),
    default=None,
    help="Number of new shares (default: the old set's, when it is known).",
)
@click.option("--label", default=None, help="Label of new native shares.")
@click.option(
    "--encoding", type=click.Choice(["auto", "text", "compact"]), default="auto", show_default=True
)
@format_options
@click.option("--force", is_flag=True, help="Overwrite existing share files.")
@click.argument(
    "share_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@json_option
@quiet_option
def convert(
    to_fmt: str,
    output_dir: Path,
    from_fmt: str,
    threshold: int | None,
    count: int | None,
    label: str | None,
    encoding: str,
    force: bool,
    share_files: tuple[Path, ...],
    as_json: bool,
    quiet: bool,
    **format_opts: Any,
) -> None:
    """Recombine SHARE_FILES and split the secret anew in another format.

    A share cannot be translated alone (the formats differ in field and layout), so this
    recovers the secret in memory (never on disk), checks it where the old format allows,
    and makes a NEW share set. The old shares stay valid: retire and destroy them.
    """
    detected = _detect(share_files, from_fmt)
    options = _foreign_options(**format_opts)
    old_m, old_n = recorded_size(detected)
    new_m = threshold or old_m
    new_n = count or old_n
    if new_m is None or new_n is None:
        raise click.UsageError(
            f"{detected.format} shares do not record the set's size: give --threshold and --count"
        )
    if new_m > new_n:
        raise click.BadParameter("threshold cannot exceed count", param_hint="--threshold")
    with recover_secret(detected, options, threshold=threshold) as recovered:
        _warn_combined(recovered.result)
        outcome = split_secret(
            recovered.secret,
            to_fmt,
            new_m,
            new_n,
            output_dir,
            recovered.stem,
            options,
            label=label,
            encoding=encoding,
            force=force,
        )
    _report_split(outcome, as_json)
    warn(recovered.retire_notice())
