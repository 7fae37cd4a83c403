"""Collect a quorum from share files and TCR cards, and, interactively, card after card.

The library never prints or prompts: whoever drives a collection (the ``tcr hsm`` commands,
an activation script) passes :class:`Prompts`, the callables that read a card's PIN, ask a
question and show a line. A card is named by a spec, the syntax of ``tcr hsm activate
--card``::

    record=FILE[,pin-file=F][,label=L|serial=S|reader=R]

Without ``label``, ``serial`` or ``reader`` the card is the PKCS#11 token whose serial the
enrolment record names (a PC/SC card needs ``reader=``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tcr_kit.errors import InputError, TcrError
from tcr_kit.hsm.activation import Activation, CardShare, Quorum, ShareFile
from tcr_kit.hsm.events import Presented
from tcr_kit.secrets import SecretBuffer

if TYPE_CHECKING:
    from tcr_kit.cards.enrol import CardSelector
    from tcr_kit.cards.record import EnrolmentRecord

PinReader = Callable[[str, Path | None], SecretBuffer]
"""``read_pin(what, pin_file)``: a PIN from ``pin_file`` when given, else asked for as
``what`` ("PIN for the card of ..."); the caller of the collection wipes nothing, the
collection wipes each PIN once the card was read."""
Notify = Callable[[str], None]
"""Shows one line to the operator."""
Ask = Callable[[str], str]
"""Asks one question; the answer, stripped (empty: no answer)."""

_SPEC_KEYS = ("record", "pin-file", "label", "serial", "reader")


def _silent(line: str) -> None:
    """The default :data:`Notify`: shows nothing."""


@dataclass(frozen=True)
class Prompts:
    """How a collection talks to its operator.

    ``progress`` and ``warn`` carry the lines of a non-interactive collection (a command
    may silence them); ``ask`` and ``say`` the dialogue of :func:`prompt_cards`.
    """

    read_pin: PinReader
    progress: Notify = _silent
    warn: Notify = _silent
    ask: Ask | None = None
    say: Notify = _silent


class CardSpecError(InputError):
    """A card spec that cannot name a card (exit 2)."""


@dataclass(frozen=True)
class CardSpec:
    """A card to read: how to find it, its enrolment record, where its PIN is."""

    selector: CardSelector
    record: EnrolmentRecord | None = None
    pin_file: Path | None = None

    def describe(self) -> str:
        """The card, named for its PIN prompt."""
        if self.record is None:
            return self.selector.describe()
        return (
            f"the card of TCR {self.record.tcr.id} ({self.record.tcr.name}),"
            f" serial {self.record.card.serial}"
        )


def parse_card_spec(spec: str, pkcs11_module: str | None) -> CardSpec:
    """``record=FILE[,pin-file=F][,label=L|serial=S|reader=R]`` -> :class:`CardSpec`."""
    from tcr_kit.cards.enrol import CardSelector
    from tcr_kit.cards.record import load_record

    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep or key not in _SPEC_KEYS:
            raise CardSpecError(
                f"--card {spec!r}: expected record=FILE[,pin-file=F][,label=L|serial=S|reader=R]"
            )
        fields[key] = value
    record = load_record(Path(fields["record"])) if "record" in fields else None
    reader = fields.get("reader")
    label, serial = fields.get("label"), fields.get("serial")
    if reader is None and label is None and serial is None:
        if record is None:
            raise CardSpecError(f"--card {spec!r}: name the card (record=, label=, serial=)")
        if record.card.backend == "pcsc":
            raise CardSpecError(f"--card {spec!r}: a PC/SC card needs reader=NAME")
        serial = record.card.serial
    if reader is None and pkcs11_module is None:
        raise CardSpecError("--card with a PKCS#11 token needs --pkcs11-module PATH")
    selector = CardSelector(
        pkcs11_module=None if reader else pkcs11_module,
        token_label=label,
        token_serial=serial if label is None else None,
        reader=reader,
    )
    pin_file = Path(fields["pin-file"]) if "pin-file" in fields else None
    return CardSpec(selector, record, pin_file)


def _add_card(quorum: Quorum, card: CardSpec, pin: SecretBuffer) -> Presented:
    try:
        return quorum.add(CardShare(card.selector, pin, card.record))
    finally:
        pin.wipe()


def add_sources(
    quorum: Quorum, shares: Iterable[Path], cards: Iterable[CardSpec], prompts: Prompts
) -> Quorum:
    """Add every share file, then every card (its PIN read by ``prompts.read_pin``, naming
    the card); a card beyond a complete quorum is not read (a warning says so)."""
    for path in shares:
        got = quorum.add(ShareFile(path))
        prompts.progress(f"share {got.index} from {path}: ok ({quorum.still_needed()} more needed)")
    for card in cards:
        if quorum.complete():
            prompts.warn(f"quorum already complete; {card.selector.describe()} was not read")
            continue
        got = _add_card(quorum, card, prompts.read_pin(f"PIN for {card.describe()}", card.pin_file))
        prompts.progress(
            f"share {got.index} from {got.describe()}: ok ({quorum.still_needed()} more needed)"
        )
    return quorum


def prompt_cards(quorum: Quorum, pkcs11_module: str | None, prompts: Prompts) -> None:
    """Ask for the next card by its enrolment record until the quorum is complete.

    A card that is refused (wrong PIN, duplicate, another set, not inserted) is named on
    one line and the collection goes on; an empty answer stops it.
    """
    if prompts.ask is None:
        raise ValueError("prompt_cards needs prompts.ask")
    while not quorum.complete():
        names = ", ".join(f"{c.id} ({c.holder or '-'})" for c in quorum.missing_holders())
        prompts.say(
            f"{quorum.still_needed()} more card(s) needed"
            + (f"; not yet presented: {names}" if names else "")
        )
        line = prompts.ask("enrolment record of the next card (empty to stop)")
        if not line:
            return
        try:
            card = parse_card_spec(f"record={line}", pkcs11_module)
            assert card.record is not None  # noqa: S101 - record= was given
            tcr, serial = card.record.tcr, card.record.card.serial
            who = f"TCR {tcr.id} ({tcr.name}), card serial {serial}"
            prompts.say(f"insert the card of {who}")
            pin = prompts.read_pin(f"PIN for the card of {who}", card.pin_file)
            got = _add_card(quorum, card, pin)
        except TcrError as exc:
            prompts.say(f"refused: {exc}")
            continue
        prompts.say(f"share {got.index} from {got.describe()}: ok")


def collect(
    activation: Activation,
    shares: Iterable[Path],
    cards: Iterable[CardSpec],
    prompts: Prompts,
    *,
    interactive: bool = False,
    pkcs11_module: str | None = None,
    refusal_purpose: str | None = None,
) -> Quorum:
    """A quorum for ``activation``: the share files, then the cards, then (``interactive``)
    cards asked for one by one. It may be short: :meth:`Activation.session` and the others
    refuse it then (exit 4).

    With ``refusal_purpose`` a refused share or card is recorded as a refused
    ``hsm.activate`` event with that purpose, naming what was presented before it.
    """
    quorum: Quorum | None = None
    try:
        quorum = activation.quorum()
        add_sources(quorum, shares, cards, prompts)
        if interactive:
            prompt_cards(quorum, pkcs11_module, prompts)
    except TcrError as exc:
        if refusal_purpose is not None:
            activation.record_refusal(quorum, exc, refusal_purpose)
        raise
    return quorum
