"""``tcr shares``: the group, and split and inspect (combine and convert are in
:mod:`tcr_cli.shares_combine`, sign, check, register and extend in
:mod:`tcr_cli.shares_manifest`, all registered in ``SHARES_COMMANDS``).

Parsing and printing only: the jobs are in :mod:`tcr_kit.sharing.dispatch`; peer-format
code is imported only when a peer format is used.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO

import click

from tcr_kit.errors import InputError
from tcr_kit.sharing import dispatch, files
from tcr_kit.sharing.dispatch import ShareFilesRejected, open_secret_file

from . import app
from ._output import say
from ._shares_options import (
    encoding_option,
    foreign_options,
    format_option,
    format_options,
    label_option,
    out_dir_option,
    report_split,
    share_files_argument,
    size_option,
)
from .app import (
    emit_json,
    ensure_output_dir,
    json_option,
    progress_bar,
    quiet_option,
    table,
    warn,
)
from .commands import SHARES_COMMANDS

INSPECT_COLUMNS = "file format set_id index threshold count secret_length label checksum".split()


@click.group(cls=app.LazyGroup, lazy=SHARES_COMMANDS)  # combine, convert, sign, check, ...
def shares() -> None:
    """Split secrets into shares, combine, inspect and convert them."""


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
@size_option("--threshold", "-m", required=True, help="Shares needed to recover the secret (m).")
@size_option("--count", "-n", required=True, help="Shares to make (n).")
@click.option(
    "--input",
    "-i",
    "input_name",
    required=True,
    metavar="FILE",
    help="Secret file, or - for stdin (a pipe).",
)
@out_dir_option("Directory for the share files (one per share, 0600).")
@format_option("--format", "fmt", default="native", show_default=True)
@encoding_option(help="Native shares: text for paper, compact for files/cards.")
@label_option(
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
        say(f"would split {input_name} {threshold}-of-{count} ({fmt}) into:")
        for name in would_write:
            exists = "  (exists: would be refused without --force)" if name in existing else ""
            say(f"  {name}{exists}")
        return
    options = foreign_options(**format_opts)
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
    report_split(outcome, as_json)


def _regular_file_size(source: BinaryIO) -> int | None:
    """The size of a secret read from a regular file (a pipe's is not known ahead)."""
    import os
    import stat

    try:
        st = os.fstat(source.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


@shares.command()
@share_files_argument
@format_option("--format", "fmt", "auto", default="auto", show_default=True)
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
                say(f"error: {message}", err=True)
        raise ShareFilesRejected(errors[-1], worst)
