"""Errors of HSM activation, each under one family of :mod:`tcr_kit.errors`."""

from __future__ import annotations

from tcr_kit.errors import InputError, IntegrityError, OperationalError, QuorumNotMet


class ConfigError(InputError):
    """The HSM configuration file is unreadable or invalid (exit 2)."""


class HsmError(OperationalError):
    """The HSM (its module, token or a PKCS#11 call) failed (exit 1)."""


class DuplicateCredential(InputError):
    """The same share or card was presented twice (exit 2)."""


class WrongShareSet(IntegrityError):
    """A share belongs to another share set, or to a retired epoch (exit 3)."""


class CustodyRefused(IntegrityError):
    """The custody ledger forbids this credential (sealed, retired, lost, or with an open
    discrepancy on it, its bag or its holder): refused before any PIN try (exit 3)."""


class SiteFileChanged(IntegrityError):
    """The site file (module path, environment, token) is not the one the ceremony in force
    recorded when it was opened: refused before any share is read (exit 3)."""


class SharesDoNotMatchHsm(IntegrityError):
    """The rebuilt secret's PIN was refused by the HSM (exit 3)."""


NotEnoughCredentials = QuorumNotMet
"""Fewer shares than the threshold were presented (exit 4); the one quorum error."""
