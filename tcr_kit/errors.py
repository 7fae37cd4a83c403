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


class FileExistsRefused(OperationalError):
    """An output path already exists and overwriting was not asked for."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: already exists; refusing to overwrite (use --force)")
        self.path = path
