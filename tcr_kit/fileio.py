"""Files that never overwrite and never appear half-written.

Ceremony outputs (shares, recovered secrets, records) are created exclusively and mode 0600:
the bytes go to a hidden temporary file in the destination directory, created with
``O_EXCL``, and only when everything is written and flushed is it linked to its final name.
``link`` fails when the name exists, so nothing is ever overwritten unless the caller asked
for it (``force``), and an interrupted write leaves no file under the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from tcr_kit.errors import FileExistsRefused, InputError, OperationalError
from tcr_kit.secrets import random_bytes

__all__ = [
    "SECRET_MODE",
    "atomic_output",
    "atomic_outputs",
    "check_private_file",
    "sha256_file",
    "write_new_file",
]

SECRET_MODE = 0o600
"""Mode of every file tcr-kit writes that holds secret material."""


def _temp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{random_bytes(6).hex()}.partial")


def _open_exclusive(path: Path, mode: int) -> BinaryIO:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, mode)
    os.fchmod(fd, mode)  # the umask must not widen or narrow what we promised
    return os.fdopen(fd, "wb")


def _publish(temp: Path, final: Path, force: bool) -> None:
    if force:
        os.replace(temp, final)
        return
    try:
        os.link(temp, final)
    except FileExistsError as exc:
        raise FileExistsRefused(str(final)) from exc
    os.unlink(temp)


@contextlib.contextmanager
def atomic_outputs(
    paths: Sequence[Path], *, force: bool = False, mode: int = SECRET_MODE
) -> Iterator[list[BinaryIO]]:
    """Open ``paths`` for writing; publish all of them only if the block succeeds.

    Existing paths are refused up front (unless ``force``). On any error every temporary file
    is removed and no final name is created.
    """
    finals = [Path(p) for p in paths]
    if len(set(finals)) != len(finals):
        raise ValueError("duplicate output paths")
    if not force:
        for final in finals:
            if final.exists() or final.is_symlink():
                raise FileExistsRefused(str(final))
    temps: list[Path] = []
    handles: list[BinaryIO] = []
    published: list[Path] = []
    try:
        for final in finals:
            if not final.parent.is_dir():
                raise InputError(f"{final.parent}: no such directory")
            temp = _temp_name(final)
            handles.append(_open_exclusive(temp, mode))
            temps.append(temp)
        yield handles
        for handle in handles:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        for temp, final in zip(temps, finals, strict=True):
            _publish(temp, final, force)
            published.append(final)
    except BaseException:
        for handle in handles:
            with contextlib.suppress(OSError):
                handle.close()
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        for final in published:
            with contextlib.suppress(FileNotFoundError):
                final.unlink()
        raise


@contextlib.contextmanager
def atomic_output(
    path: Path, *, force: bool = False, mode: int = SECRET_MODE
) -> Iterator[BinaryIO]:
    """One-file form of :func:`atomic_outputs`."""
    with atomic_outputs([path], force=force, mode=mode) as handles:
        yield handles[0]


def sha256_file(path: Path) -> bytes:
    """SHA-256 of a file, read in chunks (share files and photos can be large)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    return digest.digest()


def check_private_file(path: Path) -> None:
    """Refuse a secret-holding input file that others can read or write (mode & 077)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file")
    if st.st_mode & 0o077:
        raise OperationalError(
            f"{path}: mode {stat.S_IMODE(st.st_mode):04o} lets others read it; "
            "refusing (chmod 600 it first)"
        )


def write_new_file(
    path: str | os.PathLike[str], data: bytes, mode: int = SECRET_MODE, *, force: bool = False
) -> None:
    """Write ``data`` to a new file ``path`` through :func:`atomic_output` (the one writer).

    An existing path is :class:`FileExistsRefused` unless ``force``; an I/O failure is one
    :class:`OperationalError` naming the path, and leaves no file behind.
    """
    target = Path(path)
    try:
        with atomic_output(target, force=force, mode=mode) as out:
            out.write(data)
    except OSError as exc:
        raise OperationalError(f"{target}: cannot write: {exc.strerror or exc}") from None
