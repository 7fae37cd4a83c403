"""libgfshare (``gfsplit`` / ``gfcombine``): file shares, streamed.

Facts of the format (libgfshare 2.0 manual pages and behaviour, confirmed by the integration
tests against the Debian binaries):

* GF(2^8) with x^8 + x^4 + x^3 + x^2 + 1 (0x11D); every byte of the file is shared on its own
  with a random polynomial of degree t - 1 whose constant term is the secret byte.
* One file per share, named ``<stem>.<NNN>`` with NNN the share's x value in three decimal
  digits (001..255); the content is the raw y bytes, as long as the secret. gfsplit draws
  the x values at random; tcr-kit writes x = 1..n.
* Nothing else: no header, no threshold, no checksum. Combining fewer shares than the
  threshold, or a share of another set, gives garbage without an error.

Files may be many GiB: both directions stream chunk by chunk through the kernels of
:mod:`tcr_kit.sharing.stream`, holding one chunk per share in memory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from tcr_kit.errors import OperationalError
from tcr_kit.fileio import atomic_outputs, require_folder
from tcr_kit.secrets import SecretBuffer, wipe
from tcr_kit.sharing.errors import DuplicateShareError, ForeignShareError, ShareError
from tcr_kit.sharing.formats.base import ForeignOptions, ShareFacts, refused_by_format
from tcr_kit.sharing.formats.common import (
    agreeing_extra_note,
    refuse_off_polynomial,
    require_enough,
)
from tcr_kit.sharing.gf256 import GFSHARE_POLY, field
from tcr_kit.sharing.result import CombineResult
from tcr_kit.sharing.stream import CHUNK_SIZE, BulkRandom, CombineKernel, SplitKernel

FORMAT_NAME = "gfshare"
"""Name of this format in auto-detection and reports."""

MAX_SHARES = 255
"""x values are the non-zero bytes."""

SHARE_MODE = 0o600
"""Share files are readable by their owner only."""

_NAME_RE = re.compile(r"^(?P<stem>.+)\.(?P<index>[0-9]{3})$")


def share_name(basename: str, index: int) -> str:
    """The file name gfsplit gives share ``index`` of ``basename``."""
    return f"{basename}.{index:03d}"


def index_from_name(path: Path | str) -> int:
    """The x value a share file's name carries (``secret.bin.042`` -> 42).

    Raises :class:`ShareError` naming the file when the name has no valid ``.NNN`` suffix.
    """
    name = Path(path).name
    match = _NAME_RE.match(name)
    if match is None:
        raise ShareError(str(path), "gfshare share names end in .NNN (the share number)")
    index = int(match["index"])
    if not 1 <= index <= MAX_SHARES:
        raise ShareError(str(path), f"share number {index} is outside 1..255")
    return index


def looks_like_path(path: Path | str) -> bool:
    """True if ``path`` is named like a gfshare share (and is not a directory)."""
    try:
        index_from_name(path)
    except ShareError:
        return False
    return not Path(path).is_dir()


def _check_parameters(threshold: int, count: int, basename: str) -> None:
    if not 2 <= threshold <= count:
        raise ValueError("gfshare needs 2 <= threshold <= count")
    if count > MAX_SHARES:
        raise ValueError(f"at most {MAX_SHARES} shares in GF(2^8)")
    if not basename or "/" in basename or basename in {".", ".."} or "\0" in basename:
        raise ValueError("basename must be a plain file name")


def _fill(source: BinaryIO, view: memoryview) -> int:
    """Read up to ``len(view)`` bytes into ``view`` (in place when the stream allows it)."""
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        total = 0
        while total < len(view):
            got = readinto(view[total:])
            if not got:
                break
            total += int(got)
        return total
    data = source.read(len(view))
    view[: len(data)] = data
    return len(data)


def split_stream(
    source: BinaryIO,
    threshold: int,
    count: int,
    out_dir: Path,
    basename: str,
    *,
    force: bool = False,
) -> list[Path]:
    """Split everything ``source`` yields into ``count`` share files in ``out_dir``.

    Shares are ``out_dir/basename.001`` .. ``.NNN`` (x = 1..count), mode 0600, written as
    :func:`tcr_kit.fileio.atomic_outputs` writes: all appear or none. Existing files are
    refused (:class:`FileExistsRefused`) unless ``force``, which replaces regular files only
    and keeps every old one if the split fails.
    """
    _check_parameters(threshold, count, basename)
    out_dir = Path(out_dir)
    xs = list(range(1, count + 1))
    paths = [out_dir / share_name(basename, x) for x in xs]
    kernel = SplitKernel(field(GFSHARE_POLY), xs, threshold)
    rng = BulkRandom()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    try:
        with atomic_outputs(paths, force=force, mode=SHARE_MODE) as handles:
            while True:
                filled = _fill(source, view)
                if not filled:
                    break
                chunks = kernel.process(view[:filled], kernel.random_arrays(filled, rng))
                try:
                    for handle, chunk in zip(handles, chunks, strict=True):
                        handle.write(memoryview(chunk))
                finally:
                    # The first threshold - 1 chunks are random; the rest combine the secret.
                    for chunk in chunks:
                        wipe(chunk)
    finally:
        wipe(buffer)
    return paths


def _read_exact(handle: BinaryIO, size: int, path: Path) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise ShareError(str(path), "share file changed length while being read")
    return data


def combine_paths(
    paths: Sequence[Path],
    sink: BinaryIO,
    *,
    threshold: int | None = None,
) -> CombineResult:
    """Interpolate the secret from gfshare share files and stream it into ``sink``.

    The returned result's ``secret`` is empty (the secret went to ``sink``). gfshare shares
    do not record their threshold: pass ``threshold`` to have too few shares refused and the
    shares beyond it checked against the others; without it every share is used.
    """
    if threshold is not None and threshold < 2:
        raise ValueError("gfshare thresholds are at least 2")
    warnings: list[str] = []
    rejected: dict[str, str] = {}
    chosen: list[tuple[int, Path]] = []
    seen: dict[int, Path] = {}
    for raw_path in paths:
        path = Path(raw_path)
        index = index_from_name(path)
        previous = seen.get(index)
        if previous is not None:
            if previous.resolve() == path.resolve():
                rejected[str(path)] = f"same file as {previous}"
                continue
            raise DuplicateShareError(str(path), f"share number {index} also given as {previous}")
        seen[index] = path
        chosen.append((index, path))
    require_enough(chosen, threshold)
    sizes: list[int] = []
    for _, path in chosen:
        try:
            sizes.append(path.stat().st_size)
        except OSError as exc:
            raise OperationalError(f"{path}: cannot read: {exc.strerror}") from exc
    first_path = chosen[0][1]
    for (_, path), size in zip(chosen, sizes, strict=True):
        if size != sizes[0]:
            raise ForeignShareError(
                str(path), f"{size} bytes, but {first_path} has {sizes[0]}: not the same set"
            )
    if threshold is None:
        warnings.append(
            "gfshare shares do not record their threshold: if fewer shares than the threshold "
            "were given, the output is wrong and nothing can tell."
        )
        base, extra = chosen, []
    else:
        base, extra = chosen[:threshold], chosen[threshold:]
    gf = field(GFSHARE_POLY)
    kernel = CombineKernel(gf, [x for x, _ in base])
    import numpy

    checks = [
        (
            path,
            [
                numpy.frombuffer(gf.mul_table(c), dtype=numpy.uint8)
                for c in gf.lagrange_coefficients([x for x, _ in base], at=x_extra)
            ],
        )
        for x_extra, path in extra
    ]
    culprits: list[str] = []
    handles: list[BinaryIO] = []
    try:
        for _, path in chosen:
            try:
                handles.append(path.open("rb"))
            except OSError as exc:
                raise OperationalError(f"{path}: cannot open: {exc.strerror}") from exc
        remaining = sizes[0]
        while remaining:
            size = min(CHUNK_SIZE, remaining)
            chunks = [_read_exact(h, size, p) for h, (_, p) in zip(handles, chosen, strict=True)]
            base_chunks = chunks[: len(base)]
            for (path, tables), data in zip(checks, chunks[len(base) :], strict=True):
                if str(path) in culprits:
                    continue
                expected = numpy.zeros(size, dtype=numpy.uint8)
                for table, chunk in zip(tables, base_chunks, strict=True):
                    expected ^= table[numpy.frombuffer(chunk, dtype=numpy.uint8)]
                if not numpy.array_equal(expected, numpy.frombuffer(data, dtype=numpy.uint8)):
                    culprits.append(str(path))
            refuse_off_polynomial(culprits, (str(p) for _, p in base), threshold)
            out = kernel.process(base_chunks)
            try:
                sink.write(memoryview(out))
            finally:
                wipe(out)
            remaining -= size
        for handle, (_, path) in zip(handles, chosen, strict=True):
            if handle.read(1):
                raise ShareError(str(path), "share file grew while being read")
    finally:
        for handle in handles:
            handle.close()
    if extra:
        warnings.append(agreeing_extra_note(len(extra), "output"))
    warnings.append("gfshare shares carry no checksum or digest: the output cannot be verified.")
    return CombineResult(
        secret=SecretBuffer(0),
        verified=False,
        used=[str(p) for _, p in chosen],
        rejected=rejected,
        warnings=warnings,
    )


# --- share files ---------------------------------------------------------------------------


class GfshareFormat:
    """gfshare share files (``<stem>.NNN``, raw bytes) as a :class:`PeerFormat`; streams."""

    name = FORMAT_NAME
    in_memory = False

    def __repr__(self) -> str:
        return "<GfshareFormat>"

    def share_name(self, stem: str, index: int) -> str:
        return share_name(stem, index)

    def detect(self, path: Path, head: bytes) -> bool:
        return looks_like_path(path)

    def parse(self, path: Path) -> int:
        """The share's x value (all a gfshare share says about itself is in its name)."""
        return index_from_name(path)

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
        require_folder(out_dir)
        with refused_by_format(FORMAT_NAME):
            return split_stream(source, threshold, count, out_dir, stem, force=force)

    def combine(
        self,
        paths: Sequence[Path],
        sink: BinaryIO,
        options: ForeignOptions,
        *,
        threshold: int | None = None,
    ) -> CombineResult:
        with refused_by_format(FORMAT_NAME):
            return combine_paths(paths, sink, threshold=threshold)

    def describe(self, path: Path) -> ShareFacts:
        return ShareFacts(
            file=str(path),
            format=FORMAT_NAME,
            index=index_from_name(path),
            secret_length=path.stat().st_size,
            checksum="none",
        )


FORMAT: GfshareFormat = GfshareFormat()
"""The gfshare :class:`PeerFormat`."""
