"""The one exception hierarchy of tcr-kit.

Every error the library raises on purpose derives from :class:`TcrError` and knows the
process exit code the CLI maps it to, so that a script driving ``tcr`` can tell an
operational hiccup (a card pulled, a file missing) from an integrity failure (a share that
does not belong) or a quorum that was not met. Caller misuse (a threshold above the count,
a negative length) raises :class:`ValueError` instead: that is a bug in the caller, not a
condition of the ceremony.

Packages add their own subclasses next to their code (``tcr_kit.cards.errors`` for
example), always below one of the four families here.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README and kept by every command."""

    OK = 0
    """Success."""
    FAILURE = 1
    """Operational failure: I/O, a device, a missing tool."""
    USAGE = 2
    """The command line or an input file is malformed."""
    INTEGRITY = 3
    """Corrupt, foreign, inconsistent or unverifiable data."""
    QUORUM = 4
    """Not enough shares or credentials: the quorum was not met."""
    NOT_PERMITTED = 5
    """The custody policy does not permit this person to do this (nothing was changed)."""


class TcrError(Exception):
    """Root of every deliberate tcr-kit error; carries its exit code."""

    exit_code: ExitCode = ExitCode.FAILURE


class OperationalError(TcrError):
    """Something outside the data failed: a file, a device, an external tool."""

    exit_code = ExitCode.FAILURE


class InputError(TcrError):
    """Input that cannot be parsed at all (a usage-level problem, exit 2)."""

    exit_code = ExitCode.USAGE


class IntegrityError(TcrError):
    """Data is corrupt, foreign, inconsistent or cannot be verified."""

    exit_code = ExitCode.INTEGRITY


class QuorumError(TcrError):
    """Fewer shares or credentials than the threshold requires."""

    exit_code = ExitCode.QUORUM


class NotPermitted(TcrError):
    """The custody policy refuses the action (exit 5); ``rule`` names the rule that refused.

    Nothing was changed: the check runs before any write (and a dry run reports it too).
    """

    exit_code = ExitCode.NOT_PERMITTED

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"not permitted (policy rule {rule}): {message}")
        self.rule = rule


class QuorumNotMet(QuorumError):
    """Fewer shares or credentials than the threshold were given (exit 4).

    ``have`` and ``need`` are the counts; the message is built from them, with ``detail``
    after a semicolon. ``of`` names what the quorum would activate (an HSM): the message
    then reads "2 of 3 shares presented for HSM-E: 1 more needed"; without it, "not enough
    shares: 2 given, 3 needed (1 more share)".
    """

    def __init__(self, have: int, need: int, detail: str = "", *, of: str | None = None) -> None:
        self.have = have
        self.need = need
        more = need - have
        if of is None:
            message = (
                f"not enough shares: {have} given, {need} needed "
                f"({more} more share{'s' if more != 1 else ''})"
            )
        else:
            message = f"{have} of {need} shares presented for {of}: {more} more needed"
        super().__init__(f"{message}; {detail}" if detail else message)

    @property
    def missing(self) -> int:
        """How many more shares are needed."""
        return self.need - self.have


class FileExistsRefused(OperationalError):
    """An output path already exists and overwriting was not asked for."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: already exists; refusing to overwrite (use --force)")
        self.path = path


__all__ = [
    "ExitCode",
    "FileExistsRefused",
    "InputError",
    "IntegrityError",
    "NotPermitted",
    "OperationalError",
    "QuorumError",
    "QuorumNotMet",
    "TcrError",
]
