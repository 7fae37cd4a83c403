"""Share files on disk: naming, format detection and the split/combine jobs the CLI runs.

The CLI parses options and prints; this module does everything between: it picks the
encoding, names the files, writes them atomically (all or none, 0600) and reads any mix of
share files back.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from tcr_kit.errors import InputError
from tcr_kit.fileio import atomic_output, atomic_outputs, require_folder
from tcr_kit.secrets import wipe
from tcr_kit.sharing import native
from tcr_kit.sharing.errors import ShareChangedError, ShareError, UnknownFormatError
from tcr_kit.sharing.formats.registry import TEXT_FORMATS, detect_peer_format
from tcr_kit.sharing.native_header import validate_label
from tcr_kit.sharing.result import CombineResult

TEXT_AUTO_LIMIT = 256
"""Secrets up to this many bytes get text shares by default (paper-friendly)."""

NATIVE = "native"
MANIFEST = "manifest"
"""Not a share: the public record a split writes beside the shares."""


def share_stem(input_name: str | None) -> str:
    """The name shares are derived from: the input file's name, or ``secret`` for stdin."""
    if not input_name or input_name == "-":
        return "secret"
    return Path(input_name).name


_SHARE_SUFFIX = re.compile(
    rf"\.(?:(?:{'|'.join(('share', *TEXT_FORMATS))})-\d{{3}}\.(?:txt|tcrs)|\d{{3}})$"
)


def stem_of_share(path: Path) -> str:
    """The stem a share file was named from (``secret.bin.share-001.txt`` -> ``secret.bin``)."""
    return _SHARE_SUFFIX.sub("", path.name) or "secret"


def manifest_name(stem: str) -> str:
    """``<stem>.manifest.json``: the share set's public record, written beside the shares."""
    return f"{stem}.manifest.json"


def native_share_name(stem: str, index: int, text: bool) -> str:
    """``<stem>.share-NNN.txt`` (text) or ``<stem>.share-NNN.tcrs`` (compact)."""
    return f"{stem}.share-{index:03d}.{'txt' if text else 'tcrs'}"


class _Prefixed(io.RawIOBase):
    """A readable stream that first yields ``prefix`` then the rest of ``rest``.

    ``prefix`` is secret and owned by this object: it is wiped once read, or on close.
    """

    def __init__(self, prefix: bytearray, rest: BinaryIO) -> None:
        self._buffer = prefix
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(buf), len(self._prefix))
            buf[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            if not self._prefix:
                wipe(self._buffer)
            return n
        return self._rest.readinto(buf)  # type: ignore[attr-defined, no-any-return]

    def close(self) -> None:
        wipe(self._buffer)
        super().close()


@dataclass
class SplitOutcome:
    """A finished split: the manifest and the files written, in index order."""

    manifest: native.SplitManifest
    paths: list[Path]
    encoding: str
    warnings: list[str] = field(default_factory=list)
    manifest_path: Path | None = None
    manifest_digest: bytes = b""

    def share_rows(self) -> list[dict[str, object]]:
        """Index, file and share digest of every share written."""
        digests = self.manifest.share_digests
        return [
            {"index": i, "file": str(p), "share_sha256": d.hex()}
            for i, (p, d) in enumerate(zip(self.paths, digests, strict=True), 1)
        ]

    def record(self) -> dict[str, object]:
        """The split as a JSON-ready dict (no secret)."""
        m = self.manifest
        return {
            "ok": True,
            "format": NATIVE,
            "encoding": self.encoding,
            "set_id": m.set_id_hex,
            "threshold": m.threshold,
            "count": m.count,
            "secret_length": m.secret_length,
            "label": m.label,
            "shares": self.share_rows(),
            "manifest": str(self.manifest_path),
            "manifest_sha256": self.manifest_digest.hex(),
        }


def split_native_to_dir(
    source: BinaryIO,
    threshold: int,
    count: int,
    out_dir: Path,
    stem: str,
    *,
    label: str | None = None,
    encoding: str = "auto",
    force: bool = False,
) -> SplitOutcome:
    """Split ``source`` into native share files in ``out_dir``; all files appear or none.

    ``encoding`` is ``text``, ``compact`` or ``auto`` (text for secrets up to
    :data:`TEXT_AUTO_LIMIT` bytes).
    """
    if encoding not in {"auto", "text", "compact"}:
        raise ValueError("encoding must be auto, text or compact")
    try:
        label = validate_label(label)
    except ValueError as exc:
        raise InputError(f"invalid label: {exc}") from None
    require_folder(out_dir)
    if encoding == "auto":
        head = bytearray(TEXT_AUTO_LIMIT + 1)
        n = source.readinto(head)  # type: ignore[attr-defined]
        while n and n < len(head):
            more = source.readinto(memoryview(head)[n:])  # type: ignore[attr-defined]
            if not more:
                break
            n += more
        encoding = "text" if n <= TEXT_AUTO_LIMIT else "compact"
        # Unbuffered: the splitter only uses readinto, and a buffer would keep secret bytes.
        source = cast(BinaryIO, _Prefixed(head[:n], source))
        wipe(head)
    text = encoding == "text"
    warnings = []
    if threshold == 1:
        warnings.append("threshold 1: every single share reveals the secret")
    paths = [out_dir / native_share_name(stem, i, text) for i in range(1, count + 1)]
    manifest_path = out_dir / manifest_name(stem)
    with atomic_outputs([*paths, manifest_path], force=force) as all_handles:
        handles, manifest_handle = all_handles[:-1], all_handles[-1]
        if text:
            sinks = [io.BytesIO() for _ in handles]
            manifest = native.split_stream(source, threshold, count, sinks, label=label)
            body_length = len(sinks[0].getbuffer()) - len(native.MAGIC)
            if text_share_size(body_length) > native.TEXT_SIZE_LIMIT:
                raise InputError(
                    f"a {manifest.secret_length}-byte secret is too large for text shares "
                    f"(their files would exceed {native.TEXT_SIZE_LIMIT >> 20} MiB): "
                    "use --encoding compact"
                )
            for sink, handle in zip(sinks, handles, strict=True):
                share = native.decode_share(sink.getvalue())
                handle.write(share.encode_text().encode("ascii") + b"\n")
                buf = sink.getbuffer()
                buf[:] = bytes(len(buf))
                del buf
        else:
            manifest = native.split_stream(source, threshold, count, handles, label=label)
        record = manifest.record([p.name for p in paths])
        manifest_bytes = native.canonical_json(record) + b"\n"
        manifest_handle.write(manifest_bytes)
    return SplitOutcome(
        manifest, paths, encoding, warnings, manifest_path, hashlib.sha256(manifest_bytes).digest()
    )


def text_share_size(body_length: int) -> int:
    """Bytes of the text share file of a ``body_length``-byte share body (with its newline)."""
    symbols = 4 + (body_length * 8 + 4) // 5
    groups = -(-symbols // 5)
    lines = -(-groups // 6)
    return symbols + (groups - lines) + (lines - 1) + 1


def detect_format(path: Path) -> str:
    """The format of a share file, from its content (and name, for gfshare)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    if native.looks_like(head):
        return NATIVE
    if head.startswith(b'{"count":') and b'"manifest":"tcr-kit share set"' in head:
        return MANIFEST
    peer = detect_peer_format(path, head)
    if peer is not None:
        return peer
    raise UnknownFormatError(f"{path}: not a share file in any known format")


def open_native(paths: Sequence[Path]) -> tuple[list[native.NativeShare], dict[str, str]]:
    """Open native share files (text or compact), naming each by its path.

    A share too damaged to parse does not stop the others: it is returned in the second
    value (path -> reason) so that a combine can go on with the rest and name it.
    """
    shares: list[native.NativeShare] = []
    rejected: dict[str, str] = {}
    for p in paths:
        try:
            shares.append(native.open_share_file(p, str(p)))
        except ShareError as exc:
            rejected[str(p)] = exc.reason
    return shares, rejected


STDOUT_BUFFER_LIMIT = 16 << 20
"""Secrets up to this many bytes are recovered in memory and checked before a byte goes to a
stream (stdout); larger ones stream, and a share that changes meanwhile cuts the stream short
with an error. ``TCR_STDOUT_BUFFER_LIMIT`` (bytes) overrides it."""

PAUSE_AFTER_VERIFY_ENV = "TCR_TEST_PAUSE_AFTER_VERIFY"
"""Test hook: the path of a FIFO the combine reads to its end once the shares are verified
and before the secret is produced, so that a test can change a share in between
(:mod:`tcr_kit._testpause`: anything but a FIFO is refused, exit 2)."""


def stream_buffer_limit() -> int:
    """:data:`STDOUT_BUFFER_LIMIT`, or the ``TCR_STDOUT_BUFFER_LIMIT`` environment override."""
    value = os.environ.get("TCR_STDOUT_BUFFER_LIMIT", "")
    if not value:
        return STDOUT_BUFFER_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise InputError(f"TCR_STDOUT_BUFFER_LIMIT={value!r} is not a number of bytes") from None
    if limit < 0:
        raise InputError(f"TCR_STDOUT_BUFFER_LIMIT={value!r} is not a number of bytes")
    return limit


def parse_set_id(text: str) -> bytes:
    """A share set id from its hex form (as ``tcr shares inspect`` prints it)."""
    try:
        set_id = bytes.fromhex(text.strip())
    except ValueError:
        set_id = b""
    if len(set_id) != native.SET_ID_SIZE:
        raise InputError(
            f"set id {text!r}: expected {2 * native.SET_ID_SIZE} hex digits "
            "(as `tcr shares inspect` shows it)"
        )
    return set_id


def _pause_for_tests() -> None:
    from tcr_kit._testpause import pause_for_tests

    pause_for_tests(PAUSE_AFTER_VERIFY_ENV, "no secret was written")


def _counted(
    write: Callable[[memoryview], object], progress: Callable[[int], None]
) -> Callable[[memoryview], object]:
    """``write``, telling ``progress`` the size of every block it writes."""

    def counted(block: memoryview) -> object:
        written = write(block)
        progress(memoryview(block).nbytes)
        return written

    return counted


def _steps(progress: Callable[[int], None] | None) -> Callable[[int], None] | None:
    """A kernel's running total (bytes so far) as the increments ``progress`` counts."""
    if progress is None:
        return None
    last = 0

    def step(done: int) -> None:
        nonlocal last
        progress(done - last)
        last = done

    return step


class _NotAsPlanned(Exception):
    """The single pass combined other shares than verification chose: discard, redo."""


def _file_state(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _check_files_unchanged(
    paths: Sequence[Path], before: Sequence[tuple[int, int, int, int] | None]
) -> None:
    """A share file modified since the combine began fails it before the output is
    published, although the output was computed from the bytes that verified: what the
    ceremony holds is then no longer what was checked, and that deserves a halt."""
    for path, state in zip(paths, before, strict=True):
        if _file_state(path) != state:
            raise ShareChangedError(
                str(path),
                "changed while the secret was being recovered: the file was modified after "
                "it was read and verified, so the output was not written",
            )


def combine_native_to(
    paths: Sequence[Path],
    output: Path | None,
    sink: BinaryIO | None,
    *,
    force: bool = False,
    set_id: bytes | None = None,
    progress: Callable[[int], None] | None = None,
) -> CombineResult:
    """Verify native shares and write the secret to ``output`` (0600, atomic) or ``sink``.

    To ``output`` each share is read once (:func:`native.combine_single_pass`): the hidden
    file gets the secret from the bytes that are hashed and then verified, and is published
    only if verification chose the shares combined; otherwise (a bad share among spares) a
    plain combine follows. A share file modified before the output is published fails the
    combine (:class:`ShareChangedError`, exit 3) and ``output`` is never created. A ``sink``
    gets nothing until the whole secret is verified when it is at most
    :func:`stream_buffer_limit` bytes; a larger one is streamed, and if a share changes
    meanwhile the stream is cut short before its last block and the error says to discard it.
    ``set_id`` picks one set when shares of several are given; ``progress`` is told the
    size of every combined block as it is written.
    """
    shares, rejected = open_native(paths)
    if output is not None:
        # One pass reads each share once: the hidden output file gets the secret while every
        # payload is hashed, the shares are verified on those digests, and the file is
        # published only if the verified choice is the one combined. A bad share means a
        # second, plain combine (below); a failure leaves no file.
        plan = native.single_pass_plan(shares, set_id=set_id)
        if plan is not None:
            before = [_file_state(p) for p in paths]
            try:
                with atomic_output(output, force=force) as handle:
                    result = native.combine_single_pass(
                        shares, plan, handle, rejected, set_id=set_id, progress=_steps(progress)
                    )
                    if result is None:
                        raise _NotAsPlanned
                    _pause_for_tests()
                    _check_files_unchanged(paths, before)
                    return result
            except _NotAsPlanned:
                pass
    # Select first, so that a failed verification creates no file at all.
    selection = native.select_shares(shares, rejected, set_id=set_id)
    _pause_for_tests()
    if output is not None:
        with atomic_output(output, force=force) as handle:
            out = handle if progress is None else _counted(handle.write, progress)
            return native.combine_stream(shares, out, rejected, set_id=set_id)
    if sink is None:
        raise ValueError("need an output path or a sink")
    length = selection.chosen[0].header.secret_length
    if length <= stream_buffer_limit():
        secret = bytearray(length)
        position = 0

        def put(block: memoryview) -> None:
            nonlocal position
            secret[position : position + len(block)] = block
            position += len(block)

        try:
            put_counted = put if progress is None else _counted(put, progress)
            result = native.combine_stream(shares, put_counted, rejected, set_id=set_id)
            sink.write(memoryview(secret)[:position])
        finally:
            wipe(secret)
        return result
    try:
        streamed = sink if progress is None else _counted(sink.write, progress)
        return native.combine_stream(shares, streamed, rejected, set_id=set_id)
    except ShareChangedError as exc:
        raise ShareChangedError(
            exc.source,
            f"{exc.reason}; the output stream was cut short before its last block and what "
            "was written to it is NOT the secret: discard it",
        ) from exc
