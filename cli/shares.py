"""``tcr shares``: split, combine, inspect and convert secret shares."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any, BinaryIO

import click

from cli.app import emit_json, json_option, progress, quiet_option, table, warn
from tcr_kit.audit.pgpwords import digest_words
from tcr_kit.errors import InputError, TcrError
from tcr_kit.sharing import files, native
from tcr_kit.sharing.result import CombineResult

FORMATS = ["native"]


@click.group()
def shares() -> None:
    """Split secrets into shares, combine shares, inspect and convert them."""


def _open_input(name: str) -> tuple[BinaryIO, str | None]:
    """The secret's byte stream; warns when a secret file is readable by others."""
    if name == "-":
        if sys.stdin.isatty():
            raise InputError(
                "refusing to read a secret typed on a terminal through --input -; "
                "put it in a 0600 file or pipe it in"
            )
        return sys.stdin.buffer, None
    path = Path(name)
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    mode = stat.S_IMODE(os.fstat(fh.fileno()).st_mode)
    if mode & 0o077:
        warn(f"{path} is readable by others (mode {mode:04o}); secrets belong in 0600 files")
    return fh, str(path)


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
) -> None:
    """Split a secret into COUNT shares, any THRESHOLD of which recover it."""
    if threshold > count:
        raise click.BadParameter("threshold cannot exceed count", param_hint="--threshold")
    stem = files.share_stem(input_name)
    if dry_run:
        names = [files.native_share_name(stem, i, encoding == "text") for i in range(1, count + 1)]
        plan: dict[str, Any] = {
            "dry_run": True,
            "format": fmt,
            "threshold": threshold,
            "count": count,
            "would_write": [str(output_dir / n) for n in names],
        }
        if as_json:
            emit_json(plan)
        else:
            click.echo(f"would split {input_name} {threshold}-of-{count} ({fmt}) into:")
            for n in plan["would_write"]:
                click.echo(f"  {n}")
        return
    source, _ = _open_input(input_name)
    try:
        outcome = files.split_native_to_dir(
            source,
            threshold,
            count,
            output_dir,
            stem,
            label=label,
            encoding=encoding,
            force=force,
        )
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    for message in outcome.warnings:
        warn(message)
    m = outcome.manifest
    rows = [
        {"index": i, "file": str(p), "share_sha256": d.hex()}
        for i, (p, d) in enumerate(zip(outcome.paths, m.share_digests, strict=True), 1)
    ]
    if as_json:
        emit_json(
            {
                "ok": True,
                "format": fmt,
                "encoding": outcome.encoding,
                "set_id": m.set_id_hex,
                "threshold": m.threshold,
                "count": m.count,
                "secret_length": m.secret_length,
                "label": m.label,
                "shares": rows,
                "manifest": str(outcome.manifest_path),
                "manifest_sha256": outcome.manifest_digest.hex(),
                "manifest_pgp_words": digest_words(outcome.manifest_digest)[1],
            }
        )
        return
    click.echo(
        f"share set {m.set_id_hex}: {m.threshold} of {m.count}, "
        f"secret {m.secret_length} bytes, {outcome.encoding} encoding"
        + (f", label {m.label!r}" if m.label else "")
    )
    click.echo(table(rows, ["index", "file", "share_sha256"]))
    if outcome.manifest_path is not None:
        hexdigest, words = digest_words(outcome.manifest_digest)
        click.echo(f"manifest {outcome.manifest_path}")
        click.echo(f"  SHA-256: {hexdigest}")
        click.echo(f"  PGP Words: {words}")


def _report_combine(result: CombineResult, output: str, as_json: bool) -> None:
    for message in result.warnings:
        warn(message)
    for source, why in result.rejected.items():
        warn(f"{source} rejected: {why}")
    if as_json:
        emit_json(
            {
                "ok": True,
                "verified": result.verified,
                "output": output,
                "used": result.used,
                "rejected": result.rejected,
                "warnings": result.warnings,
            }
        )
    else:
        state = "verified" if result.verified else "NOT verifiable"
        progress(f"secret recovered from {len(result.used)} shares ({state}) -> {output}")


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
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.argument(
    "share_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@json_option
@quiet_option
def combine(
    output: str, fmt: str, force: bool, share_files: tuple[Path, ...], as_json: bool, quiet: bool
) -> None:
    """Recover a secret from SHARE_FILES; nothing is written unless they verify."""
    if as_json and output == "-":
        raise click.UsageError("--json needs stdout: use --output FILE with it")
    kept = []
    for path in share_files:
        detected = files.detect_format(path) if fmt == "auto" else fmt
        if detected == files.MANIFEST:
            warn(f"{path} is a share-set manifest, not a share; ignored")
            continue
        if detected != "native":
            raise InputError(f"{path}: format {detected} is not supported here")
        kept.append(path)
    share_files = tuple(kept)
    if output == "-":
        result = files.combine_native_to(share_files, None, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        result = files.combine_native_to(share_files, Path(output), None, force=force)
    _report_combine(result, output, as_json)


@shares.command()
@click.argument(
    "share_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@json_option
def inspect(share_files: tuple[Path, ...], as_json: bool) -> None:
    """Show what each share says about itself and whether its checksum holds.

    Never shows or reconstructs the secret. Exits 3 when any share fails its checksum.
    """
    rows: list[dict[str, Any]] = []
    bad = 0
    for path in share_files:
        row: dict[str, Any] = {"file": str(path)}
        try:
            row["format"] = files.detect_format(path)
            if row["format"] == files.MANIFEST:
                row["checksum"] = "-"
                rows.append(row)
                continue
            share = native.open_share_file(path, str(path))
            h = share.header
            row.update(
                format="native",
                set_id=h.set_id_hex,
                index=h.index,
                threshold=h.threshold,
                count=h.count,
                label=h.label,
                secret_length=h.secret_length,
            )
            share.check()
            row["checksum"] = "ok"
            row["sha256"] = share.digest().hex()
        except TcrError as exc:
            bad += 1
            row.setdefault("format", "unknown")
            row["checksum"] = "BAD"
            row["error"] = str(exc)
        rows.append(row)
    if as_json:
        emit_json({"ok": bad == 0, "shares": rows})
    else:
        click.echo(
            table(
                rows,
                [
                    "file",
                    "format",
                    "set_id",
                    "index",
                    "threshold",
                    "count",
                    "secret_length",
                    "label",
                    "checksum",
                ],
            )
        )
        for row in rows:
            if "error" in row:
                click.echo(f"error: {row['error']}", err=True)
    if bad:
        sys.exit(3)
