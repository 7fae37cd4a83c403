"""The card library on real SoftHSM2 tokens and virtual PC/SC cards: listing, opening with a
wait, and rotation (two tokens, or two cards taking turns in one reader)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tcr_kit.cards import (
    CardRequest,
    CardSelector,
    EnrolmentRecord,
    TcrRef,
    WrongCard,
    check_card,
    enrol_card,
    list_cards,
    load_record,
    open_card,
    rotate_selected,
)
from tcr_kit.cards.pcsc_backend import PcscCard
from tcr_kit.cards.pkcs11_backend import Pkcs11Card
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.native import split_bytes
from tests.fixtures.stack import PUK, TRANSPORT_PIN, VirtualCard
from tests.integration.conftest import MODULE, insert

pytestmark = pytest.mark.integration

NewToken = Callable[..., tuple[str, str]]
Cards = Callable[[str], VirtualCard]


def pin(value: str) -> SecretBuffer:
    return SecretBuffer(bytearray(value.encode()))


def _enrol_token(label: str, share: bytes, path: Path, tcr_id: str) -> EnrolmentRecord:
    card = Pkcs11Card(MODULE, token_label=label)
    return enrol_card(
        card,
        share,
        tcr=TcrRef(name=f"Holder of {tcr_id}", id=tcr_id),
        current_pin=pin(TRANSPORT_PIN),
        new_pin=pin("token-pin-1"),
        record_path=path,
    ).record


def _enrol_vcard(reader: str, share: bytes, path: Path) -> EnrolmentRecord:
    card = PcscCard(reader)
    try:
        return enrol_card(
            card,
            share,
            tcr=TcrRef(name="Bea Example", id="tcr-5"),
            current_pin=pin(TRANSPORT_PIN),
            new_pin=pin("bea-pin-5"),
            puk=pin(PUK),
            record_path=path,
        ).record
    finally:
        card.close()


def test_listing_attaches_each_record_to_its_own_token(new_token: NewToken, tmp_path: Path) -> None:
    (a, _), (b, _), (blank, _) = new_token(), new_token(), new_token()
    shares = split_bytes(b"L" * 32, 2, 3)
    rec_a = _enrol_token(a, shares[0].encode_compact(), tmp_path / "a.json", "tcr-a")
    rec_b = _enrol_token(b, shares[1].encode_compact(), tmp_path / "b.json", "tcr-b")
    listing = list_cards(MODULE, [rec_a, rec_b])
    by_label = {c.facts.label: c for c in listing.cards if c.facts is not None}
    for label, rec in ((a, rec_a), (b, rec_b)):
        listed = by_label[label]
        assert listed.record == rec and listed.record_matches is True
        assert listed.facts is not None and listed.facts.index == rec.share.index
        assert listed.facts.signing_key_fingerprint == rec.keys.signing.fingerprint  # type: ignore[union-attr]
    empty = by_label[blank]
    assert empty.state == "blank" and empty.record is None
    assert empty.facts is not None and "tcr_id" not in empty.facts.to_dict()


def test_listing_shows_an_empty_reader_and_an_enrolled_card(
    vcards: Cards, readers: list[str], tmp_path: Path
) -> None:
    vc = vcards("5151515151515151")
    reader = insert(vc, readers, slot=0)
    rec = _enrol_vcard(reader, b"listed share", tmp_path / "rec.json")
    listing = list_cards(records=[rec])
    rows = {c.location: c for c in listing.cards}
    assert rows[reader].state == "enrolled" and rows[reader].record_matches is True
    assert rows[reader].facts is not None and rows[reader].facts.pin_tries_left == 3
    assert rows[readers[1]].state == "no card" and rows[readers[1]].facts is None
    assert listing.warnings == []


def test_open_card_asks_for_the_card_and_waits_for_it(
    vcards: Cards, readers: list[str], tmp_path: Path
) -> None:
    vc = vcards("5252525252525252")
    reader = insert(vc, readers)
    rec = _enrol_vcard(reader, b"wait for me", tmp_path / "rec.json")
    vc.remove()
    asked: list[CardRequest] = []

    def ask(request: CardRequest) -> None:
        asked.append(request)
        insert(vc, readers)  # the person puts the card in

    card = open_card(CardSelector(reader=reader), wait=20, ask=ask, card_name=rec.describe_card())
    try:
        assert check_card(card, record=rec).record_matches is True
    finally:
        card.close()
    assert asked == [CardRequest("insert", rec.describe_card(), reader)]
    card = open_card(CardSelector(reader=reader), wait=20, ask=ask)  # present: nobody is asked
    card.close()
    assert len(asked) == 1


def test_rotate_selected_between_two_tokens_reports_progress_once(
    new_token: NewToken, tmp_path: Path
) -> None:
    (old, _), (new, _) = new_token(), new_token()
    rec = _enrol_token(old, b"token to token", tmp_path / "old.json", "tcr-r")
    heard: list[str] = []
    result = rotate_selected(
        CardSelector(pkcs11_module=MODULE, token_label=old),
        CardSelector(pkcs11_module=MODULE, token_label=new),
        pin("token-pin-1"),
        new_current_pin=pin(TRANSPORT_PIN),
        new_pin=pin("next-pin-22"),
        record_path=tmp_path / "new.json",
        old_record=rec,
        progress=heard.append,
    )
    assert heard == ["reading the share from the old card, enrolling the new one ..."]
    assert load_record(tmp_path / "new.json") == result.record
    assert result.record.card.label == new and result.record.share == rec.share
    assert Pkcs11Card(MODULE, token_label=old).status().state == "blank"


def _swapper(
    readers: list[str], cards_by_role: dict[str, VirtualCard]
) -> tuple[list[str], Callable[[CardRequest], None]]:
    """An ask callable that does what it is asked with the virtual cards, and a log."""
    log: list[str] = []

    def ask(request: CardRequest) -> None:
        log.append(request.describe())
        role = "old" if request.card.startswith("the old card") else "new"
        if request.action == "remove":
            cards_by_role[role].remove()
        else:
            insert(cards_by_role[role], readers)

    return log, ask


def test_one_reader_rotation_asks_for_each_swap_and_wipes_the_old_card(
    vcards: Cards, readers: list[str], tmp_path: Path
) -> None:
    old_vc, new_vc = vcards("5353535353535353"), vcards("5454545454545454")
    reader = insert(old_vc, readers)
    rec = _enrol_vcard(reader, split_bytes(b"S" * 32, 2, 2)[0].encode_compact(), tmp_path / "o")
    log, ask = _swapper(readers, {"old": old_vc, "new": new_vc})
    sel = CardSelector(reader=reader)
    result = rotate_selected(
        sel,
        sel,
        pin("bea-pin-5"),
        new_current_pin=pin(TRANSPORT_PIN),
        new_pin=pin("new-bea-55"),
        puk=pin(PUK),
        record_path=tmp_path / "new.json",
        old_record=rec,
        ask=ask,
        swap_timeout=20,
    )
    old_name = "the old card (pcsc card serial 5353535353535353)"
    assert log == [
        f"remove {old_name} from {reader}",
        f"insert the new card into {reader}",
        f"remove the new card from {reader}",
        f"insert {old_name} to wipe it into {reader}",
    ]
    assert result.record.card.serial == "5454545454545454"
    assert result.record.share == rec.share
    card = PcscCard(reader)
    try:
        assert card.identity().serial == "5353535353535353"
        assert card.status().state == "blank"
    finally:
        card.close()


def test_one_reader_rotation_refuses_to_wipe_a_card_that_is_not_the_old_one(
    vcards: Cards, readers: list[str], tmp_path: Path
) -> None:
    old_vc, new_vc = vcards("5555555555555556"), vcards("5656565656565656")
    stranger = vcards("5757575757575757")
    reader = insert(old_vc, readers)
    rec = _enrol_vcard(reader, b"do not wipe a stranger", tmp_path / "o")
    log, swap = _swapper(readers, {"old": old_vc, "new": new_vc})

    def ask(request: CardRequest) -> None:
        if request.action == "insert" and "to wipe it" in request.card:
            log.append(request.describe())
            insert(stranger, readers)  # somebody puts the wrong card back
            return
        swap(request)

    with pytest.raises(WrongCard, match="to finish the rotation insert the old card"):
        rotate_selected(
            CardSelector(reader=reader),
            CardSelector(reader=reader),
            pin("bea-pin-5"),
            new_current_pin=pin(TRANSPORT_PIN),
            new_pin=pin("new-bea-55"),
            puk=pin(PUK),
            record_path=tmp_path / "new.json",
            old_record=rec,
            ask=ask,
            swap_timeout=20,
        )
    assert load_record(tmp_path / "new.json").card.serial == "5656565656565656"
    stranger.remove()
    insert(old_vc, readers)
    card = PcscCard(reader)
    try:
        assert check_card(card, record=rec).record_matches is True  # still enrolled
    finally:
        card.close()
