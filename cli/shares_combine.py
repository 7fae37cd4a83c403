"""``tcr shares combine`` and ``tcr shares convert``: the commands that recover a secret
from shares (to a file or stdout; or in memory, split anew in another format).

Parsing and printing only: the jobs are in :mod:`tcr_kit.sharing.dispatch` and
:mod:`tcr_kit.sharing.convert`. Registered lazily (``SHARES_COMMANDS``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO, cast

import click

from tcr_kit.errors import InputError
from tcr_kit.fileio import StreamOutput
from tcr_kit.sharing import dispatch, files
from tcr_kit.sharing.result import CombineResult

from ._shares_options import (
    FORMATS,
    encoding_option,
    foreign_options,
    format_option,
    format_options,
    label_option,
    native_secret_length,
    out_dir_option,
    report_split,
    set_id_option,
    share_files_argument,
    size_option,
)
from .app import (
    emit_json,
    ensure_output_dir,
    json_option,
    progress,
    progress_bar,
    quiet_option,
    warn,
)


def _warn_combined(result: CombineResult) -> None:
    for message in result.warnings:
        warn(message)
    for source, why in result.rejected.items():
        warn(f"{source} rejected: {why}")


@click.command()
@click.option(
    "--output",
    "-o",
    required=True,
    metavar="FILE",
    help="Where the secret goes (0600), or - for stdout.",
)
@format_option("--format", "fmt", "auto", default="auto", show_default=True)
@size_option(
    "--threshold",
    "-m",
    default=None,
    help="Foreign formats: the set's threshold (required for ssss; "
    "with vault/gfshare, surplus shares are then checked).",
)
@format_options
@set_id_option
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing output file (regular files only); with -o -, write to a terminal.",
)
@share_files_argument
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
    """Recover a secret from SHARE_FILES; native shares are verified first.

    The format is detected; native shares are verified before a single byte is written."""
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
    options = foreign_options(**format_opts)
    stdout = StreamOutput(sys.stdout.buffer, "stdout")
    bar = progress_bar("combining", native_secret_length(detected))
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


@click.command()
@click.option(
    "--to", "to_fmt", type=click.Choice(FORMATS), required=True, help="Format of the new shares."
)
@out_dir_option("Directory for the new share files.")
@format_option(
    "--from",
    "from_fmt",
    "auto",
    default="auto",
    show_default=True,
    help="Format of the given shares.",
)
@size_option(
    "--threshold",
    "-m",
    default=None,
    help="Threshold of the new set (default: the old set's, when it is known); "
    "for ssss input also the old set's threshold.",
)
@size_option(
    "--count",
    "-n",
    default=None,
    help="Number of new shares (default: the old set's, when it is known).",
)
@label_option("Label of new native shares.")
@encoding_option()
@format_options
@set_id_option
@click.option("--force", is_flag=True, help="Overwrite existing share files.")
@share_files_argument
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
    from tcr_kit.sharing.convert import recorded_size, recover_secret, split_secret

    detected = dispatch.detect_set(share_files, from_fmt, on_warning=warn)
    options = foreign_options(**format_opts)
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
    combining = progress_bar("combining", native_secret_length(detected))
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
    report_split(outcome, as_json)
    warn(recovered.retire_notice())
