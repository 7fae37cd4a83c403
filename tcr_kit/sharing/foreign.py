"""One front for the peer formats (ssss, gfshare, Vault, SLIP-39): detect, split, combine.

The format modules in :mod:`tcr_kit.sharing.formats` each speak their own peer's dialect;
this module gives the CLI a single shape for all of them: options in one dataclass, shares
written as files (all or none, 0600), a combine that reads files and reports what it could
and could not check. None of these formats has tcr-kit's integrity data, so every combine
result says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tcr_kit.errors import InputError
from tcr_kit.fileio import atomic_outputs
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.errors import ShareError, UnknownFormatError
from tcr_kit.sharing.formats import gfshare, slip39, ssss, vault
from tcr_kit.sharing.result import CombineResult

TEXT_FORMATS = ("ssss", "vault", "slip39")
"""Formats whose shares are one line (or mnemonic) of text, in a file each."""

FOREIGN_FORMATS = (*TEXT_FORMATS, "gfshare")

MAX_TEXT_SHARE_FILE = 64 << 10
"""A text share file larger than this is not a share."""

_MODULES: dict[str, Any] = {"ssss": ssss, "vault": vault, "slip39": slip39}


@dataclass(frozen=True)
class ForeignOptions:
    """Format-specific options; each format reads the ones that concern it."""

    ssss_token: str | None = None
    ssss_diffusion: bool = True
    ssss_hex: bool = True
    vault_encoding: str = "base64"
    slip39_passphrase: bytes = b""
    slip39_iteration_exponent: int = 1


def text_share_name(stem: str, fmt: str, index: int) -> str:
    """``<stem>.<format>-NNN.txt``."""
    return f"{stem}.{fmt}-{index:03d}.txt"


def _split_kwargs(fmt: str, options: ForeignOptions) -> dict[str, Any]:
    if fmt == "ssss":
        return {
            "token": options.ssss_token,
            "diffusion": options.ssss_diffusion,
            "hex": options.ssss_hex,
        }
    if fmt == "vault":
        return {"encoding": options.vault_encoding}
    if fmt == "slip39":
        return {
            "passphrase": options.slip39_passphrase,
            "iteration_exponent": options.slip39_iteration_exponent,
        }
    raise ValueError(f"not a text format: {fmt}")


def split_text_format(
    fmt: str,
    secret: SecretBuffer,
    threshold: int,
    count: int,
    out_dir: Path,
    stem: str,
    options: ForeignOptions,
    *,
    force: bool = False,
) -> list[Path]:
    """Split an in-memory secret into ``count`` share files of a text format."""
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: no such directory")
    try:
        texts = _MODULES[fmt].split(secret.raw, threshold, count, **_split_kwargs(fmt, options))
    except ValueError as exc:
        raise InputError(f"{fmt}: {exc}") from exc
    paths = [out_dir / text_share_name(stem, fmt, i) for i in range(1, count + 1)]
    with atomic_outputs(paths, force=force) as handles:
        for handle, text in zip(handles, texts, strict=True):
            handle.write(text.encode("utf-8") + b"\n")
    return paths


def split_gfshare(
    source: BinaryIO,
    threshold: int,
    count: int,
    out_dir: Path,
    stem: str,
    *,
    force: bool = False,
) -> list[Path]:
    """Split a stream into gfshare files ``<stem>.NNN`` (as gfsplit names them)."""
    if not out_dir.is_dir():
        raise InputError(f"{out_dir}: no such directory")
    try:
        return gfshare.split_stream(source, threshold, count, out_dir, stem, force=force)
    except ValueError as exc:
        raise InputError(f"gfshare: {exc}") from exc


def sniff_text(path: Path, head: bytes) -> str | None:
    """The text format a share file is in, judged by its content, or ``None``."""
    try:
        text = head.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    for fmt in ("ssss", "slip39", "vault"):
        if _MODULES[fmt].looks_like(text):
            return fmt
    return None


def read_text(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_TEXT_SHARE_FILE + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    if len(data) > MAX_TEXT_SHARE_FILE:
        raise UnknownFormatError(f"{path}: too large to be a text share")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ShareError(str(path), "not UTF-8 text") from exc


def parse_text_shares(fmt: str, paths: Sequence[Path]) -> list[Any]:
    """Parse every file; a share that does not parse raises, naming its file."""
    return [_MODULES[fmt].parse(read_text(p), str(p)) for p in paths]


def combine_text_format(
    fmt: str,
    paths: Sequence[Path],
    options: ForeignOptions,
    *,
    threshold: int | None = None,
) -> CombineResult:
    """Combine text-format share files into an in-memory secret (the caller wipes it)."""
    shares = parse_text_shares(fmt, paths)
    try:
        if fmt == "ssss":
            if threshold is None:
                raise InputError(
                    "ssss shares do not record their threshold: give it with --threshold "
                    "(a wrong value silently gives a wrong secret, in ssss-combine too)"
                )
            result: CombineResult = ssss.combine(
                shares,
                threshold=threshold,
                diffusion=options.ssss_diffusion,
                hex=options.ssss_hex,
            )
        elif fmt == "vault":
            result = vault.combine(shares, threshold=threshold)
        else:
            result = slip39.combine(shares, passphrase=options.slip39_passphrase)
    except ValueError as exc:
        raise InputError(f"{fmt}: {exc}") from exc
    if not result.verified and not any("verif" in w for w in result.warnings):
        result.warnings.append(
            f"{fmt} shares carry no integrity data: the result cannot be verified"
        )
    return result


def combine_gfshare(
    paths: Sequence[Path], sink: BinaryIO, *, threshold: int | None = None
) -> CombineResult:
    """Stream a gfshare combine into ``sink``."""
    try:
        return gfshare.combine_paths(paths, sink, threshold=threshold)
    except ValueError as exc:
        raise InputError(f"gfshare: {exc}") from exc


def describe(fmt: str, path: Path) -> dict[str, Any]:
    """What a foreign share says about itself (for ``tcr shares inspect``); no secret."""
    if fmt == "gfshare":
        return {
            "index": gfshare.index_from_name(path),
            "secret_length": path.stat().st_size,
            "checksum": "none",
        }
    share = parse_text_shares(fmt, [path])[0]
    row: dict[str, Any] = {"index": share.index}
    if fmt == "ssss":
        row.update(secret_length=share.bits // 8, label=share.token or "", checksum="none")
    elif fmt == "vault":
        row.update(secret_length=len(share.value), checksum="none")
    else:
        row.update(
            set_id=f"{share.identifier:04x}",
            threshold=share.member_threshold,
            checksum="ok",  # parse verified the RS1024 checksum
        )
    return row
