"""``tcr shares``: split, combine, inspect and convert secret shares.

Parsing and printing only: the jobs are in :mod:`tcr_kit.sharing.dispatch` and
:mod:`tcr_kit.sharing.convert`; peer-format code is imported only when a peer format is used.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

import click

from tcr_kit.audit.pgpwords import digest_words
from tcr_kit.errors import InputError
from tcr_kit.fileio import StreamOutput
from tcr_kit.sharing import dispatch, files
from tcr_kit.sharing.convert import recorded_size, recover_secret, split_secret
from tcr_kit.sharing.dispatch import ShareFilesRejected, open_secret_file
from tcr_kit.sharing.formats.base import ForeignOptions, read_passphrase_file
from tcr_kit.sharing.native_header import validate_label
from tcr_kit.sharing.result import CombineResult

from . import app
from .app import (
    emit_json,
    ensure_output_dir,
    json_option,
    progress,
    progress_bar,
    quiet_option,
    table,
    warn,
)
from .commands import SHARES_COMMANDS

FORMATS = list(dispatch.FORMATS)
"""Share formats; the peer formats' code is imported only when one is used."""
INSPECT_COLUMNS = "file format set_id index threshold count secret_length label checksum".split()

F = TypeVar("F", bound=Callable[..., Any])


def _share_files(f: F) -> F:
    path = click.Path(dir_okay=False, path_type=Path)
    return click.argument("share_files", nargs=-1, required=True, type=path)(f)


def _size_option(name: str, short: str, **kw: Any) -> Callable[[F], F]:
    return click.option(name, short, type=click.IntRange(1, 255), **kw)


def _out_dir_option(help: str) -> Callable[[F], F]:
    path = click.Path(file_okay=False, path_type=Path)
    return click.option("--output-dir", "-o", type=path, required=True, help=help)


def _encoding_option(**kw: Any) -> Callable[[F], F]:
    choice = click.Choice(["auto", "text", "compact"])
    return click.option("--encoding", type=choice, default="auto", show_default=True, **kw)


def _check_label(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    try:
        return validate_label(value) if value is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _label_option(help: str) -> Callable[[F], F]:
    return click.option("--label", default=None, callback=_check_label, help=help)


def _set_id_option(f: F) -> F:
    return click.option(
        "--set-id",
        default=None,
        metavar="HEX",
        help="Native shares: combine the set with this id (as `inspect` shows it) when "
        "shares of several sets are given.",
    )(f)


def _format_option(name: str, dest: str, *extra: str, **kw: Any) -> Callable[[F], F]:
    return click.option(name, dest, type=click.Choice([*extra, *FORMATS]), **kw)


@click.group(cls=app.LazyGroup, lazy=SHARES_COMMANDS)  # sign, check, ... (shares_manifest.py)
def shares() -> None:
    """Split secrets into shares, combine shares, inspect and convert them."""


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
        click.option("--vault-encoding", type=encodings, default="base64", show_default=True,
                     help="Vault: how unseal keys are written."),
        click.option("--passphrase-file", type=path, default=None,
                     help="SLIP-39: file (0600) holding the passphrase."),
    ]  # fmt: skip
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
    return ForeignOptions(
        ssss_token=ssss_token,
        ssss_diffusion=not ssss_no_diffusion,
        ssss_hex=not ssss_ascii,
        vault_encoding=vault_encoding,
        slip39_passphrase=read_passphrase_file(passphrase_file) if passphrase_file else b"",
    )


def _open_input(name: str) -> BinaryIO:
    """The secret's byte stream: a file (warns when others may read it) or a pipe."""
    if name != "-":
        return open_secret_file(Path(name), on_warning=warn)
    if sys.stdin.isatty():
        raise InputError(
            "refusing to read a secret typed on a terminal through --input -; "
            "put it in a 0600 file or pipe it in"
        )
    return sys.stdin.buffer


@shares.command()
@_size_option("--threshold", "-m", required=True, help="Shares needed to recover the secret (m).")
@_size_option("--count", "-n", required=True, help="Shares to make (n).")
@click.option(
    "--input",
    "-i",
    "input_name",
    required=True,
    metavar="FILE",
    help="Secret file, or - for stdin (a pipe).",
)
@_out_dir_option("Directory for the share files (one per share, 0600).")
@_format_option("--format", "fmt", default="native", show_default=True)
@_encoding_option(help="Native shares: text for paper, compact for files/cards.")
@_label_option(
    "A label stored in every native share (at most 255 UTF-8 bytes, no control characters)."
)
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
        existing = [p for p in would_write if Path(p).exists()]
        if as_json:
            plan = {"dry_run": True, "format": fmt, "threshold": threshold, "count": count}
            emit_json({**plan, "would_write": would_write, "already_exist": existing})
            return
        click.echo(f"would split {input_name} {threshold}-of-{count} ({fmt}) into:")
        for name in would_write:
            exists = "  (exists: would be refused without --force)" if name in existing else ""
            click.echo(f"  {name}{exists}")
        return
    options = _foreign_options(**format_opts)
    ensure_output_dir(output_dir)
    source = _open_input(input_name)
    bar = progress_bar(f"splitting {input_name}", _regular_file_size(source))
    try:
        outcome = dispatch.split_to_dir(
            fmt, source, threshold, count, output_dir, stem, options,
            label=label, encoding=encoding, force=force,
            progress=bar.advance if bar else None,
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
        if source is not sys.stdin.buffer:
            source.close()
    _report_split(outcome, as_json)


def _regular_file_size(source: BinaryIO) -> int | None:
    """The size of a secret read from a regular file (a pipe's is not known ahead)."""
    import os
    import stat

    try:
        st = os.fstat(source.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _native_secret_length(detected: dispatch.DetectedSet) -> int | None:
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


def _report_split(outcome: files.SplitOutcome | dispatch.PeerSplit, as_json: bool) -> None:
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
            click.echo(f"{outcome.format} shares: {outcome.threshold} of {outcome.count}")
            click.echo(table(outcome.share_rows(), ["index", "file", "sha256"]))
        return
    hexdigest, words = digest_words(outcome.manifest_digest)
    if as_json:
        emit_json({**record, "manifest_pgp_words": words})
        return
    m = outcome.manifest
    click.echo(
        f"share set {m.set_id_hex}: {m.threshold} of {m.count}, "
        f"secret {m.secret_length} bytes, {outcome.encoding} encoding"
        + (f", label {m.label!r}" if m.label else "")
    )
    click.echo(table(outcome.share_rows(), ["index", "file", "share_sha256"]))
    click.echo(f"manifest {outcome.manifest_path}")
    click.echo(f"  SHA-256: {hexdigest}")
    click.echo(f"  PGP Words: {words}")


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
@_format_option("--format", "fmt", "auto", default="auto", show_default=True)
@_size_option(
    "--threshold",
    "-m",
    default=None,
    help="Foreign formats: the set's threshold (required for ssss; "
    "with vault/gfshare, surplus shares are then checked).",
)
@format_options
@_set_id_option
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing output file (regular files only); with -o -, write to a terminal.",
)
@_share_files
@json_option
@quiet_option
def combine(
    output: str,
    fmt: str,
    threshold: int | None,
    set_id: str | None,
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
    to_stdout = output == "-"
    if to_stdout and not force and sys.stdout.isatty():
        raise InputError(
            "refusing to write the secret to a terminal: redirect stdout to a file or a pipe, "
            "or give --output FILE (--force writes it to the terminal anyway)"
        )
    chosen_set = files.parse_set_id(set_id) if set_id is not None else None
    detected = dispatch.detect_set(share_files, fmt, on_warning=warn)
    options = _foreign_options(**format_opts)
    stdout = StreamOutput(sys.stdout.buffer, "stdout")
    bar = progress_bar("combining", _native_secret_length(detected))
    try:
        result = dispatch.combine_files(
            detected.format,
            detected.paths,
            options,
            threshold=threshold,
            output=None if to_stdout else Path(output),
            sink=cast(BinaryIO, stdout) if to_stdout else None,
            force=force,
            set_id=chosen_set,
            progress=bar.advance if bar else None,
        )
    finally:
        if bar is not None:
            bar.close()
    if to_stdout:
        stdout.flush()
    _warn_combined(result)
    if as_json:
        emit_json({"ok": True, "format": detected.format, "output": output, **result.record()})
    else:
        state = "verified" if result.verified else "NOT verifiable"
        used = f"{len(result.used)} {detected.format} shares"
        progress(f"secret recovered from {used} ({state}) -> {output}")


@shares.command()
@_share_files
@_format_option("--format", "fmt", "auto", default="auto", show_default=True)
# Not json_option: the report is the JSON answer, and a failed file must not add a second
# JSON document to stdout; its error goes to stderr only.
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
    if errors := [f.error for f in facts if f.error]:
        if not as_json:
            for message in errors[:-1]:
                click.echo(f"error: {message}", err=True)
        raise ShareFilesRejected(errors[-1], worst)


@shares.command()
@click.option(
    "--to", "to_fmt", type=click.Choice(FORMATS), required=True, help="Format of the new shares."
)
@_out_dir_option("Directory for the new share files.")
@_format_option(
    "--from",
    "from_fmt",
    "auto",
    default="auto",
    show_default=True,
    help="Format of the given shares.",
)
@_size_option(
    "--threshold",
    "-m",
    default=None,
    help="Threshold of the new set (default: the old set's, when it is known); "
    "for ssss input also the old set's threshold.",
)
@_size_option(
    "--count",
    "-n",
    default=None,
    help="Number of new shares (default: the old set's, when it is known).",
)
@_label_option("Label of new native shares.")
@_encoding_option()
@format_options
@_set_id_option
@click.option("--force", is_flag=True, help="Overwrite existing share files.")
@_share_files
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
    set_id: str | None,
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
    detected = dispatch.detect_set(share_files, from_fmt, on_warning=warn)
    options = _foreign_options(**format_opts)
    old_m, old_n = recorded_size(detected)
    new_m, new_n = threshold or old_m, count or old_n
    if new_m is None or new_n is None:
        raise click.UsageError(
            f"{detected.format} shares do not record the set's size: give --threshold and --count"
        )
    if new_m > new_n:
        raise click.BadParameter("threshold cannot exceed count", param_hint="--threshold")
    chosen_set = files.parse_set_id(set_id) if set_id is not None else None
    ensure_output_dir(output_dir)
    combining = progress_bar("combining", _native_secret_length(detected))
    try:
        recovered = recover_secret(
            detected, options, threshold=threshold, set_id=chosen_set,
            progress=combining.advance if combining else None,
        )  # fmt: skip
    finally:
        if combining is not None:
            combining.close()
    with recovered:
        _warn_combined(recovered.result)
        splitting = progress_bar("splitting", len(recovered.secret))
        try:
            outcome = split_secret(
                recovered.secret, to_fmt, new_m, new_n, output_dir, recovered.stem, options,
                label=label, encoding=encoding, force=force,
                progress=splitting.advance if splitting else None,
            )  # fmt: skip
        finally:
            if splitting is not None:
                splitting.close()
    _report_split(outcome, as_json)
    warn(recovered.retire_notice())
