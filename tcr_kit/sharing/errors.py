"""Errors of the sharing layer. Each names the share at fault where one can be named."""

from __future__ import annotations

from collections.abc import Sequence

from tcr_kit.errors import InputError, IntegrityError, QuorumError


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


class DuplicateShareError(ShareError):
    """Two different shares claim the same index."""


class InconsistentSharesError(IntegrityError):
    """The shares do not agree on one secret; names the ones found inconsistent, if any."""

    def __init__(self, message: str, culprits: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.culprits = list(culprits)


class NotEnoughSharesError(QuorumError):
    """Fewer usable shares than the threshold (exit 4)."""

    def __init__(self, have: int, need: int, detail: str = "") -> None:
        self.have = have
        self.need = need
        more = need - have
        message = (
            f"not enough shares: {have} given, {need} needed "
            f"({more} more share{'s' if more != 1 else ''})"
        )
        super().__init__(f"{message}; {detail}" if detail else message)
