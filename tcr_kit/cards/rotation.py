"""Rotating a share between two selected cards, including with a single reader.

:func:`tcr_kit.cards.enrol.rotate_cards` does the rotation itself (read the share from the
old card, enrol and verify the new card, wipe the old card) given two ways to open the
cards. This module supplies those from two :class:`CardSelector` s. When both cards live in
the same PC/SC reader (a laptop with one reader is common in a ceremony), they cannot be
open at the same time: :class:`OneReaderSwap` asks for the swaps (old card out, new card
in; later new card out, old card in to wipe it) and waits for each. Asking goes through a
caller's callable, so the library never prints or prompts.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from functools import partial
from pathlib import Path

from tcr_kit.cards.base import Card
from tcr_kit.cards.enrol import EnrolResult, rotate_cards
from tcr_kit.cards.errors import CardSelectionError
from tcr_kit.cards.record import EnrolmentRecord, SigningAlgorithm, TcrRef
from tcr_kit.cards.selection import (
    AskForCard,
    CardRequest,
    CardSelector,
    WaitForCard,
    open_card,
    wait_in_reader,
)
from tcr_kit.secrets import SecretBuffer

__all__ = ["DEFAULT_SWAP_TIMEOUT", "OneReaderSwap", "rotate_selected", "uses_one_reader"]

DEFAULT_SWAP_TIMEOUT = 120.0
"""Seconds to wait for each card to be taken out or put in during a one-reader rotation."""


def uses_one_reader(old: CardSelector, new: CardSelector) -> bool:
    """Whether the rotation swaps cards in one reader; refuses two identical selections.

    The same reader for both cards is a swap; the same token (or the same reader) named
    twice otherwise would make the new card the old one.
    """
    one_reader = old.reader is not None and old.reader == new.reader
    if not one_reader and old == new:
        raise CardSelectionError("the old and the new card are the same selection")
    return one_reader


class OneReaderSwap:
    """``open_old`` and ``open_new`` for :func:`~tcr_kit.cards.enrol.rotate_cards` when both
    cards go into the same reader in turn.

    The first ``open_old`` opens the card that is in the reader now and remembers which
    card it is; ``open_new`` asks for it to be taken out and the new card put in;
    the second ``open_old`` asks for the swap back (rotate_cards then checks that the old
    card really is the same one before wiping it).
    """

    def __init__(
        self,
        old: CardSelector,
        new: CardSelector,
        *,
        ask: AskForCard,
        timeout: float = DEFAULT_SWAP_TIMEOUT,
        allow_last_try: bool = False,
        wait_for: WaitForCard | None = None,
    ) -> None:
        if old.reader is None or old.reader != new.reader:
            raise ValueError("a one-reader swap needs both cards selected by the same reader")
        self.reader = old.reader
        self.old, self.new = old, new
        self.ask, self.timeout = ask, timeout
        self.wait_for: WaitForCard = wait_for or wait_in_reader
        self.allow_last_try = allow_last_try
        self.old_card: str | None = None
        """The old card in words, once it was seen (``pcsc card serial ...``)."""

    def _swap(self, take_out: str, put_in: str) -> None:
        self.ask(CardRequest("remove", take_out, self.reader))
        self.wait_for(self.reader, self.timeout, False)
        self.ask(CardRequest("insert", put_in, self.reader))
        self.wait_for(self.reader, self.timeout, True)

    def open_old(self) -> Card:
        if self.old_card is not None:
            self._swap("the new card", f"the old card ({self.old_card}) to wipe it")
        card = open_card(self.old, allow_last_try=self.allow_last_try)
        if self.old_card is None:
            self.old_card = card.identity().describe()
        return card

    def open_new(self) -> Card:
        if self.old_card is None:
            raise RuntimeError("open the old card first")
        self._swap(f"the old card ({self.old_card})", "the new card")
        return open_card(self.new, allow_last_try=self.allow_last_try)


def _quiet(message: str) -> None:
    """The default progress callable: say nothing."""


def rotate_selected(
    old: CardSelector,
    new: CardSelector,
    old_pin: SecretBuffer,
    *,
    new_current_pin: SecretBuffer,
    new_pin: SecretBuffer,
    record_path: Path,
    old_record: EnrolmentRecord | None = None,
    tcr: TcrRef | None = None,
    puk: SecretBuffer | None = None,
    force: bool = False,
    allow_last_try: bool = False,
    ask: AskForCard | None = None,
    swap_timeout: float = DEFAULT_SWAP_TIMEOUT,
    progress: Callable[[str], None] = _quiet,
    wait_for: WaitForCard | None = None,
    signing_algorithm: SigningAlgorithm | None = None,
) -> EnrolResult:
    """Move the share from the ``old`` card to the ``new`` one, verify it, wipe the old card.

    Two readers or tokens: both cards are opened, rotated and closed. One reader for both:
    the cards are swapped through ``ask`` (required then), waiting up to ``swap_timeout``
    seconds for each removal and insertion. ``progress`` hears one line when the work starts.
    ``force`` overwrites an existing ``record_path``; ``allow_last_try`` lets a PIN be
    presented on a card with one try left. ``signing_algorithm``: the new card's signing
    key, as for :func:`~tcr_kit.cards.enrol.enrol_card`. The caller owns and wipes every
    secret.
    """
    rotation = partial(
        rotate_cards,
        old_pin=old_pin,
        new_current_pin=new_current_pin,
        new_pin=new_pin,
        record_path=record_path,
        old_record=old_record,
        tcr=tcr,
        puk=puk,
        force=force,
        signing_algorithm=signing_algorithm,
    )
    if uses_one_reader(old, new):
        if ask is None:
            raise ValueError("a one-reader rotation needs an ask callable for the card swaps")
        swap = OneReaderSwap(
            old,
            new,
            ask=ask,
            timeout=swap_timeout,
            allow_last_try=allow_last_try,
            wait_for=wait_for,
        )
        progress("reading the share from the old card ...")
        return rotation(swap.open_old, swap.open_new)
    with (
        closing(open_card(old, allow_last_try=allow_last_try)) as old_card,
        closing(open_card(new, allow_last_try=allow_last_try)) as new_card,
    ):
        progress("reading the share from the old card, enrolling the new one ...")
        # Both cards are open here; they are closed by this block, not by the rotation.
        return rotation(lambda: old_card, lambda: new_card, close_cards=False)
