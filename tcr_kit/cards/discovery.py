"""Finding cards: every PC/SC reader and every token of a PKCS#11 module, with its facts.

Before a ceremony, staff want one view of what is plugged in: which readers hold a card,
which cards are blank or enrolled, for which TCR, with how many PIN tries left. Listing
never needs a PIN and never spends a try; a card that cannot be read is listed as unusable
with the reason instead of stopping the listing. Enrolment records given by the caller are
matched to cards by backend and serial, so each row can name its TCR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tcr_kit.cards.facts import CardFacts
from tcr_kit.cards.record import Backend, EnrolmentRecord
from tcr_kit.errors import TcrError

__all__ = ["CardListing", "ListedCard", "list_cards"]


@dataclass(frozen=True)
class ListedCard:
    """One reader or token: its card's facts, or why there are none."""

    backend: Backend
    location: str
    """Reader name, or PKCS#11 module and slot."""
    facts: CardFacts | None = None
    """``None`` when the reader is empty or the card could not be read (see ``state``)."""
    problem: str | None = None
    """``"no card"`` or ``"unusable: <reason>"`` when there are no facts."""
    record: EnrolmentRecord | None = None
    """The caller's enrolment record for this card (same backend and serial), if any."""

    @property
    def state(self) -> str:
        """The card's state (blank, pending, enrolled), or the problem."""
        if self.facts is not None:
            return self.facts.state
        return self.problem or "unknown"

    @property
    def record_matches(self) -> bool | None:
        """Whether the card still holds the enrolment of its record (``None``: no record)."""
        if self.record is None:
            return None
        return self.facts is not None and self.facts.enrolment_id == self.record.enrolment_id


@dataclass(frozen=True)
class CardListing:
    cards: list[ListedCard]
    warnings: list[str] = field(default_factory=list)
    """Problems that did not stop the listing (pcscd down while a PKCS#11 module was given)."""


def _pcsc_cards(readers: list[str]) -> list[ListedCard]:
    from tcr_kit.cards.apdu import reader_has_card
    from tcr_kit.cards.pcsc_backend import PcscCard

    found = []
    for reader in readers:
        if not reader_has_card(reader):
            found.append(ListedCard("pcsc", reader, problem="no card"))
            continue
        try:
            card = PcscCard(reader)
            try:
                found.append(ListedCard("pcsc", reader, CardFacts.from_status(card.status())))
            finally:
                card.close()
        except TcrError as exc:
            found.append(ListedCard("pcsc", reader, problem=f"unusable: {exc}"))
    return found


def _pkcs11_cards(module: str) -> list[ListedCard]:
    from tcr_kit.cards.pkcs11_backend import Pkcs11Card, list_tokens, token_text

    found = []
    for _where, token in list_tokens(module):
        card = Pkcs11Card(module, token_serial=token_text(token.serial))
        try:
            facts = CardFacts.from_status(card.status())
        finally:
            card.close()
        found.append(ListedCard("pkcs11", facts.location, facts))
    return found


def list_cards(
    pkcs11_module: str | None = None, records: Sequence[EnrolmentRecord] = ()
) -> CardListing:
    """Every PC/SC reader (with its card, if any), then every token of ``pkcs11_module``.

    Without a module, a PC/SC failure (pcscd not running) is raised; with one, it becomes a
    warning and the tokens are still listed. ``records`` are attached to the cards they name.
    """
    from tcr_kit.cards.apdu import list_readers

    warnings: list[str] = []
    try:
        readers = list_readers()
    except TcrError as exc:
        if pkcs11_module is None:
            raise
        warnings.append(str(exc))
        readers = []
    cards = _pcsc_cards(readers)
    if pkcs11_module is not None:
        cards += _pkcs11_cards(pkcs11_module)
    by_card = {(r.card.backend, r.card.serial): r for r in records}
    matched = [
        ListedCard(
            c.backend,
            c.location,
            c.facts,
            c.problem,
            by_card.get((c.backend, c.facts.serial)) if c.facts else None,
        )
        for c in cards
    ]
    return CardListing(matched, warnings)
