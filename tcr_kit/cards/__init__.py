"""TCR credentials on smartcards: one card interface, a PKCS#11 and a PC/SC backend.

Public entry points (all in :mod:`tcr_kit.cards.enrol` unless noted):

* :class:`CardSelector` and :func:`open_card`: pick a token or a reader.
* :func:`enrol`, :func:`check_card`, :func:`read_share`, :func:`wipe_card`, :func:`rotate`.
* :class:`tcr_kit.cards.record.EnrolmentRecord`, :func:`~tcr_kit.cards.record.load_record`:
  the versioned record the custody ledger imports.
* :func:`tcr_kit.cards.signing.sign_with_card` and
  :func:`tcr_kit.cards.signing.verify_signature`: the TCR's signing key on a PKCS#11 card.

Backends import pkcs11 / pyscard only when a card is opened.
"""
