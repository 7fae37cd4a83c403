"""Errors of the card layer, each under one family of :mod:`tcr_kit.errors`.

Operational (exit 1): the card, reader, middleware or token is missing, removed or refuses.
Integrity (exit 3): the card or its content is not the one expected (wrong card, another
share set, a digest that does not match the record). Usage (exit 2): an unusable new PIN,
or options that do not name exactly one card.
(A PIN file others can read, or that another user owns, is refused by
:func:`tcr_kit.secretio.read_secret_file`, exit 1, like every other secret-holding input file.)
"""

from __future__ import annotations

from tcr_kit.errors import InputError, IntegrityError, OperationalError


class CardError(OperationalError):
    """A card, token, reader or its middleware failed."""


class MiddlewareMissing(CardError):
    """The PKCS#11 module cannot be loaded, or pcscd is not running."""


class ReaderNotFound(CardError):
    """No reader (or no token) matches the selection."""


class NoCard(CardError):
    """The reader is empty, or no card arrived before the timeout."""


class CardRemoved(CardError):
    """The card was pulled (or reset) while it was being used."""

    def __init__(self, what: str = "card") -> None:
        self.detail = f"{what} was removed during the operation"
        super().__init__(f"{self.detail}; nothing was committed")


class CardOutcomeUnknown(CardError):
    """A card operation failed after it had begun changing the card (a write was
    acknowledged, or sent and never answered): the card may be half-changed, so the error
    never says "nothing was committed"; ``hint`` says how to finish."""

    def __init__(self, detail: str, hint: str) -> None:
        super().__init__(f"{detail}: the outcome is unknown (the card may be half-changed): {hint}")


class PinOutcomeUnknown(CardError):
    """A PIN change whose outcome is unknown (the card went away after the command was sent),
    or that took effect but was not finished: the PIN may be the new one."""

    MAY_HAVE_CHANGED = "the PIN may have changed: try the new PIN first"

    def __init__(self, detail: str, *, changed: bool = False) -> None:
        if changed:
            super().__init__(
                f"{detail}: the PIN has changed: use the new PIN (the share on the card "
                "stays readable with it)"
            )
        else:
            super().__init__(f"{detail}: {self.MAY_HAVE_CHANGED}")
        self.changed = changed


class ApduError(CardError):
    """The card answered a status word the operation cannot go on with."""

    def __init__(self, sw: int, context: str) -> None:
        super().__init__(f"{context}: card answered status word {sw:04X}")
        self.sw = sw


class PinIncorrect(CardError):
    """The PIN was wrong; ``attempts_left`` is ``None`` where the card cannot tell."""

    def __init__(self, attempts_left: int | None, what: str = "PIN") -> None:
        if attempts_left is None:
            msg = f"wrong {what} (this token does not report how many tries are left)"
        else:
            msg = f"wrong {what}: {attempts_left} tries left"
        super().__init__(msg)
        self.attempts_left = attempts_left


class PinBlocked(CardError):
    """The PIN (or PUK) has no tries left; the card must be unblocked (or replaced)."""

    def __init__(self, what: str = "PIN") -> None:
        super().__init__(f"{what} is blocked: no tries left (unblock with the PUK / SO PIN)")


class LastTryRefused(CardError):
    """Only one PIN try is left and the caller did not force the attempt."""

    def __init__(self, what: str | None = None) -> None:
        # Not every command that presents a PIN offers --force (an HSM activation does not):
        # name the one that always does, and why spending the try on it is the way back.
        where = "only one PIN try is left" if what is None else f"{what}: only one try is left"
        super().__init__(
            f"{where}: refusing to spend it (if you are sure of the PIN,"
            " tcr card check --with-pin --force spends it, and a right PIN resets the counter)"
        )


class NotEnrolled(CardError):
    """The card holds no committed enrolment."""


class AlreadyEnrolled(CardError):
    """The card already holds a committed enrolment (wipe it first)."""


class WrongCard(IntegrityError):
    """The card is not the one named by the enrolment record."""


class ForeignShareSet(IntegrityError):
    """The card belongs to another share set than the one expected."""


class CredentialCorrupt(IntegrityError):
    """The credential on the card fails authentication or its digest check."""


class CardSelectionError(InputError):
    """The options or the record do not name exactly one card (a usage error, exit 2)."""


class BadPin(InputError):
    """A new PIN does not meet the profile's length or character rules."""
