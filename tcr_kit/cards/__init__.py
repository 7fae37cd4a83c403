"""TCR credentials on smartcards: one card interface, a PKCS#11 and a PC/SC backend.

Public entry points:

* :class:`tcr_kit.cards.enrol.CardSelector`, :func:`tcr_kit.cards.enrol.open_card`: pick a
  token (module path + label or serial) or a PC/SC reader; returns a
  :class:`tcr_kit.cards.base.Card`.
* :mod:`tcr_kit.cards.enrol`: :func:`~tcr_kit.cards.enrol.enrol`,
  :func:`~tcr_kit.cards.enrol.check_card`, :func:`~tcr_kit.cards.enrol.read_share` (what an
  activation calls: the share bytes, checked against the enrolment record),
  :func:`~tcr_kit.cards.enrol.wipe_card`, :func:`~tcr_kit.cards.enrol.rotate` and
  :func:`~tcr_kit.cards.enrol.rotate_cards` (one reader, card swaps).
* :mod:`tcr_kit.cards.record`: :class:`~tcr_kit.cards.record.EnrolmentRecord` (versioned,
  frozen, ``extra="forbid"``), :func:`~tcr_kit.cards.record.load_record`,
  :func:`~tcr_kit.cards.record.write_record`: what the custody ledger imports.
* :mod:`tcr_kit.cards.signing`: :class:`~tcr_kit.cards.signing.CardSigner` (the audit log's
  ``Signer`` shape), :func:`~tcr_kit.cards.signing.sign_with_card`,
  :func:`~tcr_kit.cards.signing.signing_key`, :func:`~tcr_kit.cards.signing.verify_signature`.
* :mod:`tcr_kit.cards.errors`: the card errors, each under one family of
  :mod:`tcr_kit.errors` (exit 1 operational, 2 usage, 3 integrity).

Backends import pkcs11 / pyscard only when a card is opened.
"""
