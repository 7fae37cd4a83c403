"""Choosing a card from options or a record, the flat card facts, and the public names."""

from __future__ import annotations

import dataclasses
import importlib
import re
from datetime import UTC, datetime

import pytest

import tcr_kit.cards as cards
from tcr_kit.cards import (
    CardFacts,
    CardIdentity,
    CardKeys,
    CardMeta,
    CardRequest,
    CardSelectionError,
    CardSelector,
    CardStatus,
    EnrolmentRecord,
    KeyRef,
    ListedCard,
    PinStatus,
    ShareRef,
    TcrRef,
    select_card,
    selector_for_record,
    uses_one_reader,
)
from tcr_kit.errors import ExitCode

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
KEY = KeyRef(algorithm="ed25519", public_key_der="00" * 44, fingerprint="cd" * 32)
SHARE = ShareRef(
    format="tcr-native", set_id="0a" * 8, index=2, threshold=2, count=3, digest="ab" * 32, length=9
)
META = CardMeta(
    enrolment_id="11" * 16,
    tcr=TcrRef(name="Ann Example", id="tcr-2"),
    share=SHARE,
    enrolled_at=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
    keys=CardKeys(share_encryption=KEY, signing=KEY),
)


def _record(backend: str) -> EnrolmentRecord:
    pcsc = backend == "pcsc"
    return EnrolmentRecord(
        profile="tcr-iso7816-v1" if pcsc else "tcr-pkcs11-v1",
        enrolment_id=META.enrolment_id,
        card=CardIdentity(backend=backend, serial="0A1B", atr="3B 95" if pcsc else None),  # type: ignore[arg-type]
        tcr=META.tcr,
        share=SHARE,
        keys=None if pcsc else META.keys,
        enrolled_at=META.enrolled_at,
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ((MODULE, "TCR-1", None, "Reader 0"), "either a reader or a PKCS#11 token, not both"),
        ((None, "TCR-1", None, None), "select a card: --reader NAME"),
        ((MODULE, None, None, None), "--token-label or --token-serial (one)"),
        ((MODULE, "TCR-1", "0123", None), "--token-label or --token-serial (one)"),
    ],
)
def test_incomplete_or_ambiguous_options_are_usage_errors(
    options: tuple[str | None, str | None, str | None, str | None], message: str
) -> None:
    with pytest.raises(CardSelectionError, match=re.escape(message)) as info:
        select_card(*options)
    assert info.value.exit_code == ExitCode.USAGE


def test_a_reader_wins_over_the_module_path() -> None:
    sel = select_card(MODULE, None, None, "Reader 0")
    assert sel == CardSelector(reader="Reader 0")
    assert sel.is_pcsc and sel.unblock_secret == "PUK"
    token = select_card(MODULE, None, "0123", None)
    assert token == CardSelector(pkcs11_module=MODULE, token_serial="0123")
    assert not token.is_pcsc and token.unblock_secret == "SO PIN"


def test_a_pkcs11_record_selects_its_token_by_serial() -> None:
    sel = selector_for_record(_record("pkcs11"), pkcs11_module=MODULE)
    assert sel == CardSelector(pkcs11_module=MODULE, token_serial="0A1B")
    with pytest.raises(CardSelectionError, match="give the module path"):
        selector_for_record(_record("pkcs11"))


def test_a_pcsc_record_needs_the_reader_named() -> None:
    with pytest.raises(CardSelectionError, match="name the reader"):
        selector_for_record(_record("pcsc"), pkcs11_module=MODULE)
    sel = selector_for_record(_record("pcsc"), reader="Reader 1")
    assert sel == CardSelector(reader="Reader 1")


def test_explicit_options_win_over_the_record() -> None:
    sel = selector_for_record(_record("pkcs11"), pkcs11_module=MODULE, token_label="TCR-9")
    assert sel == CardSelector(pkcs11_module=MODULE, token_label="TCR-9")


def test_one_reader_for_both_cards_is_a_swap_but_one_token_twice_is_refused() -> None:
    reader = CardSelector(reader="Reader 0")
    assert uses_one_reader(reader, reader) is True
    a = CardSelector(pkcs11_module=MODULE, token_label="A")
    b = CardSelector(pkcs11_module=MODULE, token_label="B")
    assert uses_one_reader(a, b) is False
    assert uses_one_reader(reader, a) is False
    with pytest.raises(CardSelectionError, match="same selection"):
        uses_one_reader(a, CardSelector(pkcs11_module=MODULE, token_label="A"))


def test_card_requests_read_as_instructions() -> None:
    assert CardRequest("insert", "the new card", "Reader 0").describe() == (
        "insert the new card into Reader 0"
    )
    assert CardRequest("remove", "the old card", "Reader 0").describe() == (
        "remove the old card from Reader 0"
    )
    assert _record("pcsc").describe_card() == "the card of TCR tcr-2 (Ann Example), serial 0A1B"


def _status(state: str, meta: CardMeta | None, keys: CardKeys | None) -> CardStatus:
    return CardStatus(
        identity=CardIdentity(backend="pkcs11", serial="0A1B", label="TCR-1", model="SoftHSM v2"),
        location=f"{MODULE} slot 0x1",
        state=state,  # type: ignore[arg-type]
        meta=meta,
        pin=PinStatus(tries_left=None, count_low=True),
        keys=keys,
    )


def test_facts_of_an_enrolled_card_name_its_tcr_share_and_keys() -> None:
    facts = CardFacts.from_status(_status("enrolled", META, META.keys))
    assert (facts.tcr_id, facts.set_id, facts.index, facts.count) == ("tcr-2", "0a" * 8, 2, 3)
    assert facts.enrolled_at == "2026-11-28T12:00:00Z"
    assert facts.signing_key_fingerprint == "cd" * 32
    assert "count low" in facts.pin_tries and facts.pin_tries_left is None
    row = facts.to_dict()
    assert list(row)[:3] == ["backend", "location", "serial"]
    assert row["share_digest"] == "ab" * 32 and row["share_key_fingerprint"] == "cd" * 32


def test_facts_of_a_blank_card_leave_out_enrolment_and_keys() -> None:
    row = CardFacts.from_status(_status("blank", None, None)).to_dict()
    assert row["state"] == "blank"
    assert "tcr_id" not in row and "share_digest" not in row
    assert "signing_key_fingerprint" not in row


def test_a_listed_card_matches_its_record_only_with_the_same_enrolment() -> None:
    facts = CardFacts.from_status(_status("enrolled", META, META.keys))
    rec = _record("pkcs11")
    assert ListedCard("pkcs11", facts.location, facts, record=rec).record_matches is True
    other = dataclasses.replace(rec, enrolment_id="22" * 16)
    assert ListedCard("pkcs11", facts.location, facts, record=other).record_matches is False
    assert ListedCard("pkcs11", facts.location, facts).record_matches is None
    empty = ListedCard("pcsc", "Reader 0", problem="no card")
    assert empty.state == "no card" and empty.record_matches is None


def test_every_public_name_resolves_and_enrol_card_is_the_function() -> None:
    importlib.import_module("tcr_kit.cards.enrol")  # the module named like the old function
    for name in cards.__all__:
        assert getattr(cards, name) is not None, name
    assert callable(cards.enrol_card) and cards.enrol_card.__name__ == "enrol_card"
    assert set(dir(cards)) >= set(cards.__all__)
    assert sorted(cards.__all__) == sorted(cards._MODULE_OF)  # the lazy map has no strays
    with pytest.raises(AttributeError):
        cards.no_such_name  # noqa: B018
