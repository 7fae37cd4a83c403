"""Which card to use: a selector from options or from an enrolment record, and opening it.

A card is named either as a PKCS#11 token (module path, then the token's label or serial)
or as the card in a PC/SC reader. The CLI, activation scripts and the HSM activation all
name cards this way, so the rules for a complete, unambiguous selection live here once.
The refusals of :func:`select_card` use the option names of ``tcr card`` (``--reader``,
``--pkcs11-module``, ``--token-label``, ``--token-serial``): those are the names every
caller of it exposes.

An enrolment record names its card by backend and serial. That is enough for a PKCS#11
token (together with the module path), but not for a PC/SC card: a record does not keep
the reader's name, which belongs to the machine and not to the card.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tcr_kit.cards.errors import CardSelectionError

if TYPE_CHECKING:
    from tcr_kit.cards.base import Card
    from tcr_kit.cards.record import EnrolmentRecord

__all__ = [
    "AskForCard",
    "CardRequest",
    "CardSelector",
    "WaitForCard",
    "open_card",
    "select_card",
    "selector_for_record",
    "wait_in_reader",
]


@dataclass(frozen=True)
class CardSelector:
    """Which card: a PKCS#11 token (module + label or serial) or a PC/SC reader."""

    pkcs11_module: str | None = None
    token_label: str | None = None
    token_serial: str | None = None
    reader: str | None = None

    def __post_init__(self) -> None:
        if (self.pkcs11_module is None) == (self.reader is None):
            raise ValueError("select either a PKCS#11 module or a PC/SC reader")
        if self.pkcs11_module is not None and (self.token_label is None) == (
            self.token_serial is None
        ):
            raise ValueError("a PKCS#11 card is selected by token label or serial")

    @property
    def is_pcsc(self) -> bool:
        """A card in a PC/SC reader (profile tcr-iso7816-v1: PIN, PUK, no keys)."""
        return self.reader is not None

    @property
    def unblock_secret(self) -> str:
        """What resets a forgotten PIN: the card's PUK, or the token's SO PIN."""
        return "PUK" if self.is_pcsc else "SO PIN"

    def describe(self) -> str:
        if self.reader is not None:
            return f"reader '{self.reader}'"
        which = f"label '{self.token_label}'" if self.token_label else f"serial {self.token_serial}"
        return f"PKCS#11 token {which}"


def select_card(
    pkcs11_module: str | None,
    token_label: str | None,
    token_serial: str | None,
    reader: str | None,
) -> CardSelector:
    """The card named by the four selection options, or :class:`CardSelectionError`.

    A reader wins over the module path (one ``--pkcs11-module`` serves commands that name
    two cards, one of which may be in a reader); a token needs exactly one of label and
    serial.
    """
    if reader is not None and (token_label or token_serial):
        raise CardSelectionError("give either a reader or a PKCS#11 token, not both")
    if reader is None and pkcs11_module is None:
        raise CardSelectionError(
            "select a card: --reader NAME, or --pkcs11-module PATH with a token"
        )
    if reader is None and (token_label is None) == (token_serial is None):
        raise CardSelectionError("select the token by --token-label or --token-serial (one)")
    return CardSelector(
        pkcs11_module=pkcs11_module if reader is None else None,
        token_label=token_label,
        token_serial=token_serial,
        reader=reader,
    )


def selector_for_record(
    record: EnrolmentRecord,
    *,
    pkcs11_module: str | None = None,
    reader: str | None = None,
    token_label: str | None = None,
    token_serial: str | None = None,
) -> CardSelector:
    """The card an enrolment record names, unless the caller names it explicitly.

    With a reader, label or serial given, those select the card (as :func:`select_card`).
    Otherwise a PKCS#11 record selects its token by the recorded serial in
    ``pkcs11_module``; a PC/SC record cannot select a card by itself (it does not keep the
    reader name) and raises :class:`CardSelectionError`. The card found is still to be
    checked against the record (:func:`tcr_kit.cards.enrol.match_record`).
    """
    if reader is not None or token_label is not None or token_serial is not None:
        return select_card(pkcs11_module, token_label, token_serial, reader)
    if record.card.backend == "pcsc":
        raise CardSelectionError(
            f"the record of TCR {record.tcr.id} is for a PC/SC card: name the reader it is in"
        )
    if pkcs11_module is None:
        raise CardSelectionError(
            f"the record of TCR {record.tcr.id} is for a PKCS#11 token: give the module path"
        )
    return CardSelector(pkcs11_module=pkcs11_module, token_serial=record.card.serial)


@dataclass(frozen=True)
class CardRequest:
    """Something a person has to do with a card before the operation can go on."""

    action: Literal["insert", "remove"]
    card: str
    """Which card, in words ("the new card", "the card of TCR tcr-3 (Ann), serial 0A1B")."""
    reader: str

    def describe(self) -> str:
        """``insert the new card into Reader 0`` / ``remove the old card from Reader 0``."""
        where = "into" if self.action == "insert" else "from"
        return f"{self.action} {self.card} {where} {self.reader}"


AskForCard = Callable[[CardRequest], None]
"""Tell a person what to do with a card (print it, speak it, show it); must not block."""
WaitForCard = Callable[[str, float, bool], None]
"""``wait(reader, timeout, present)``: return once a card is (or is no longer) in the reader;
raise :class:`~tcr_kit.cards.errors.NoCard` on timeout. The default is PC/SC's own wait."""


def wait_in_reader(reader: str, timeout: float, present: bool) -> None:
    """The default :data:`WaitForCard`: PC/SC's own wait for a card to arrive or leave."""
    from tcr_kit.cards.apdu import wait_for_card

    wait_for_card(reader, timeout, present=present)


def _pcsc_has_card(reader: str) -> bool:
    from tcr_kit.cards.apdu import reader_has_card

    return reader_has_card(reader)


def open_card(
    selector: CardSelector,
    *,
    allow_last_try: bool = False,
    wait: float = 0.0,
    ask: AskForCard | None = None,
    card_name: str = "the card",
    wait_for: WaitForCard | None = None,
) -> Card:
    """Open the selected card (raises the card errors when it is not there).

    For a PC/SC reader that is empty, ``wait`` > 0 first asks for ``card_name`` through
    ``ask`` and waits that many seconds for a card to be inserted (through ``wait_for``,
    by default :func:`wait_in_reader`). ``allow_last_try``
    lets a PIN be presented when only one try is left (the CLI's ``--force``).
    """
    if selector.reader is not None:
        from tcr_kit.cards.pcsc_backend import PcscCard

        if wait > 0 and not _pcsc_has_card(selector.reader):
            if ask is not None:
                ask(CardRequest("insert", card_name, selector.reader))
            (wait_for or wait_in_reader)(selector.reader, wait, True)
        return PcscCard(selector.reader, allow_last_try=allow_last_try)
    from tcr_kit.cards.pkcs11_backend import Pkcs11Card

    assert selector.pkcs11_module is not None  # noqa: S101 - checked in __post_init__
    return Pkcs11Card(
        selector.pkcs11_module,
        token_label=selector.token_label,
        token_serial=selector.token_serial,
        allow_last_try=allow_last_try,
    )
