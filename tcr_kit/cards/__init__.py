"""TCR credentials on smartcards: one card interface, a PKCS#11 and a PC/SC backend.

Everything in ``__all__`` is the public API of the card layer: activation scripts and other
tools import it from here (``from tcr_kit.cards import open_card, read_share``). The
modules, each holding one concept:

* :mod:`~tcr_kit.cards.selection`: which card (:class:`CardSelector` from options or from
  an enrolment record) and :func:`open_card`, optionally asking for the card and waiting;
* :mod:`~tcr_kit.cards.discovery` and :mod:`~tcr_kit.cards.facts`: :func:`list_cards` and
  the flat, typed :class:`CardFacts` of one card (what ``tcr card list``/``check`` show);
* :mod:`~tcr_kit.cards.enrol`: :func:`enrol_card`, :func:`check_card`, :func:`read_share` (what
  an activation calls: the share, checked against the record), :func:`wipe_card`,
  :func:`rotate` and :func:`rotate_cards`;
* :mod:`~tcr_kit.cards.rotation`: :func:`rotate_selected`, with :class:`OneReaderSwap` for
  two cards that take turns in one reader;
* :mod:`~tcr_kit.cards.record`: :class:`EnrolmentRecord` (versioned, frozen, every field
  checked, unknown fields refused), :func:`load_record`, :func:`write_record` (what the
  ledger imports);
* :mod:`~tcr_kit.cards.signing`: :class:`CardSigner` (the audit log's ``Signer`` shape),
  :func:`audit_public_key` (the key as the audit log registers it), :func:`sign_with_card`,
  :func:`signing_key`, :func:`verify_signature`;
* :mod:`~tcr_kit.cards.errors`: the card errors, each under one family of
  :mod:`tcr_kit.errors` (exit 1 operational, 2 usage, 3 integrity).

The backends (``pkcs11_backend``, ``pcsc_backend``, ``apdu``, ``iso_profile``) are reached
through :func:`open_card` and the :class:`Card` protocol. Names are imported on first use,
so ``import tcr_kit.cards.record`` (the ledger) does not load the card machinery, and the
backends import pkcs11 / pyscard only when a card is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tcr_kit._lazy import lazy_names

if TYPE_CHECKING:
    from tcr_kit.cards.base import (
        MAX_PIN_LENGTH,
        MIN_PIN_LENGTH,
        Card,
        CardState,
        CardStatus,
        PinStatus,
        check_new_pin,
    )
    from tcr_kit.cards.discovery import CardListing, ListedCard, list_cards
    from tcr_kit.cards.enrol import (
        CheckResult,
        EnrolResult,
        check_card,
        enrol_card,
        match_record,
        read_share,
        rotate,
        rotate_cards,
        wipe_card,
    )
    from tcr_kit.cards.errors import (
        AlreadyEnrolled,
        BadPin,
        CardError,
        CardOutcomeUnknown,
        CardRemoved,
        CardSelectionError,
        CredentialCorrupt,
        ForeignShareSet,
        LastTryRefused,
        MiddlewareMissing,
        NoCard,
        NotEnrolled,
        PinBlocked,
        PinIncorrect,
        ReaderNotFound,
        WrongCard,
    )
    from tcr_kit.cards.facts import CardFacts
    from tcr_kit.cards.record import (
        CardIdentity,
        CardKeys,
        CardMeta,
        EnrolmentRecord,
        KeyRef,
        ShareRef,
        TcrRef,
        load_record,
        write_record,
    )
    from tcr_kit.cards.rotation import (
        DEFAULT_SWAP_TIMEOUT,
        OneReaderSwap,
        rotate_selected,
        uses_one_reader,
    )
    from tcr_kit.cards.selection import (
        AskForCard,
        CardRequest,
        CardSelector,
        WaitForCard,
        open_card,
        select_card,
        selector_for_record,
        wait_in_reader,
    )
    from tcr_kit.cards.shareinfo import PreparedShare, load_share_file, prepare_share
    from tcr_kit.cards.signing import (
        CardSigner,
        SignatureInvalid,
        audit_public_key,
        sign_with_card,
        signing_key,
        verify_signature,
    )

_HOME: dict[str, tuple[str, ...]] = {
    "tcr_kit.cards.base": (
        "MAX_PIN_LENGTH",
        "MIN_PIN_LENGTH",
        "Card",
        "CardState",
        "CardStatus",
        "PinStatus",
        "check_new_pin",
    ),
    "tcr_kit.cards.discovery": ("CardListing", "ListedCard", "list_cards"),
    "tcr_kit.cards.enrol": (
        "CheckResult",
        "EnrolResult",
        "check_card",
        "enrol_card",
        "match_record",
        "read_share",
        "rotate",
        "rotate_cards",
        "wipe_card",
    ),
    "tcr_kit.cards.errors": (
        "AlreadyEnrolled",
        "BadPin",
        "CardError",
        "CardOutcomeUnknown",
        "CardRemoved",
        "CardSelectionError",
        "CredentialCorrupt",
        "ForeignShareSet",
        "LastTryRefused",
        "MiddlewareMissing",
        "NoCard",
        "NotEnrolled",
        "PinBlocked",
        "PinIncorrect",
        "ReaderNotFound",
        "WrongCard",
    ),
    "tcr_kit.cards.facts": ("CardFacts",),
    "tcr_kit.cards.record": (
        "CardIdentity",
        "CardKeys",
        "CardMeta",
        "EnrolmentRecord",
        "KeyRef",
        "ShareRef",
        "TcrRef",
        "load_record",
        "write_record",
    ),
    "tcr_kit.cards.rotation": (
        "DEFAULT_SWAP_TIMEOUT",
        "OneReaderSwap",
        "rotate_selected",
        "uses_one_reader",
    ),
    "tcr_kit.cards.selection": (
        "AskForCard",
        "CardRequest",
        "CardSelector",
        "WaitForCard",
        "open_card",
        "select_card",
        "selector_for_record",
        "wait_in_reader",
    ),
    "tcr_kit.cards.shareinfo": ("PreparedShare", "load_share_file", "prepare_share"),
    "tcr_kit.cards.signing": (
        "CardSigner",
        "SignatureInvalid",
        "audit_public_key",
        "sign_with_card",
        "signing_key",
        "verify_signature",
    ),
}
"""The module that defines each public name (imported on the first access to it)."""

_MODULE_OF = {name: module for module, names in _HOME.items() for name in names}

__all__ = [
    "DEFAULT_SWAP_TIMEOUT",
    "MAX_PIN_LENGTH",
    "MIN_PIN_LENGTH",
    "AlreadyEnrolled",
    "AskForCard",
    "BadPin",
    "Card",
    "CardError",
    "CardFacts",
    "CardIdentity",
    "CardKeys",
    "CardListing",
    "CardMeta",
    "CardOutcomeUnknown",
    "CardRemoved",
    "CardRequest",
    "CardSelectionError",
    "CardSelector",
    "CardSigner",
    "CardState",
    "CardStatus",
    "CheckResult",
    "CredentialCorrupt",
    "EnrolResult",
    "EnrolmentRecord",
    "ForeignShareSet",
    "KeyRef",
    "LastTryRefused",
    "ListedCard",
    "MiddlewareMissing",
    "NoCard",
    "NotEnrolled",
    "OneReaderSwap",
    "PinBlocked",
    "PinIncorrect",
    "PinStatus",
    "PreparedShare",
    "ReaderNotFound",
    "ShareRef",
    "SignatureInvalid",
    "TcrRef",
    "WaitForCard",
    "WrongCard",
    "audit_public_key",
    "check_card",
    "check_new_pin",
    "enrol_card",
    "list_cards",
    "load_record",
    "load_share_file",
    "match_record",
    "open_card",
    "prepare_share",
    "read_share",
    "rotate",
    "rotate_cards",
    "rotate_selected",
    "select_card",
    "selector_for_record",
    "sign_with_card",
    "signing_key",
    "uses_one_reader",
    "verify_signature",
    "wait_in_reader",
    "wipe_card",
    "write_record",
]


if not TYPE_CHECKING:  # type checkers see the imports above, and nothing else
    __getattr__, __dir__ = lazy_names(__name__, _MODULE_OF, __all__)
