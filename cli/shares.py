"""``tcr shares``: split, combine, inspect and convert secret shares."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import click

from tcr_kit.audit.pgpwords import digest_words
from tcr_kit.errors import InputError, TcrError
from tcr_kit.fileio import atomic_output, check_private_file, sha256_file
from tcr_kit.secrets import SecretBuffer, wipe
from tcr_kit.sharing import files, native
from tcr_kit.sharing.result import CombineResult

from .app import emit_json, json_option, progress, quiet_option, table, warn

if TYPE_CHECKING:
    from tcr_kit.sharing.foreign import ForeignOptions

FORMATS = ["native", "ssss", "vault", "slip39", "gfshare"]
"""Share formats; the peer formats' code is imported only when one is used."""
MAX_IN_MEMORY = 64 << 20
"""Largest secret held in memory (text formats and convert); native and gfshare stream."""

F = TypeVar("F", bound=Callable[..., Any])


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
    from tcr_kit.sharing.foreign import ForeignOptions

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


def _read_secret(source: BinaryIO) -> SecretBuffer:
    """Read a whole (small) secret into a wipeable buffer, leaving no stray copies."""
    buf = bytearray(4096)
    total = 0
    while True:
        if total == len(buf):
            if len(buf) > MAX_IN_MEMORY:
                wipe(buf)
                raise InputError("secret too large for this format (more than 64 MiB)")
            bigger = bytearray(len(buf) * 2)
            bigger[:total] = buf
            wipe(buf)
            buf = bigger
        with memoryview(buf) as view:
            n = source.readinto(view[total:])  # type: ignore[attr-defined]
        if not n:
            break
        total += n
    secret = SecretBuffer(buf[:total])
    wipe(buf)
    if not len(secret):
        raise InputError("the secret is empty: nothing to split")
    return secret


def _file_rows(paths: list[Path]) -> list[dict[str, Any]]:
    return [
        {"index": i, "file": str(path), "sha256": sha256_file(path).hex()}
        for i, path in enumerate(paths, 1)
    ]


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
        _split_dry_run(input_name, output_dir, stem, fmt, encoding, threshold, count, as_json)
        return
    options = _foreign_options(**format_opts)
    source = _open_input(input_name)
    try:
        if fmt == "native":
            _split_native(
                source, threshold, count, output_dir, stem, label, encoding, force, as_json
            )
            return
        if fmt == "gfshare":
            paths = _foreign_split_gfshare(source, threshold, count, output_dir, stem, force)
        else:
            with _read_secret(source) as secret:
                from tcr_kit.sharing import foreign

                paths = foreign.split_text_format(
                    fmt, secret, threshold, count, output_dir, stem, options, force=force
                )
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    _report_foreign_split(fmt, threshold, count, paths, as_json)


def _foreign_split_gfshare(
    source: BinaryIO, threshold: int, count: int, output_dir: Path, stem: str, force: bool
) -> list[Path]:
    from tcr_kit.sharing import foreign

    return foreign.split_gfshare(source, threshold, count, output_dir, stem, force=force)


def _split_dry_run(
    input_name: str,
    output_dir: Path,
    stem: str,
    fmt: str,
    encoding: str,
    threshold: int,
    count: int,
    as_json: bool,
) -> None:
    from tcr_kit.sharing import foreign

    if fmt == "native":
        names = [files.native_share_name(stem, i, encoding == "text") for i in range(1, count + 1)]
        names.append(files.manifest_name(stem))
    elif fmt == "gfshare":
        names = [f"{stem}.{i:03d}" for i in range(1, count + 1)]
    else:
        names = [foreign.text_share_name(stem, fmt, i) for i in range(1, count + 1)]
    plan: dict[str, Any] = {
        "dry_run": True,
        "format": fmt,
        "threshold": threshold,
        "count": count,
        "would_write": [str(output_dir / n) for n in names],
    }
    existing = [p for p in plan["would_write"] if Path(p).exists()]
    if as_json:
        emit_json({**plan, "already_exist": existing})
        return
    click.echo(f"would split {input_name} {threshold}-of-{count} ({fmt}) into:")
    for name in plan["would_write"]:
        click.echo(
            f"  {name}"
            + ("  (exists: would be refused without --force)" if name in existing else "")
        )


def _split_native(
    source: BinaryIO,
    threshold: int,
    count: int,
    output_dir: Path,
    stem: str,
    label: str | None,
    encoding: str,
    force: bool,
    as_json: bool,
) -> None:
    outcome = files.split_native_to_dir(
        source, threshold, count, output_dir, stem, label=label, encoding=encoding, force=force
    )
    for message in outcome.warnings:
        warn(message)
    m = outcome.manifest
    rows = [
        {"index": i, "file": str(p), "share_sha256": d.hex()}
        for i, (p, d) in enumerate(zip(outcome.paths, m.share_digests, strict=True), 1)
    ]
    hexdigest, words = digest_words(outcome.manifest_digest)
    if as_json:
        emit_json(
            {
                "ok": True,
                "format": "native",
                "encoding": outcome.encoding,
                "set_id": m.set_id_hex,
                "threshold": m.threshold,
                "count": m.count,
                "secret_length": m.secret_length,
                "label": m.label,
                "shares": rows,
                "manifest": str(outcome.manifest_path),
                "manifest_sha256": hexdigest,
                "manifest_pgp_words": words,
            }
        )
        return
    click.echo(
        f"share set {m.set_id_hex}: {m.threshold} of {m.count}, "
        f"secret {m.secret_length} bytes, {outcome.encoding} encoding"
        + (f", label {m.label!r}" if m.label else "")
    )
    click.echo(table(rows, ["index", "file", "share_sha256"]))
    click.echo(f"manifest {outcome.manifest_path}")
    click.echo(f"  SHA-256: {hexdigest}")
    click.echo(f"  PGP Words: {words}")


def _detect_all(paths: tuple[Path, ...], fmt: str) -> tuple[str, list[Path]]:
    """One format for all share files (manifests skipped); mixed formats are refused."""
    kept: list[Path] = []
    seen: dict[str, Path] = {}
    for path in paths:
        detected = files.detect_format(path) if fmt == "auto" else fmt
        if detected == files.MANIFEST:
            warn(f"{path} is a share-set manifest, not a share; ignored")
            continue
        seen.setdefault(detected, path)
        kept.append(path)
    if len(seen) > 1:
        described = ", ".join(f"{p} is {f}" for f, p in seen.items())
        raise InputError(f"share files of different formats given ({described})")
    if not kept:
        raise InputError("no share files given")
    return next(iter(seen)), kept


def _combine_any(
    fmt: str,
    paths: list[Path],
    options: ForeignOptions,
    threshold: int | None,
    sink: BinaryIO | None,
    output: Path | None,
    force: bool,
) -> CombineResult:
    """Combine share files of one format into ``output`` (atomic, 0600) or ``sink``."""
    from tcr_kit.sharing import foreign

    if fmt == "native":
        return files.combine_native_to(paths, output, sink, force=force)
    if fmt == "gfshare":
        if output is not None:
            with atomic_output(output, force=force) as handle:
                return foreign.combine_gfshare(paths, handle, threshold=threshold)
        if sink is None:
            raise ValueError("need an output or a sink")
        return foreign.combine_gfshare(paths, sink, threshold=threshold)
    result = foreign.combine_text_format(fmt, paths, options, threshold=threshold)
    with result.secret:
        if output is not None:
            with atomic_output(output, force=force) as handle:
                handle.write(result.secret.view())
        elif sink is not None:
            sink.write(result.secret.view())
    return result


def _report_combine(result: CombineResult, fmt: str, output: str, as_json: bool) -> None:
    for message in result.warnings:
        warn(message)
    for source, why in result.rejected.items():
        warn(f"{source} rejected: {why}")
    if as_json:
        emit_json(
            {
                "ok": True,
                "format": fmt,
                "verified": result.verified,
                "output": output,
                "used": result.used,
                "rejected": result.rejected,
                "warnings": result.warnings,
            }
        )
    else:
        state = "verified" if result.verified else "NOT verifiable"
        progress(f"secret recovered from {len(result.used)} {fmt} shares ({state}) -> {output}")


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
    detected, paths = _detect_all(share_files, fmt)
    options = _foreign_options(**format_opts)
    if output == "-":
        result = _combine_any(detected, paths, options, threshold, sys.stdout.buffer, None, force)
        sys.stdout.buffer.flush()
    else:
        result = _combine_any(detected, paths, options, threshold, None, Path(output), force)
    _report_combine(result, detected, output, as_json)


@shares.command()
@click.argument(
    "share_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option(
    "--format", "fmt", type=click.Choice(["auto", *FORMATS]), default="auto", show_default=True
)
@json_option
def inspect(share_files: tuple[Path, ...], fmt: str, as_json: bool) -> None:
    """Show what each share says about itself and whether its checksum holds.

    Never shows or reconstructs the secret. Exits 3 when any share fails its checksum,
    2 when a file is not a share.
    """
    from tcr_kit.sharing import foreign

    rows: list[dict[str, Any]] = []
    worst = 0
    for path in share_files:
        row: dict[str, Any] = {"file": str(path)}
        try:
            row["format"] = detected = files.detect_format(path) if fmt == "auto" else fmt
            if detected == files.MANIFEST:
                row["checksum"] = "-"
            elif detected == "native":
                share = native.open_share_file(path, str(path))
                h = share.header
                row.update(
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
            else:
                row.update(foreign.describe(detected, path))
        except TcrError as exc:
            worst = max(worst, int(exc.exit_code))
            row.setdefault("format", "unknown")
            row["checksum"] = "BAD"
            row["error"] = str(exc)
        rows.append(row)
    if as_json:
        emit_json({"ok": worst == 0, "shares": rows})
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
    if worst:
        sys.exit(worst)


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
    import io

    detected, paths = _detect_all(share_files, from_fmt)
    options = _foreign_options(**format_opts)
    old_m = old_n = None
    if detected == "native":
        first = native.open_share_file(paths[0], str(paths[0]))
        old_m, old_n = first.threshold, first.count
    new_m = threshold or old_m
    new_n = count or old_n
    if new_m is None or new_n is None:
        raise click.UsageError(
            f"{detected} shares do not record the set's size: give --threshold and --count"
        )
    if new_m > new_n:
        raise click.BadParameter("threshold cannot exceed count", param_hint="--threshold")
    sink = io.BytesIO()
    result = _combine_any(
        detected, paths, options, threshold if detected != "native" else None, sink, None, False
    )
    with sink.getbuffer() as recovered:
        secret = SecretBuffer(recovered)
        wipe(recovered)
    for message in result.warnings:
        warn(message)
    for source, why in result.rejected.items():
        warn(f"{source} rejected: {why}")
    stem = files.stem_of_share(paths[0])
    with secret, io.BytesIO(secret.view()) as plain:
        _split_converted(
            plain,
            secret,
            to_fmt,
            new_m,
            new_n,
            output_dir,
            stem,
            label,
            encoding,
            force,
            as_json,
            options,
        )
        with plain.getbuffer() as copy:
            wipe(copy)
    warn(
        f"a new share set was made from {len(result.used)} {detected} shares; "
        "the old shares still recover the secret: retire and destroy them"
    )


def _split_converted(
    source: BinaryIO,
    secret: SecretBuffer,
    to_fmt: str,
    new_m: int,
    new_n: int,
    output_dir: Path,
    stem: str,
    label: str | None,
    encoding: str,
    force: bool,
    as_json: bool,
    options: ForeignOptions,
) -> None:
    if to_fmt == "native":
        _split_native(source, new_m, new_n, output_dir, stem, label, encoding, force, as_json)
    else:
        from tcr_kit.sharing import foreign

        if to_fmt == "gfshare":
            new_paths = foreign.split_gfshare(source, new_m, new_n, output_dir, stem, force=force)
        else:
            new_paths = foreign.split_text_format(
                to_fmt, secret, new_m, new_n, output_dir, stem, options, force=force
            )
        _report_foreign_split(to_fmt, new_m, new_n, new_paths, as_json)


def _report_foreign_split(
    fmt: str, threshold: int, count: int, paths: list[Path], as_json: bool
) -> None:
    if threshold == 1:
        warn("threshold 1: every single share reveals the secret")
    warn(f"{fmt} shares carry no tcr-kit integrity data; prefer --format native for custody")
    rows = _file_rows(paths)
    if as_json:
        emit_json(
            {"ok": True, "format": fmt, "threshold": threshold, "count": count, "shares": rows}
        )
    else:
        click.echo(f"{fmt} shares: {threshold} of {count}")
        click.echo(table(rows, ["index", "file", "sha256"]))
