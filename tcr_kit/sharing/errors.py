"""Errors of the sharing layer. Each names the share at fault where one can be named."""

from __future__ import annotations

from collections.abc import Sequence

from tcr_kit.errors import InputError, IntegrityError, QuorumNotMet


class UnknownFormatError(InputError):
    """The data is not a share in any format tcr-kit knows (exit 2)."""


class ShareError(IntegrityError):
    """A share is corrupt, malformed or does not belong (exit 3).

    ``source`` names the share (a file name, "share 3", ...) so the message can say which
    one is at fault.
    """

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}" if source else reason)


class ShareChecksumError(ShareError):
    """A share's own checksum does not match: mistyped or corrupted."""


class ForeignShareError(ShareError):
    """A share belongs to another share set."""


class ShareChangedError(ShareError):
    """A share file changed after it was verified, while the secret was being produced.

    What was output from it cannot be trusted: a file output is never published, a stream
    is cut short before its last block and must be discarded.
    """


class DuplicateShareError(ShareError):
    """Two different shares claim the same index."""


class InconsistentSharesError(IntegrityError):
    """The shares do not agree on one secret; names the ones found inconsistent, if any."""

    def __init__(self, message: str, culprits: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.culprits = list(culprits)


NotEnoughSharesError = QuorumNotMet  # fewer usable shares than the threshold (exit 4)


class AmbiguousSetsError(IntegrityError):
    """Shares of two or more complete share sets were given: which secret is meant is not
    for the combiner to guess (exit 3). ``set_ids`` are the sets, in hex."""

    def __init__(self, message: str, set_ids: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.set_ids = list(set_ids)
