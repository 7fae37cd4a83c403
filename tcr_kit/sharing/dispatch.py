"""Share files of any format: detect a set, split, combine and inspect, one entry point each.

Native shares go to :mod:`tcr_kit.sharing.files`, peer formats to their
:class:`~tcr_kit.sharing.formats.base.PeerFormat` (imported only when used). Outputs are
written atomically, mode 0600; a secret held in memory is in a wipeable buffer.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from tcr_kit.errors import ExitCode, InputError, TcrError
from tcr_kit.fileio import atomic_output, sha256_file
from tcr_kit.secrets import SecretBuffer, wipe
from tcr_kit.sharing import files, native
from tcr_kit.sharing.formats.base import ForeignOptions, ShareFacts
from tcr_kit.sharing.formats.registry import PEER_FORMATS, peer_format
from tcr_kit.sharing.result import CombineResult

__all__ = [
    "FORMATS",
    "ByteProgress",
    "DetectedSet",
    "PeerSplit",
    "SecretSink",
    "ShareFilesRejected",
    "combine_files",
    "detect_set",
    "inspect_file",
    "inspect_files",
    "open_secret_file",
    "planned_share_names",
    "split_to_dir",
    "worst_exit_code",
]

FORMATS: tuple[str, ...] = (files.NATIVE, *PEER_FORMATS)
"""Every share format, native first."""

ByteProgress = Callable[[int], None]
"""Called with the number of secret bytes just read (split) or written (combine)."""


class _CountingReader:
    """``source`` as the splitters read it (``readinto``/``read``), telling ``progress``
    how many secret bytes each read returned. Nothing is buffered: no extra secret copy."""

    def __init__(self, source: BinaryIO, progress: ByteProgress) -> None:
        self._source = source
        self._progress = progress

    def readinto(self, buffer: bytearray | memoryview) -> int:
        n = self._source.readinto(buffer) or 0  # type: ignore[attr-defined]
        if n:
            self._progress(n)
        return int(n)

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        if data:
            self._progress(len(data))
        return data

    def __getattr__(self, name: str) -> object:
        return getattr(self._source, name)


@dataclass
class DetectedSet:
    """Share files of one format (manifests left out) and what detection noticed."""

    format: str
    paths: list[Path]
    warnings: list[str] = field(default_factory=list)


def detect_set(
    paths: Sequence[Path],
    fmt: str = "auto",
    *,
    on_warning: Callable[[str], object] | None = None,
) -> DetectedSet:
    """One format for all share files (manifests skipped); mixed formats are refused.

    ``on_warning`` hears each warning as it arises (also when detection then fails); the
    result lists them too.
    """
    kept: list[Path] = []
    warnings: list[str] = []
    seen: dict[str, Path] = {}
    for path in paths:
        detected = files.detect_format(path) if fmt == "auto" else fmt
        if detected == files.MANIFEST:
            warnings.append(f"{path} is a share-set manifest, not a share; ignored")
            if on_warning is not None:
                on_warning(warnings[-1])
            continue
        seen.setdefault(detected, path)
        kept.append(path)
    if len(seen) > 1:
        described = ", ".join(f"{p} is {f}" for f, p in seen.items())
        raise InputError(f"share files of different formats given ({described})")
    if not kept:
        raise InputError("no share files given")
    return DetectedSet(next(iter(seen)), kept, warnings)


def open_secret_file(path: Path, *, on_warning: Callable[[str], object] | None = None) -> BinaryIO:
    """Open a secret file (or FIFO) to split; ``on_warning`` hears if others may read it."""
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    st = os.fstat(fh.fileno())
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISFIFO(st.st_mode):
        fh.close()
        raise InputError(f"{path}: not a regular file")
    if stat.S_IMODE(st.st_mode) & 0o077 and on_warning is not None:
        on_warning(
            f"{path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            "secrets belong in 0600 files"
        )
    return fh


def planned_share_names(fmt: str, stem: str, count: int, encoding: str = "auto") -> list[str]:
    """The file names a split would write (for a dry run); ``encoding`` is native's."""
    if fmt == files.NATIVE:
        names = [files.native_share_name(stem, i, encoding == "text") for i in range(1, count + 1)]
        return [*names, files.manifest_name(stem)]
    peer = peer_format(fmt)
    return [peer.share_name(stem, i) for i in range(1, count + 1)]


@dataclass
class PeerSplit:
    """A finished split into a peer format: the files written, in index order."""

    format: str
    threshold: int
    count: int
    paths: list[Path]
    warnings: list[str] = field(default_factory=list)

    def share_rows(self) -> list[dict[str, object]]:
        """Index, file and SHA-256 of every share file written."""
        return [
            {"index": i, "file": str(path), "sha256": sha256_file(path).hex()}
            for i, path in enumerate(self.paths, 1)
        ]

    def record(self) -> dict[str, object]:
        """The split as a JSON-ready dict (no secret)."""
        return {
            "ok": True,
            "format": self.format,
            "threshold": self.threshold,
            "count": self.count,
            "shares": self.share_rows(),
        }


def split_to_dir(
    fmt: str,
    source: BinaryIO,
    threshold: int,
    count: int,
    out_dir: Path,
    stem: str,
    options: ForeignOptions | None = None,
    *,
    label: str | None = None,
    encoding: str = "auto",
    force: bool = False,
    progress: ByteProgress | None = None,
) -> files.SplitOutcome | PeerSplit:
    """Split the secret ``source`` yields into share files of ``fmt`` (all or none, 0600).

    ``label`` and ``encoding`` are native's; ``options`` the peer formats'. ``progress``
    (for a progress bar) is told how many secret bytes each read took; the kernels are
    untouched by it.
    """
    if progress is not None:
        source = cast(BinaryIO, _CountingReader(source, progress))
    if fmt == files.NATIVE:
        return files.split_native_to_dir(
            source, threshold, count, out_dir, stem, label=label, encoding=encoding, force=force
        )
    paths = peer_format(fmt).split(
        source, threshold, count, out_dir, stem, options or ForeignOptions(), force=force
    )
    # Every peer format refuses threshold 1, so that warning is native's alone.
    warning = f"{fmt} shares carry no tcr-kit integrity data; prefer --format native for custody"
    return PeerSplit(fmt, threshold, count, paths, [warning])


class SecretSink:
    """A writable sink collecting a secret in a wipeable buffer (no stray copies on growth).

    Use as a context manager, or call :meth:`take` to get the secret as a
    :class:`SecretBuffer` (the caller wipes it); :meth:`wipe` otherwise.
    """

    def __init__(self) -> None:
        self._buf = bytearray(4096)
        self._length = 0

    def __repr__(self) -> str:
        return f"<SecretSink {self._length} bytes>"

    def write(self, data: bytes | bytearray | memoryview) -> int:
        size = len(data)
        needed = self._length + size
        if needed > len(self._buf):
            bigger = bytearray(max(needed, 2 * len(self._buf)))
            bigger[: self._length] = memoryview(self._buf)[: self._length]
            wipe(self._buf)
            self._buf = bigger
        self._buf[self._length : needed] = data
        self._length = needed
        return size

    def take(self) -> SecretBuffer:
        """The collected secret; the sink is empty afterwards."""
        secret = SecretBuffer(memoryview(self._buf)[: self._length])
        self.wipe()
        return secret

    def wipe(self) -> None:
        wipe(self._buf)
        self._length = 0

    def __enter__(self) -> SecretSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.wipe()


def combine_files(
    fmt: str,
    paths: Sequence[Path],
    options: ForeignOptions | None = None,
    *,
    threshold: int | None = None,
    output: Path | None = None,
    sink: BinaryIO | None = None,
    force: bool = False,
    set_id: bytes | None = None,
    progress: ByteProgress | None = None,
) -> CombineResult:
    """Combine share files of ``fmt`` into ``output`` (atomic, 0600) or ``sink``.

    Native shares are verified before a byte is written; formats that combine in memory
    combine before the output is created. ``threshold`` is the peer formats' (required for
    ssss); ``set_id`` native's (which set, when shares of several are given). The result's
    ``secret`` is empty: the secret went to the output. ``progress`` is told how many bytes
    of a native secret each combined block holds (peer formats hold small secrets and
    combine them at once: it is not called for them).
    """
    if output is None and sink is None:
        raise ValueError("need an output path or a sink")
    if fmt == files.NATIVE:
        return files.combine_native_to(
            paths, output, sink, force=force, set_id=set_id, progress=progress
        )
    if set_id is not None:
        raise InputError(f"{fmt} shares have no set id: a set id selects native shares only")
    peer = peer_format(fmt)
    options = options or ForeignOptions()
    if output is None:
        return peer.combine(paths, cast(BinaryIO, sink), options, threshold=threshold)
    if not peer.in_memory:
        with atomic_output(output, force=force) as handle:
            return peer.combine(paths, handle, options, threshold=threshold)
    with SecretSink() as collected:
        result = peer.combine(paths, cast(BinaryIO, collected), options, threshold=threshold)
        with collected.take() as secret, atomic_output(output, force=force) as handle:
            handle.write(secret.view())
    return result


class ShareFilesRejected(TcrError):
    """Some of several share files failed a check (``tcr shares inspect``).

    The message is one file's fault; ``exit_code`` is the worst among all the files' faults.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = ExitCode(exit_code)


def inspect_file(path: Path, fmt: str = "auto") -> ShareFacts:
    """What one share file says about itself and whether its checksum holds; no secret.

    Never raises for a bad file: the facts carry the error and its exit code.
    """
    facts = ShareFacts(file=str(path))
    try:
        facts.format = detected = files.detect_format(path) if fmt == "auto" else fmt
        if detected == files.MANIFEST:
            facts.checksum = "-"
        elif detected == files.NATIVE:
            share = native.open_share_file(path, str(path))
            h = share.header
            facts.set_id = h.set_id_hex
            facts.index = h.index
            facts.threshold = h.threshold
            facts.count = h.count
            facts.label = h.label
            facts.secret_length = h.secret_length
            share.check()
            facts.checksum = "ok"
            facts.sha256 = share.digest().hex()
        else:
            described = peer_format(detected).describe(path)
            described.format = detected
            facts = described
    except TcrError as exc:
        facts.exit_code = int(exc.exit_code)
        facts.checksum = "BAD"
        facts.error = str(exc)
    return facts


def inspect_files(paths: Sequence[Path], fmt: str = "auto") -> list[ShareFacts]:
    """:func:`inspect_file` of every path, in order."""
    return [inspect_file(path, fmt) for path in paths]


def worst_exit_code(facts: Sequence[ShareFacts]) -> int:
    """The highest exit code among the files' errors (0 when every file passed)."""
    return max((f.exit_code for f in facts), default=0)
