"""Share conversion: recombine a set in memory and split the secret anew in another format.

A share cannot be translated alone (the formats differ in field and layout), so conversion
recovers the secret into a wipeable buffer (never on disk), checks it where the old format
allows, and makes a NEW share set. The old shares stay valid: they must be retired.

Two steps, so that a caller can report what the recombination found before splitting:
:func:`recover_secret` then :func:`split_secret`; :func:`convert_shares` does both.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing import files, native
from tcr_kit.sharing.dispatch import (
    DetectedSet,
    PeerSplit,
    SecretSink,
    combine_files,
    split_to_dir,
)
from tcr_kit.sharing.formats.base import ForeignOptions
from tcr_kit.sharing.result import CombineResult

__all__ = [
    "Recovered",
    "convert_shares",
    "recorded_size",
    "recover_secret",
    "split_secret",
]


def recorded_size(detected: DetectedSet) -> tuple[int | None, int | None]:
    """(threshold, count) of the old set where its shares record them, else ``None``s."""
    if detected.format == files.NATIVE:
        first = native.open_share_file(detected.paths[0], str(detected.paths[0]))
        return first.threshold, first.count
    return None, None


@dataclass
class Recovered:
    """A secret recombined in memory and the combine's report; wipe it (``with``)."""

    format: str
    secret: SecretBuffer
    result: CombineResult
    stem: str

    def retire_notice(self) -> str:
        """The sentence to tell the user once the new set exists."""
        return (
            f"a new share set was made from {len(self.result.used)} {self.format} shares; "
            "the old shares still recover the secret: retire and destroy them"
        )

    def __enter__(self) -> Recovered:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.secret.wipe()


def recover_secret(
    detected: DetectedSet,
    options: ForeignOptions | None = None,
    *,
    threshold: int | None = None,
    set_id: bytes | None = None,
    progress: Callable[[int], None] | None = None,
) -> Recovered:
    """Recombine the set into a wipeable buffer; native shares are verified first.

    ``threshold`` is the old set's, for peer formats that do not record it (ssss needs it);
    ``set_id`` picks one native set when shares of several are given; ``progress`` as in
    :func:`~tcr_kit.sharing.dispatch.combine_files`.
    """
    with SecretSink() as sink:
        result = combine_files(
            detected.format,
            detected.paths,
            options,
            threshold=threshold if detected.format != files.NATIVE else None,
            sink=cast(BinaryIO, sink),
            set_id=set_id,
            progress=progress,
        )
        secret = sink.take()
    return Recovered(detected.format, secret, result, files.stem_of_share(detected.paths[0]))


class _SecretReader(io.RawIOBase):
    """Reads a secret's bytes straight from its buffer (no copy held by the reader)."""

    def __init__(self, secret: SecretBuffer) -> None:
        self._view = secret.view()
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = min(len(buf), len(self._view) - self._position)
        buf[:n] = self._view[self._position : self._position + n]
        self._position += n
        return n

    def close(self) -> None:
        self._view.release()
        super().close()


def split_secret(
    secret: SecretBuffer,
    to_fmt: str,
    threshold: int,
    count: int,
    out_dir: Path,
    stem: str,
    options: ForeignOptions | None = None,
    *,
    label: str | None = None,
    encoding: str = "auto",
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> files.SplitOutcome | PeerSplit:
    """Split an in-memory secret into a new share set of ``to_fmt`` (all files or none);
    ``progress`` as in :func:`~tcr_kit.sharing.dispatch.split_to_dir`."""
    with _SecretReader(secret) as reader:
        return split_to_dir(
            to_fmt,
            cast(BinaryIO, reader),
            threshold,
            count,
            out_dir,
            stem,
            options,
            label=label,
            encoding=encoding,
            force=force,
            progress=progress,
        )


def convert_shares(
    detected: DetectedSet,
    to_fmt: str,
    out_dir: Path,
    options: ForeignOptions | None = None,
    *,
    threshold: int | None = None,
    count: int | None = None,
    old_threshold: int | None = None,
    label: str | None = None,
    encoding: str = "auto",
    force: bool = False,
) -> tuple[CombineResult, files.SplitOutcome | PeerSplit]:
    """Recombine ``detected`` and split it anew into ``to_fmt``; the old shares stay valid.

    The new set's ``threshold`` and ``count`` default to the old set's where recorded.
    ``old_threshold`` is the old set's threshold for formats that do not record it.
    """
    old_m, old_n = recorded_size(detected)
    new_m, new_n = threshold or old_m, count or old_n
    if new_m is None or new_n is None:
        raise ValueError(f"{detected.format} shares do not record the set's size")
    with recover_secret(detected, options, threshold=old_threshold) as recovered:
        outcome = split_secret(
            recovered.secret,
            to_fmt,
            new_m,
            new_n,
            out_dir,
            recovered.stem,
            options,
            label=label,
            encoding=encoding,
            force=force,
        )
        return recovered.result, outcome
