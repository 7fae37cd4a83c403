"""Files that never overwrite and never appear half-written.

Ceremony outputs (shares, recovered secrets, records) are created exclusively and mode 0600:
the bytes go to a hidden temporary file in the destination directory, created with
``O_EXCL``, and only when everything is written and flushed is it linked to its final name.
``link`` fails when the name exists, so nothing is ever overwritten unless the caller asked
for it (``force``), and an interrupted write leaves no file under the final name.

With ``force`` an existing output is replaced only if it is a regular file (never a device,
a directory, a FIFO or a symbolic link), and the replacement of a set is all or none: each old
file is kept under a hidden backup link until every new file is in place, and put back if any
step fails.

Temporary files are named ``.<final>.tcr-<pid>-<random>.partial``. A run killed with
``SIGKILL`` cannot remove its own; the next run writing to the same folder removes those
whose writer process is gone (and only files of that exact pattern, owned by the same user).
Every I/O failure is an :class:`~tcr_kit.errors.OperationalError` naming the file: one line,
exit 1.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import stat
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, cast

from tcr_kit.errors import FileExistsRefused, InputError, OperationalError
from tcr_kit.secrets import random_bytes

__all__ = [
    "SECRET_MODE",
    "NotRegularFileRefused",
    "StreamOutput",
    "atomic_output",
    "atomic_outputs",
    "check_private_file",
    "remove_stale_partials",
    "require_folder",
    "sha256_file",
    "write_new_file",
]

SECRET_MODE = 0o600
"""Mode of every file tcr-kit writes that holds secret material."""

_STARTED = time.time()

_TEMP_PATTERN = re.compile(
    r"^\.(?P<final>.+)\.tcr-(?P<pid>[0-9]+)-[0-9a-f]{12}\.(?P<kind>partial|old)$"
)
"""Our temporaries (``partial``: a new file being written; ``old``: a backup link of a file
being replaced with ``force``)."""


class NotRegularFileRefused(OperationalError):
    """An output path exists and is not a regular file: it is never replaced, even with force."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"{path}: is {what}, not a regular file; refusing to replace it")
        self.path = path


def _describe(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _io_error(path: Path, action: str, exc: OSError) -> OperationalError:
    return OperationalError(f"{path}: cannot {action}: {exc.strerror or exc}")


def _temp_name(final: Path, kind: str = "partial") -> Path:
    return final.with_name(f".{final.name}.tcr-{os.getpid()}-{random_bytes(6).hex()}.{kind}")


def _process_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (perhaps as another user)
    return False


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the temporaries that killed runs left in ``folder``; returns what was removed.

    Only files named by our pattern, regular, owned by this user, older than this process
    and whose writer process no longer exists (or is this very process: a reused pid) are
    removed. A backup link (``.old``) is removed only while the final file it backs still has
    the same content (the same inode); otherwise it may be the last copy of an old output and
    is left for a person to judge.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_PATTERN.match(entry.name)
        if match is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            continue
        if st.st_mtime >= _STARTED:  # never a file of a run that began after this one
            continue
        pid = int(match["pid"])
        if not (_process_gone(pid) or pid == os.getpid()):
            continue
        if match["kind"] == "old":
            try:
                final = os.stat(Path(folder) / match["final"], follow_symlinks=False)
            except OSError:
                continue
            if (final.st_dev, final.st_ino) != (st.st_dev, st.st_ino):
                continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


class _Output(io.BufferedWriter):
    """A buffered output file whose write errors name the final file (exit 1, one line)."""

    def __init__(self, raw: io.FileIO, final: Path) -> None:
        super().__init__(raw)
        self.final = final

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            return super().write(data)
        except OSError as exc:
            raise _io_error(self.final, "write", exc) from exc

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as exc:
            raise _io_error(self.final, "write", exc) from exc


def _open_exclusive(path: Path, final: Path, mode: int) -> _Output:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        raise _io_error(final, "create", exc) from exc
    try:
        os.fchmod(fd, mode)  # the umask must not widen or narrow what we promised
        raw = io.FileIO(fd, "wb", closefd=True)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return _Output(raw, final)


def _check_replaceable(final: Path, force: bool) -> os.stat_result | None:
    """The existing file at ``final`` (None if absent); refuses what may not be replaced."""
    try:
        st = os.stat(final, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _io_error(final, "write", exc) from exc
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileRefused(str(final), _describe(st.st_mode))
    if not force:
        raise FileExistsRefused(str(final))
    return st


class _Publisher:
    """Moves finished temporaries to their final names, all or none."""

    def __init__(self, force: bool) -> None:
        self.force = force
        self.created: list[Path] = []  # final names that did not exist before
        self.replaced: list[tuple[Path, Path]] = []  # (final, backup link of the old file)

    def publish(self, temp: Path, final: Path) -> None:
        if not self.force:
            try:
                os.link(temp, final, follow_symlinks=False)
            except FileExistsError as exc:
                raise FileExistsRefused(str(final)) from exc
            except OSError as exc:
                raise _io_error(final, "create", exc) from exc
            self.created.append(final)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            return
        existing = _check_replaceable(final, force=True)
        if existing is None:
            try:
                os.link(temp, final, follow_symlinks=False)
            except FileExistsError:
                existing = _check_replaceable(final, force=True)  # appeared meanwhile
            except OSError as exc:
                raise _io_error(final, "create", exc) from exc
            else:
                self.created.append(final)
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                return
        backup = _temp_name(final, "old")
        try:
            os.link(final, backup, follow_symlinks=False)
        except OSError as exc:
            raise _io_error(final, "keep a backup link of", exc) from exc
        try:
            held = os.stat(backup, follow_symlinks=False)
            if not stat.S_ISREG(held.st_mode):  # swapped between the check and the link
                raise NotRegularFileRefused(str(final), _describe(held.st_mode))
            os.replace(temp, final)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(backup)
            if isinstance(exc, OSError):
                raise _io_error(final, "replace", exc) from exc
            raise
        self.replaced.append((final, backup))

    def commit(self) -> None:
        for _, backup in self.replaced:
            with contextlib.suppress(OSError):
                os.unlink(backup)

    def roll_back(self) -> None:
        for final, backup in reversed(self.replaced):
            with contextlib.suppress(OSError):
                os.replace(backup, final)
        for final in self.created:
            with contextlib.suppress(OSError):
                os.unlink(final)


def require_folder(folder: Path) -> None:
    """Refuse an output folder that does not exist (:class:`InputError`, exit 2): a split
    checks it before it reads or shares a byte of the secret, the writer again at the end."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such directory")


@contextlib.contextmanager
def atomic_outputs(
    paths: Sequence[Path], *, force: bool = False, mode: int = SECRET_MODE
) -> Iterator[list[BinaryIO]]:
    """Open ``paths`` for writing; publish all of them only if the block succeeds.

    Existing paths are refused up front (unless ``force``; even then anything but a regular
    file is refused). Until the block ends the final names are untouched: absent, or holding
    their old content. On any error every temporary file is removed, no final name is
    created and every replaced file has its old content back.
    """
    finals = [Path(p) for p in paths]
    if len(set(finals)) != len(finals):
        raise ValueError("duplicate output paths")
    for final in finals:
        _check_replaceable(final, force)
    for folder in dict.fromkeys(final.parent for final in finals):
        require_folder(folder)
        remove_stale_partials(folder)
    temps: list[Path] = []
    handles: list[_Output] = []
    publisher = _Publisher(force)
    try:
        for final in finals:
            temp = _temp_name(final)
            handles.append(_open_exclusive(temp, final, mode))
            temps.append(temp)
        yield cast(list[BinaryIO], handles)
        for handle in handles:
            handle.flush()
            try:
                os.fsync(handle.fileno())
                handle.close()
            except OSError as exc:
                raise _io_error(handle.final, "write", exc) from exc
        for temp, final in zip(temps, finals, strict=True):
            publisher.publish(temp, final)
        publisher.commit()
    except BaseException:
        for handle in handles:
            with contextlib.suppress(OSError, OperationalError):
                handle.close()
        for temp in temps:
            with contextlib.suppress(OSError):
                temp.unlink()
        publisher.roll_back()
        raise


@contextlib.contextmanager
def atomic_output(
    path: Path, *, force: bool = False, mode: int = SECRET_MODE
) -> Iterator[BinaryIO]:
    """One-file form of :func:`atomic_outputs`."""
    with atomic_outputs([path], force=force, mode=mode) as handles:
        yield handles[0]


class StreamOutput(io.RawIOBase):
    """An already open output stream (stdout) whose failures are one line, exit 1.

    A full device or a closed pipe raises :class:`~tcr_kit.errors.OperationalError` naming
    the stream, and the stream's descriptor is then pointed at ``/dev/null`` so that the
    interpreter's own flush at exit does not fail a second time with a traceback.
    """

    def __init__(self, stream: BinaryIO, name: str = "stdout") -> None:
        super().__init__()
        self._stream = stream
        self.name = name

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Write all of ``data`` (a short write is retried, never silently accepted)."""
        view = memoryview(data).cast("B")
        size = len(view)
        try:
            try:
                fd = self._stream.fileno()
            except (OSError, ValueError, io.UnsupportedOperation):
                fd = -1
            if fd < 0:
                while view:
                    written = self._stream.write(view)
                    view = view[written if written is not None else len(view) :]
                return size
            self._stream.flush()
            while view:
                written = os.write(fd, view)
                if written <= 0:
                    raise OSError(errno.EIO, "nothing could be written")
                view = view[written:]
        except OSError as exc:
            self._give_up()
            raise _io_error(Path(self.name), "write", exc) from exc
        return size

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            self._give_up()
            raise _io_error(Path(self.name), "write", exc) from exc

    def _give_up(self) -> None:
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)


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
