"""Reading one secret (a PIN, PUK, SO PIN or passphrase) from a file, a stream or a prompt.

Every command that needs a secret reads it the same way, so the rules live here once:

* a **file** must be a regular file of mode 0600 owned by the user running the program
  (:func:`tcr_kit.fileio.check_private_file` refuses group/world access, and the open file
  itself is checked again, so a file swapped after the check is refused too);
* a **stream** (stdin in a pipeline, or a file descriptor handed over by a parent process)
  gives one line per secret, read byte by byte so that the next secret, or the next answer
  of a script, stays in the stream for whoever reads it next;
* a **prompt** is a callable supplied by the caller (the CLI passes a no-echo terminal
  prompt): the library never prints, prompts or imports ``getpass``.

Whatever the source, the result is a :class:`~tcr_kit.secrets.SecretBuffer`: the bytes are
read straight into a ``bytearray`` (no immutable ``bytes`` copy is made on the way), exactly
one line ending (``\\n`` or ``\\r\\n``) is removed, and every intermediate buffer is wiped.
A secret is one line: what is left after the line ending must not contain another line
break. That refuses a stray blank line in a PIN file instead of presenting a PIN that cannot
be right and spending one of the card's few tries on it.

The one exception is a prompt that returns ``str`` (``click.prompt`` and ``getpass`` do):
that string is already an unwipeable copy made by the prompt; we copy it into a buffer at
once and keep nothing else.
"""

from __future__ import annotations

import hmac
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from tcr_kit.errors import InputError, OperationalError
from tcr_kit.fileio import check_private_file
from tcr_kit.secrets import SecretBuffer, wipe

__all__ = [
    "MAX_SECRET_BYTES",
    "SecretPrompt",
    "read_secret",
    "read_secret_file",
    "read_secret_line",
]

MAX_SECRET_BYTES = 256
"""The longest secret accepted (PINs have at most 16 bytes; passphrases fit easily). A
longer file or line is the wrong file, not a secret."""

SecretPrompt = Callable[[str, bool], str | bytes | bytearray]
"""``prompt(text, confirm)``: ask for a secret without echoing it and return it. With
``confirm`` true the prompt asks twice and returns only a value typed the same both times
(as ``click.prompt(..., hide_input=True, confirmation_prompt=True)`` does). A returned
``bytearray`` is taken over and wiped; ``str`` and ``bytes`` are copied at once."""

_LF, _CR = 0x0A, 0x0D


def _body_end(raw: bytearray, end: int) -> int:
    """Where the secret in ``raw[:end]`` ends once one line ending is removed."""
    if end and raw[end - 1] == _LF:
        end -= 1
        if end and raw[end - 1] == _CR:
            end -= 1
    return end


def _finish(raw: bytearray, end: int, *, kind: str, where: str, limit: int) -> SecretBuffer:
    """The secret in ``raw[:end]`` minus one line ending, as a new buffer; ``raw`` is wiped.

    Copies once from a view (never through ``bytes`` and never by resizing ``raw``, which
    could leave the old allocation behind unwiped).
    """
    try:
        end = _body_end(raw, end)
        if end > limit:
            raise InputError(f"{where}: too long for a {kind}")
        with memoryview(raw) as view:
            body = view[:end]
            if _LF in body or _CR in body:
                raise InputError(f"{where}: a {kind} is one line; this holds a line break")
            if not end:
                raise InputError(f"empty {kind}")
            return SecretBuffer(body)
    finally:
        wipe(raw)


def read_secret_file(
    path: Path, *, kind: str = "secret", limit: int = MAX_SECRET_BYTES
) -> SecretBuffer:
    """The secret in ``path``: refused unless it is a 0600 regular file owned by us.

    Raises :class:`~tcr_kit.errors.OperationalError` (exit 1) for a file others may read or
    that belongs to another user, :class:`~tcr_kit.errors.InputError` (exit 2) for a file
    that cannot be read, is empty, longer than ``limit`` bytes or more than one line.
    """
    check_private_file(path)  # the documented refusal (mode & 077), with its message
    raw = bytearray(limit + 3)  # a full-length secret, "\r\n", and one byte to tell "too long"
    total = 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"{path}: cannot read {kind} file: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        # Check what was opened, not only what the name pointed at a moment earlier.
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077:
            raise OperationalError(f"{path}: changed while being opened; refusing")
        if st.st_uid != os.geteuid():
            raise OperationalError(
                f"{path}: owned by uid {st.st_uid}, not by you (uid {os.geteuid()});"
                f" refusing a {kind} file someone else controls"
            )
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as fh, memoryview(raw) as view:
            while total < len(raw):
                got = fh.readinto(view[total:])
                if not got:
                    break
                total += got
    except OSError as exc:
        wipe(raw)
        raise InputError(f"{path}: cannot read {kind} file: {exc.strerror}") from None
    except BaseException:
        wipe(raw)
        raise
    finally:
        os.close(fd)
    if total == len(raw) or _body_end(raw, total) > limit:
        wipe(raw)
        raise InputError(f"{path}: too long for a {kind} file")
    return _finish(raw, total, kind=kind, where=str(path), limit=limit)


def _read_line_into(fh: BinaryIO, raw: bytearray) -> int:
    """Read one line of ``fh`` into ``raw``, one byte at a time; the number of bytes read."""
    total = 0
    with memoryview(raw) as view:
        while total < len(raw):
            got = fh.readinto(view[total : total + 1])  # type: ignore[attr-defined]
            if not got:
                break
            total += 1
            if raw[total - 1] == _LF:
                break
    return total


def read_secret_line(
    stream: BinaryIO | int,
    what: str,
    *,
    kind: str = "secret",
    source: str = "stdin",
    limit: int = MAX_SECRET_BYTES,
) -> SecretBuffer:
    """One line of ``stream`` (a binary file object or a file descriptor) as a secret.

    Reads one byte at a time and stops after the newline, so whatever follows (the next
    secret, the next answer) is left for the next reader of the same stream. ``what`` and
    ``source`` name the secret and the stream in the error raised when the stream ends first.
    """
    raw = bytearray(limit + 3)  # a full-length secret, "\r\n", and one byte to tell "too long"
    try:
        if isinstance(stream, int):
            with os.fdopen(stream, "rb", buffering=0, closefd=False) as fh:
                total = _read_line_into(fh, raw)
        else:
            total = _read_line_into(stream, raw)
    except OSError as exc:
        wipe(raw)
        raise InputError(f"{source}: cannot read the {what}: {exc.strerror}") from None
    except BaseException:
        wipe(raw)
        raise
    if not total:
        raise InputError(f"{source} ended before the {what} was read")
    if total == len(raw) or _body_end(raw, total) > limit:
        wipe(raw)
        raise InputError(f"{source}: the {what} is too long for a {kind}")
    return _finish(raw, total, kind=kind, where=source, limit=limit)


def _from_prompt(
    prompt: SecretPrompt, what: str, *, confirm: bool, kind: str, limit: int
) -> SecretBuffer:
    answer = prompt(what, confirm)
    if isinstance(answer, bytearray):
        raw = answer  # taken over: _finish wipes it
    elif isinstance(answer, str):
        raw = bytearray(answer, "utf-8")
    else:
        raw = bytearray(answer)
    return _finish(raw, len(raw), kind=kind, where=what, limit=limit)


def read_secret(
    what: str,
    *,
    path: Path | None = None,
    stream: BinaryIO | int | None = None,
    prompt: SecretPrompt | None = None,
    confirm: bool = False,
    kind: str = "secret",
    source: str = "stdin",
    limit: int = MAX_SECRET_BYTES,
) -> SecretBuffer:
    """One secret, from the first source given: ``path``, else ``stream``, else ``prompt``.

    ``what`` is the human name of this secret ("New PIN for TCR tcr-3"), used as the prompt
    text and in errors; ``kind`` is the class of secret ("PIN", "passphrase") used in
    refusals. With ``confirm`` a stream gives the secret twice (two lines) and a prompt asks
    twice; two different entries raise :class:`~tcr_kit.errors.InputError`. A file is
    never asked twice (the file is its own confirmation). The caller wipes the result.
    """
    if path is not None:
        return read_secret_file(path, kind=kind, limit=limit)
    if stream is not None:
        value = read_secret_line(stream, what, kind=kind, source=source, limit=limit)
        if not confirm:
            return value
        try:
            again = read_secret_line(
                stream, f"{what} (again)", kind=kind, source=source, limit=limit
            )
        except BaseException:
            value.wipe()
            raise
        with again:
            same = hmac.compare_digest(value.view(), again.view())
        if not same:
            value.wipe()
            raise InputError(f"the two {what} entries differ")
        return value
    if prompt is not None:
        return _from_prompt(prompt, what, confirm=confirm, kind=kind, limit=limit)
    raise ValueError("read_secret needs a path, a stream or a prompt")
