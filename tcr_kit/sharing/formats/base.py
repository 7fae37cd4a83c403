"""What every peer format offers the rest of tcr-kit: the :class:`PeerFormat` protocol.

Each format module (``ssss``, ``vault``, ``slip39``, ``gfshare``) speaks its peer's dialect
with plain functions and ends with one ``FORMAT`` object implementing this protocol over
share *files*; :mod:`tcr_kit.sharing.formats.registry` names those objects and imports a
module only when its format is used. The one-line text formats share their file handling
through :class:`TextFormat`.

This module stays light (no format code, no numpy): the CLI imports it for the options.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import BinaryIO, Generic, Protocol, TypeVar

from tcr_kit.errors import InputError
from tcr_kit.fileio import atomic_outputs, require_folder
from tcr_kit.secrets import SecretBuffer, wipe
from tcr_kit.sharing.errors import ShareError, UnknownFormatError
from tcr_kit.sharing.result import CombineResult

__all__ = [
    "MAX_IN_MEMORY",
    "MAX_TEXT_SHARE_FILE",
    "ForeignOptions",
    "PeerFormat",
    "ShareFacts",
    "TextFormat",
    "parses",
    "read_passphrase_file",
    "read_secret",
    "read_text",
    "text_share_name",
]

MAX_TEXT_SHARE_FILE = 64 << 10
"""A text share file larger than this is not a share."""

MAX_IN_MEMORY = 64 << 20
"""Largest secret a text format holds in memory to split it."""


@dataclass(frozen=True)
class ForeignOptions:
    """Format-specific options; each format reads the ones that concern it."""

    ssss_token: str | None = None
    ssss_diffusion: bool = True
    ssss_hex: bool = True
    vault_encoding: str | None = None
    """How Vault keys are (split, convert: base64 when None) or were written (combine: read
    only when every key reads both as hex and as base64)."""
    slip39_passphrase: bytes = b""
    slip39_iteration_exponent: int = 1

    def __repr__(self) -> str:
        # The passphrase is secret: never in a repr, a log or a traceback.
        return (
            f"ForeignOptions(ssss_token={self.ssss_token!r}, "
            f"ssss_diffusion={self.ssss_diffusion}, ssss_hex={self.ssss_hex}, "
            f"vault_encoding={self.vault_encoding!r}, "
            f"slip39_passphrase=<{len(self.slip39_passphrase)} bytes>, "
            f"slip39_iteration_exponent={self.slip39_iteration_exponent})"
        )


@dataclass
class ShareFacts:
    """What one share file says about itself (``tcr shares inspect``); never the secret.

    Facts a format does not record stay ``None``. ``checksum`` is ``ok`` (the share's own
    check holds), ``none`` (the format has none), ``BAD`` (see ``error``) or ``-`` (a
    manifest, not a share). ``exit_code`` is that of ``error``, 0 without one.
    """

    file: str
    format: str = "unknown"
    set_id: str | None = None
    index: int | None = None
    threshold: int | None = None
    count: int | None = None
    secret_length: int | None = None
    label: str | None = None
    checksum: str | None = None
    sha256: str | None = None
    error: str | None = None
    exit_code: int = 0

    def record(self) -> dict[str, object]:
        """The facts that are known, as a JSON-ready dict (no ``exit_code``)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "exit_code" and getattr(self, f.name) is not None
        }


class PeerFormat(Protocol):
    """A peer's share format, seen as share files.

    ``detect`` judges a file by its first bytes (and name); ``parse`` reads one share file
    (raising :class:`ShareError` naming it); ``split`` reads the secret from ``source`` and
    writes ``count`` share files in ``out_dir`` (all or none, 0600); ``combine`` writes the
    secret recovered from share files to ``sink``; ``describe`` gives a file's facts.
    ``in_memory`` is True when the format holds the whole secret in memory (text formats),
    False when it streams (gfshare).
    """

    @property
    def name(self) -> str: ...

    @property
    def in_memory(self) -> bool: ...

    def share_name(self, stem: str, index: int) -> str: ...

    def detect(self, path: Path, head: bytes) -> bool: ...

    def parse(self, path: Path) -> object: ...

    def split(
        self,
        source: BinaryIO,
        threshold: int,
        count: int,
        out_dir: Path,
        stem: str,
        options: ForeignOptions,
        *,
        force: bool = False,
    ) -> list[Path]: ...

    def combine(
        self,
        paths: Sequence[Path],
        sink: BinaryIO,
        options: ForeignOptions,
        *,
        threshold: int | None = None,
    ) -> CombineResult: ...

    def describe(self, path: Path) -> ShareFacts: ...


def text_share_name(stem: str, fmt: str, index: int) -> str:
    """``<stem>.<format>-NNN.txt``."""
    return f"{stem}.{fmt}-{index:03d}.txt"


def read_text(path: Path) -> str:
    """A text share file's content, stripped; refuses files too large to be a share."""
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


def parses(parse: Callable[[str, str], object], text: str) -> bool:
    """Whether ``parse`` (a text format's) reads ``text`` as a share: a text format detects
    its shares by parsing them, so that what is detected as that format is what it reads."""
    try:
        parse(text, "")
    except ShareError:
        return False
    return True


def read_passphrase_file(path: Path) -> bytes:
    """A passphrase from a 0600 file of its owner, read by the one secret reader
    (:func:`tcr_kit.secretio.read_secret_file`: one line, one line ending dropped).

    Returned as ``bytes`` because the SLIP-39 library takes nothing else; the reader's own
    buffer is wiped.
    """
    from tcr_kit.secretio import read_secret_file

    with read_secret_file(path, kind="passphrase") as secret:
        return bytes(secret.view())


def read_secret(source: BinaryIO, limit: int = MAX_IN_MEMORY) -> SecretBuffer:
    """Read a whole (small) secret into a wipeable buffer, leaving no stray copies."""
    buf = bytearray(4096)
    total = 0
    while True:
        if total == len(buf):
            if len(buf) > limit:
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


@contextmanager
def refused_by_format(name: str) -> Iterator[None]:
    """A format's ``ValueError`` (parameters its dialect refuses, such as a threshold above
    the count) as the :class:`InputError` (exit 2) that names the format."""
    try:
        yield
    except ValueError as exc:
        raise InputError(f"{name}: {exc}") from exc


S = TypeVar("S")


class TextFormat(Generic[S]):
    """A format whose shares are one line (or mnemonic) of text, in a file each.

    The format module supplies its dialect as functions: ``looks_like`` and ``parse`` of one
    share's text, ``split`` of an in-memory secret into share texts and ``combine`` of parsed
    shares (both reading their options from :class:`ForeignOptions`), and ``facts`` of one
    parsed share. This class does the files: reading, naming, writing (all or none, 0600).
    """

    in_memory = True

    def __init__(
        self,
        name: str,
        *,
        looks_like: Callable[[str], bool],
        parse: Callable[[str, str], S],
        split: Callable[[bytearray, int, int, ForeignOptions], list[str]],
        combine: Callable[[Sequence[S], ForeignOptions, int | None], CombineResult],
        facts: Callable[[S, ShareFacts], None],
    ) -> None:
        self.name = name
        self._looks_like = looks_like
        self._parse = parse
        self._split = split
        self._combine = combine
        self._facts = facts

    def __repr__(self) -> str:
        return f"<TextFormat {self.name}>"

    def share_name(self, stem: str, index: int) -> str:
        return text_share_name(stem, self.name, index)

    def detect(self, path: Path, head: bytes) -> bool:
        try:
            text = head.decode("utf-8").strip()
        except UnicodeDecodeError:
            return False
        return self._looks_like(text)

    def parse(self, path: Path) -> S:
        return self._parse(read_text(path), str(path))

    def split(
        self,
        source: BinaryIO,
        threshold: int,
        count: int,
        out_dir: Path,
        stem: str,
        options: ForeignOptions,
        *,
        force: bool = False,
    ) -> list[Path]:
        with read_secret(source) as secret:
            return self.split_secret(secret, threshold, count, out_dir, stem, options, force=force)

    def split_secret(
        self,
        secret: SecretBuffer,
        threshold: int,
        count: int,
        out_dir: Path,
        stem: str,
        options: ForeignOptions,
        *,
        force: bool = False,
    ) -> list[Path]:
        """Split an in-memory secret into ``count`` share files."""
        require_folder(out_dir)
        with refused_by_format(self.name):
            texts = self._split(secret.raw, threshold, count, options)
        paths = [out_dir / self.share_name(stem, i) for i in range(1, count + 1)]
        with atomic_outputs(paths, force=force) as handles:
            for handle, text in zip(handles, texts, strict=True):
                handle.write(text.encode("utf-8") + b"\n")
        return paths

    def combine_secret(
        self, paths: Sequence[Path], options: ForeignOptions, *, threshold: int | None = None
    ) -> CombineResult:
        """Combine share files into an in-memory secret (the caller wipes it)."""
        shares = [self.parse(p) for p in paths]
        with refused_by_format(self.name):
            result = self._combine(shares, options, threshold)
        if not result.verified and not any("verif" in w for w in result.warnings):
            result.warnings.append(
                f"{self.name} shares carry no integrity data: the result cannot be verified"
            )
        return result

    def combine(
        self,
        paths: Sequence[Path],
        sink: BinaryIO,
        options: ForeignOptions,
        *,
        threshold: int | None = None,
    ) -> CombineResult:
        result = self.combine_secret(paths, options, threshold=threshold)
        with result.secret:
            sink.write(result.secret.view())
        return result

    def describe(self, path: Path) -> ShareFacts:
        facts = ShareFacts(file=str(path), format=self.name)
        self._facts(self.parse(path), facts)
        return facts
