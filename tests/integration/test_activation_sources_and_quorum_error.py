"""Activation in process: what each source (card, share file, inline share) is presented as,
every way reading one is refused, and the exit-4 text of a short quorum (how many more,
which credentials are not yet presented, which sources were refused and why).

Real components: SoftHSM2 for the HSM and the card tokens, our virtual ISO 7816 card under
pcscd for what only a card that counts PIN tries shows. These run in process so that the
mutation run of ``tcr_kit/hsm/activation.py`` (scripts/mutation.sh activation) sees them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tcr_kit.cards.enrol import CardSelector, enrol
from tcr_kit.cards.errors import LastTryRefused, PinIncorrect, WrongCard
from tcr_kit.cards.pkcs11_backend import Pkcs11Card
from tcr_kit.cards.record import EnrolmentRecord, TcrRef
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.errors import ExitCode, InputError, OperationalError
from tcr_kit.hsm.activation import (
    MAX_SHARE_FILE,
    Activation,
    CardShare,
    InlineShare,
    Quorum,
    ShareFile,
)
from tcr_kit.hsm.config import load_config
from tcr_kit.hsm.errors import (
    CustodyRefused,
    DuplicateCredential,
    NotEnoughCredentials,
    WrongShareSet,
)
from tcr_kit.hsm.events import Presented
from tcr_kit.hsm.provision import init_softhsm
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.native import open_share_file
from tests.fixtures.stack import TRANSPORT_PIN, SoftHsm, VirtualCard
from tests.integration.conftest import MODULE, insert
from tests.integration.hsm_helpers import (
    DemoHsm,
    custody_ledger,
    enrol_pcsc_share,
    make_hsm,
    register_shares,
    write_config,
)

pytestmark = pytest.mark.integration
NewToken = Callable[..., tuple[str, str]]


def pin(value: str) -> SecretBuffer:
    return SecretBuffer(bytearray(value.encode()))


@pytest.fixture
def hsm(softhsm: SoftHsm, tmp_path: Path) -> DemoHsm:
    return make_hsm(tmp_path, softhsm)


def _digest(hsm: DemoHsm, index: int) -> str:
    return open_share_file(hsm.plan.share_files[index - 1]).digest().hex()


def _card(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path, index: int
) -> tuple[str, str, EnrolmentRecord]:
    """A SoftHSM2 token enrolled with share ``index`` for TCR ``tcr-<index>``, PIN
    ``pin-<index>-tcr``; returns its label, serial and enrolment record."""
    label, serial = new_token("TCR")
    record = enrol(
        Pkcs11Card(MODULE, token_label=label),
        open_share_file(hsm.plan.share_files[index - 1]).encode_compact(),
        tcr=TcrRef(name=f"TCR {index}", id=f"tcr-{index}"),
        current_pin=pin(TRANSPORT_PIN),
        new_pin=pin(f"pin-{index}-tcr"),
        record_path=tmp_path / f"record-{label}.json",
    ).record
    return label, serial, record


def _token(label: str) -> CardSelector:
    return CardSelector(pkcs11_module=MODULE, token_label=label)


# -- what each source is presented as -------------------------------------------------------


def test_a_card_is_presented_with_its_identity_tcr_and_share_and_the_events_keep_it(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path
) -> None:
    label, serial, record = _card(hsm, new_token, tmp_path, 2)
    activation = Activation(hsm.loaded)
    quorum = activation.quorum()
    got = quorum.add(CardShare(_token(label), pin("pin-2-tcr"), record))
    assert got == Presented(
        kind="card",
        source=f"pkcs11 card '{label}' serial {serial}",
        set_id=hsm.plan.set_id,
        index=2,
        share_digest=_digest(hsm, 2),
        card_serial=serial,
        card_label=label,
        tcr_id="tcr-2",
        tcr_name="TCR 2",
    )
    assert got.describe() == f"pkcs11 card '{label}' serial {serial} (TCR tcr-2), share 2"
    assert quorum.presented == [got] and quorum.still_needed() == 2
    quorum.add(ShareFile(hsm.plan.share_files[0]))
    quorum.add(ShareFile(hsm.plan.share_files[4]))
    with activation.session(quorum, purpose="sign the zone") as hsm_session:
        hsm_session.sign("ksk-demo", b"zone")
    activated, deactivated = activation.events
    assert activated.presented[0] == got and deactivated.presented[0] == got
    assert activated.payload()["presented"][0] == got.facts()
    assert activated.purpose == "sign the zone"


def test_share_files_are_presented_by_path_and_inline_shares_by_their_name(
    hsm: DemoHsm,
) -> None:
    quorum = Activation(hsm.loaded).quorum()
    path = hsm.plan.share_files[2]
    assert quorum.add(ShareFile(path)) == Presented(
        kind="file", source=str(path), set_id=hsm.plan.set_id, index=3,
        share_digest=_digest(hsm, 3),
    )  # fmt: skip
    data = SecretBuffer(bytearray(open_share_file(hsm.plan.share_files[3]).encode_compact()))
    assert quorum.add(InlineShare(data, "share typed in")) == Presented(
        kind="inline", source="share typed in", set_id=hsm.plan.set_id, index=4,
        share_digest=_digest(hsm, 4),
    )  # fmt: skip
    assert "wiped" in repr(data)  # the inline bytes are wiped once decoded
    # What is not a share is refused naming its source (exit 3), and does not join.
    with pytest.raises(InputError) as caught:
        quorum.add(InlineShare(pin("garbage"), "typed in"))
    assert str(caught.value) == "typed in: not a tcr-kit native share"
    assert caught.value.exit_code == ExitCode.USAGE
    # A share whose own checksum fails is refused as corrupt (exit 3), naming its source.
    text = bytearray(hsm.plan.share_files[0].read_bytes())
    text[8] = ord("Z") if text[8] != ord("Z") else ord("Y")
    with pytest.raises(WrongShareSet) as corrupt:
        quorum.add(InlineShare(SecretBuffer(text), "typed in"))
    assert str(corrupt.value).startswith("typed in: ")
    assert corrupt.value.exit_code == ExitCode.INTEGRITY
    assert [p.index for p in quorum.presented] == [3, 4]


# -- reading a share file -------------------------------------------------------------------


def test_a_share_file_that_cannot_be_read_is_exit_1_naming_the_file_and_the_reason(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    quorum = Activation(hsm.loaded).quorum()
    missing, folder = tmp_path / "no-such-share.txt", tmp_path / "a-folder"
    folder.mkdir()
    for path, reason in ((missing, "No such file or directory"), (folder, "Is a directory")):
        with pytest.raises(OperationalError) as caught:
            quorum.add(ShareFile(path))
        assert str(caught.value) == f"{path}: cannot read: {reason}"
        assert caught.value.exit_code == ExitCode.FAILURE
    assert quorum.presented == [] and quorum.still_needed() == 3


def test_a_share_file_of_exactly_64_kib_is_read_and_one_byte_more_is_refused(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    text = hsm.plan.share_files[1].read_bytes()
    exact, over = tmp_path / "exact.txt", tmp_path / "over.txt"
    exact.write_bytes(text + b"\n" * (MAX_SHARE_FILE - len(text)))  # trailing blank lines
    over.write_bytes(text + b"\n" * (MAX_SHARE_FILE + 1 - len(text)))
    assert exact.stat().st_size == MAX_SHARE_FILE == 64 * 1024
    quorum = Activation(hsm.loaded).quorum()
    assert quorum.add(ShareFile(exact)).index == 2
    for path in (over, tmp_path / "far-over.txt"):
        if not path.exists():
            path.write_bytes(text + b"\n" * (2 * MAX_SHARE_FILE))
        with pytest.raises(InputError) as caught:
            quorum.add(ShareFile(path))
        assert str(caught.value) == f"{path}: too large for an activation share file"
        assert caught.value.exit_code == ExitCode.USAGE
    assert [p.index for p in quorum.presented] == [2]


# -- reading a card -------------------------------------------------------------------------


def test_the_same_card_twice_is_refused_naming_the_card_and_its_first_presentation(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path
) -> None:
    label, serial, record = _card(hsm, new_token, tmp_path, 3)
    quorum = Activation(hsm.loaded).quorum()
    quorum.add(CardShare(_token(label), pin("pin-3-tcr"), record))
    with pytest.raises(DuplicateCredential) as caught:
        quorum.add(CardShare(_token(label), pin("pin-3-tcr"), record))
    card = f"pkcs11 card '{label}' serial {serial}"
    assert str(caught.value) == f"{card} was already presented ({card} (TCR tcr-3), share 3)"
    assert caught.value.exit_code == ExitCode.USAGE
    assert len(quorum.presented) == 1


def test_a_card_with_another_cards_record_is_refused_before_its_share_is_read(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path
) -> None:
    label, _serial, _record = _card(hsm, new_token, tmp_path, 1)
    _other_label, _other_serial, other_record = _card(hsm, new_token, tmp_path, 2)
    quorum = Activation(hsm.loaded).quorum()
    with pytest.raises(WrongCard):
        quorum.add(CardShare(_token(label), pin("pin-1-tcr"), other_record))
    assert quorum.presented == []


def test_a_wrong_pin_on_a_softhsm_token_names_the_card_and_says_it_cannot_count_tries(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path
) -> None:
    label, serial, record = _card(hsm, new_token, tmp_path, 4)
    quorum = Activation(hsm.loaded).quorum()
    with pytest.raises(PinIncorrect) as caught:
        quorum.add(CardShare(_token(label), pin("not-the-pin"), record))
    assert str(caught.value) == (
        f"wrong PIN for pkcs11 card '{label}' serial {serial}"
        " (this token does not report how many tries are left)"
    )
    assert caught.value.exit_code == ExitCode.FAILURE and caught.value.attempts_left is None


def test_a_pcsc_card_counts_pin_tries_and_its_last_try_is_spent_only_when_allowed(
    softhsm: SoftHsm,
    vcards: Callable[[str], VirtualCard],
    readers: list[str],
    tmp_path: Path,
) -> None:
    hsm = make_hsm(tmp_path, softhsm)
    vc = vcards("00000000000000D4")
    reader = insert(vc, readers)
    record = enrol_pcsc_share(
        reader,
        hsm.plan.share_files[3],
        TcrRef(name="Dana", id="tcr-4"),
        "dana-pin-4",
        tmp_path / "dana.json",
    )
    selector = CardSelector(reader=reader)
    quorum = Activation(hsm.loaded).quorum()
    name = f"pcsc card serial {record.card.serial}"
    for left in (2, 1):
        with pytest.raises(PinIncorrect) as caught:
            quorum.add(CardShare(selector, pin("not-danas"), record))
        assert str(caught.value) == f"wrong PIN for {name}: {left} tries left"
        assert caught.value.attempts_left == left
    # One try left: not spent unless the caller allows it, even with the right PIN; the
    # refusal names the card.
    with pytest.raises(LastTryRefused) as kept:
        quorum.add(CardShare(selector, pin("dana-pin-4"), record))
    assert str(kept.value).startswith(f"PIN for {name}: only one try is left: refusing")
    assert vc.pin_tries() == 1
    got = quorum.add(CardShare(selector, pin("dana-pin-4"), record, allow_last_try=True))
    assert got == Presented(
        kind="card", source=name, set_id=hsm.plan.set_id, index=4,
        share_digest=_digest(hsm, 4), card_serial=record.card.serial, card_label="",
        tcr_id="tcr-4", tcr_name="Dana",
    )  # fmt: skip
    assert vc.pin_tries() == 3


# -- custody of a card and of a share file --------------------------------------------------


def _ledger(hsm: DemoHsm, tmp_path: Path, serials: dict[int, str]) -> tuple[Ledger, Actor]:
    cfg = hsm.loaded.share_set
    ledger, actor = custody_ledger(tmp_path / "ledger.sqlite", cfg.id)
    register_shares(ledger, actor, cfg.id, 5, serials=serials)
    return ledger, actor


def test_custody_names_the_card_or_file_it_refuses_and_records_why_it_cleared_the_others(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path
) -> None:
    label, serial, record = _card(hsm, new_token, tmp_path, 2)
    ledger, actor = _ledger(hsm, tmp_path, {2: serial})
    set_id = hsm.loaded.share_set.id
    # tcr-2 and tcr-3 are not named as presenting in person: their card and file are refused,
    # the card before its PIN is tried (a wrong PIN is not reported).
    quorum = Activation(hsm.loaded, ledger=ledger, actor=actor, in_person=("tcr-1",)).quorum()
    card = f"pkcs11 card '{label}' serial {serial}"
    with pytest.raises(CustodyRefused) as refused_card:
        quorum.add(CardShare(_token(label), pin("not-the-pin"), record))
    assert str(refused_card.value).startswith(f"{card}: ")
    assert f"{set_id}-2" in str(refused_card.value)
    assert str(refused_card.value).endswith("; it cannot activate the HSM")
    path = hsm.plan.share_files[2]
    with pytest.raises(CustodyRefused) as refused_file:
        quorum.add(ShareFile(path))
    assert str(refused_file.value).startswith(f"{path}, share 3: ")
    assert f"{set_id}-3" in str(refused_file.value)
    got = quorum.add(ShareFile(hsm.plan.share_files[0]))
    assert (got.credential, got.holder, got.custody_basis) == (f"{set_id}-1", "tcr-1", "in-person")
    assert got.custody == "presented in person by its holder tcr-1, present at ceremony 1"
    # With tcr-2 in the room the card is read and carries its credential and clearance.
    quorum = Activation(hsm.loaded, ledger=ledger, actor=actor, in_person=("tcr-2",)).quorum()
    got = quorum.add(CardShare(_token(label), pin("pin-2-tcr"), record))
    assert (got.kind, got.card_serial, got.credential, got.holder) == (
        "card", serial, f"{set_id}-2", "tcr-2",
    )  # fmt: skip
    assert got.custody_basis == "in-person"


def test_a_card_no_credential_carries_is_refused_with_a_ledger_before_its_pin_is_tried(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path
) -> None:
    label, serial, record = _card(hsm, new_token, tmp_path, 5)
    ledger, actor = _ledger(hsm, tmp_path, {})
    holders = tuple(f"tcr-{i}" for i in range(1, 6))
    quorum = Activation(hsm.loaded, ledger=ledger, actor=actor, in_person=holders).quorum()
    with pytest.raises(CustodyRefused) as caught:
        quorum.add(CardShare(_token(label), pin("not-the-pin"), record))
    set_id = hsm.loaded.share_set.id
    assert str(caught.value) == (
        f"pkcs11 card '{label}' serial {serial}: no credential of share set {set_id} is"
        f" registered with card serial {serial}; it cannot activate the HSM"
    )
    assert caught.value.exit_code == ExitCode.INTEGRITY
    # Without a ledger the same card activates: only custody needs a credential.
    assert Activation(hsm.loaded).quorum().add(CardShare(_token(label), pin("pin-5-tcr"), record))


# -- the exit-4 error of a short quorum -----------------------------------------------------


def _short(quorum: Quorum) -> str:
    with pytest.raises(NotEnoughCredentials) as caught:
        quorum.require_complete()
    assert caught.value.exit_code == ExitCode.QUORUM
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_a_short_quorum_without_a_ledger_says_how_many_of_how_many_and_nothing_else(
    hsm: DemoHsm,
) -> None:
    quorum = Activation(hsm.loaded).quorum()
    assert _short(quorum) == f"0 of 3 shares presented for {hsm.label}: 3 more needed"
    quorum.add(ShareFile(hsm.plan.share_files[1]))
    quorum.add(ShareFile(hsm.plan.share_files[3]))
    assert _short(quorum) == f"2 of 3 shares presented for {hsm.label}: 1 more needed"
    quorum.add(ShareFile(hsm.plan.share_files[4]))
    quorum.require_complete()  # complete: nothing raised


def test_a_short_quorum_names_the_live_credentials_not_yet_presented_and_their_holders(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    from tcr_kit.custody.lifecycle import CredentialAction
    from tcr_kit.custody.models import Credential, CredentialKind, build

    set_id = hsm.loaded.share_set.id
    ledger, actor = custody_ledger(tmp_path / "ledger.sqlite", set_id)
    register_shares(ledger, actor, set_id, 4)
    # Share 5's credential has no holder yet; share 4's is retired.
    ledger.add_credential(
        actor,
        build(Credential, id=f"{set_id}-5b", kind=CredentialKind.SMARTCARD, serial="S5B",
              share_set=set_id, share_index=5),
    )  # fmt: skip
    ledger.credential_action(actor, f"{set_id}-4", CredentialAction("retire"))
    holders = tuple(f"tcr-{i}" for i in range(1, 6))
    quorum = Activation(hsm.loaded, ledger=ledger, actor=actor, in_person=holders).quorum()
    quorum.add(ShareFile(hsm.plan.share_files[1]))
    assert _short(quorum) == (
        f"1 of 3 shares presented for {hsm.label}: 2 more needed; not yet presented:"
        f" {set_id}-1 (tcr-1), {set_id}-3 (tcr-3), {set_id}-5b"
    )
    assert [c.id for c in quorum.missing_holders()] == [f"{set_id}-{i}" for i in ("1", "3", "5b")]


def test_a_short_quorum_names_each_source_refused_and_why_until_it_is_accepted(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path
) -> None:
    label, serial, record = _card(hsm, new_token, tmp_path, 2)
    activation = Activation(hsm.loaded)
    quorum = activation.quorum()
    first = hsm.plan.share_files[0]
    quorum.add(ShareFile(first))
    with pytest.raises(DuplicateCredential):
        quorum.add(ShareFile(first))
    with pytest.raises(PinIncorrect):
        quorum.add(CardShare(_token(label), pin("not-the-pin"), record))
    card = f"pkcs11 card '{label}' serial {serial}"
    wrong_pin = f"wrong PIN for {card} (this token does not report how many tries are left)"
    duplicate = f"{first}, share 1 is the same share as {first}, share 1"
    assert _short(quorum) == (
        f"1 of 3 shares presented for {hsm.label}: 2 more needed; refused:"
        f" {first} ({duplicate}), PKCS#11 token label '{label}' ({wrong_pin})"
    )
    assert quorum.refused == [
        (str(first), duplicate),
        (f"PKCS#11 token label '{label}'", wrong_pin),
    ]
    # The card presented again with its PIN is accepted: no longer named as refused.
    quorum.add(CardShare(_token(label), pin("pin-2-tcr"), record))
    assert _short(quorum) == (
        f"2 of 3 shares presented for {hsm.label}: 1 more needed; refused: {first} ({duplicate})"
    )
    # A session refused for the short quorum records that text in its refused event.
    with pytest.raises(NotEnoughCredentials) as caught, activation.session(quorum):
        pass
    assert activation.events[-1].outcome == f"refused: {caught.value}"
    assert [p.index for p in activation.events[-1].presented] == [1, 2]


# -- the PIN derivation follows the configuration -------------------------------------------


def test_an_hsm_configured_with_its_own_pin_derivation_activates_with_it(
    softhsm: SoftHsm, tmp_path: Path
) -> None:
    label = "HSM-own-pin"
    path = write_config(tmp_path, softhsm, label)
    text = path.read_text()
    assert 'info = "tcr-kit hsm user pin v1"' in text and "length = 32" in text
    path.write_text(
        text.replace('info = "tcr-kit hsm user pin v1"', 'info = "east site pin 2026"').replace(
            "length = 32", "length = 24"
        )
    )
    loaded = load_config(path)
    assert (loaded.pin.info, loaded.pin.length) == ("east site pin 2026", 24)
    (tmp_path / label).mkdir()
    plan = init_softhsm(loaded, threshold=3, count=5, output_dir=tmp_path / label)
    activation = Activation(loaded)
    with activation.session([ShareFile(p) for p in plan.share_files[2:]]) as s:
        assert s.sign("ksk-demo", b"zone")
    with activation.user_pin([ShareFile(p) for p in plan.share_files[:3]]) as user_pin:
        assert len(user_pin) == 24


# -- the events -----------------------------------------------------------------------------


def test_every_event_names_the_hsm_its_token_the_config_and_the_share_set_and_reaches_all_sinks(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    from datetime import datetime, timedelta

    from tcr_kit.hsm.token import HsmToken

    set_id = hsm.loaded.share_set.id
    ledger, actor = _ledger(hsm, tmp_path, {})
    holders = tuple(f"tcr-{i}" for i in range(1, 6))
    seen: list[object] = []
    activation = Activation(
        hsm.loaded, ledger=ledger, actor=actor, in_person=holders, on_event=seen.append
    )
    with pytest.raises(NotEnoughCredentials):
        activation.collect([ShareFile(hsm.plan.share_files[0])])  # refused: nothing recorded
    assert activation.events == [] and seen == []
    files = [ShareFile(p) for p in hsm.plan.share_files[1:4]]
    with activation.session(files, purpose="sign") as s:
        s.sign("ksk-demo", b"zone")
    token = HsmToken.open(hsm.loaded.hsm)
    activated, deactivated = activation.events
    assert seen == [activated, deactivated]
    for event in (activated, deactivated):
        assert event.hsm.facts() == {
            "name": hsm.label, "module": hsm.loaded.hsm.module,
            "token_label": token.label, "token_serial": token.serial,
        }  # fmt: skip
        assert event.share_set.facts() == {"id": set_id, "epoch": 1, "threshold": 3, "count": 5}
        assert event.config_sha256 == hsm.loaded.sha256
        at = datetime.fromisoformat(event.at.replace("Z", "+00:00"))  # an ISO 8601 UTC time
        assert at.utcoffset() == timedelta(0)
        assert [p.credential for p in event.presented] == [f"{set_id}-{i}" for i in (2, 3, 4)]
        assert event.override is None and event.approvals is None
    assert (activated.kind, activated.outcome, activated.purpose) == (
        "hsm.activate", "activated", "sign",
    )  # fmt: skip
    assert (deactivated.kind, deactivated.outcome) == ("hsm.deactivate", "deactivated")
    stored = ledger.history(f"hsm:{hsm.label}")
    assert [e["kind"] for e in stored] == ["hsm.activate", "hsm.deactivate"]
    assert stored[0]["subjects"] == [
        f"hsm:{hsm.label}", f"share-set:{set_id}", *(f"credential:{set_id}-{i}" for i in (2, 3, 4)),
        "ceremony:1",
    ]  # fmt: skip
    for event, record in zip((activated, deactivated), stored, strict=True):
        payload = dict(record["payload"])
        assert (payload.pop("records"), payload.pop("ceremony")) == ([], 1)
        assert payload == event.payload()
    ledger.verify()


def test_in_person_or_an_override_without_a_ledger_is_a_caller_mistake(hsm: DemoHsm) -> None:
    with pytest.raises(ValueError) as caught:
        Activation(hsm.loaded, in_person=("tcr-1",)).quorum()
    assert str(caught.value) == "in_person and override need a custody ledger"
    with pytest.raises(ValueError) as no_actor:
        Activation(hsm.loaded, ledger=object())  # type: ignore[arg-type]
    assert str(no_actor.value) == "a ledger needs an actor to sign its events (and vice versa)"


def test_a_short_quorum_with_a_ledger_and_a_refusal_names_both_apart(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    ledger, actor = _ledger(hsm, tmp_path, {})
    set_id = hsm.loaded.share_set.id
    holders = tuple(f"tcr-{i}" for i in range(1, 6))
    quorum = Activation(hsm.loaded, ledger=ledger, actor=actor, in_person=holders).quorum()
    quorum.add(ShareFile(hsm.plan.share_files[0]))
    missing = tmp_path / "no-such-share.txt"
    with pytest.raises(OperationalError):
        quorum.add(ShareFile(missing))
    assert _short(quorum) == (
        f"1 of 3 shares presented for {hsm.label}: 2 more needed; not yet presented: "
        + ", ".join(f"{set_id}-{i} (tcr-{i})" for i in range(2, 6))
        + f"; refused: {missing} ({missing}: cannot read: No such file or directory)"
    )


def test_a_ledger_opened_without_a_ceremony_takes_the_open_one_for_the_events(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    _, actor = _ledger(hsm, tmp_path, {})
    ledger = Ledger.open(tmp_path / "ledger.sqlite")  # names no ceremony of its own
    assert ledger.ceremony_number is None
    holders = tuple(f"tcr-{i}" for i in range(1, 6))
    activation = Activation(hsm.loaded, ledger=ledger, actor=actor, in_person=holders)
    activation.collect([ShareFile(p) for p in hsm.plan.share_files[:3]])
    assert ledger.ceremony_number == 1


def test_a_pin_hand_off_refused_before_any_share_is_read_records_none(
    hsm: DemoHsm,
) -> None:
    from tcr_kit.hsm.approval import ApprovalsNotMet

    with hsm.config_path.open("a") as fh:
        fh.write("\n[approvals]\nrequired = 2\n")
    activation = Activation(load_config(hsm.config_path))
    with pytest.raises(ApprovalsNotMet) as caught:
        activation.user_pin([ShareFile(p) for p in hsm.plan.share_files[:3]])
    (event,) = activation.events
    assert event.outcome == f"refused: {caught.value}" and event.presented == ()
    assert event.purpose == "pin-handoff"


def test_a_pin_hand_off_records_what_was_presented_whether_handed_off_or_refused(
    hsm: DemoHsm, softhsm: SoftHsm, new_token: NewToken, tmp_path: Path
) -> None:
    from tcr_kit.hsm.errors import SharesDoNotMatchHsm
    from tcr_kit.sharing.native import split_bytes

    activation = Activation(hsm.loaded)
    with pytest.raises(NotEnoughCredentials) as short:
        activation.user_pin([ShareFile(hsm.plan.share_files[2])])
    refused = activation.events[-1]
    assert (refused.kind, refused.purpose) == ("hsm.activate", "pin-handoff")
    assert refused.outcome == f"refused: {short.value}"
    assert [p.index for p in refused.presented] == [3]
    with activation.user_pin([ShareFile(p) for p in hsm.plan.share_files[1:4]]) as user_pin:
        assert len(user_pin) == 32
    handed = activation.events[-1]
    assert (handed.kind, handed.outcome, handed.purpose) == (
        "hsm.activate", "pin handed off", "pin-handoff",
    )  # fmt: skip
    assert [p.index for p in handed.presented] == [2, 3, 4]
    # A rebuilt secret whose PIN the HSM refuses is never handed off.
    label, _ = new_token("HSM")
    other = Activation(load_config(write_config(tmp_path, softhsm, label)))
    shares = split_bytes(b"s" * 32, 3, 5)[:3]
    with pytest.raises(SharesDoNotMatchHsm):
        other.user_pin(
            [InlineShare(SecretBuffer(s.encode_compact()), f"s{s.index}") for s in shares]
        )
    assert other.events[-1].outcome.startswith("refused: the shares do not match this HSM")
    assert [p.source for p in other.events[-1].presented] == ["s1", "s2", "s3"]


def test_a_refusal_recorded_by_a_caller_is_a_refused_activation_event(hsm: DemoHsm) -> None:
    activation = Activation(hsm.loaded)
    quorum = activation.quorum()
    quorum.add(ShareFile(hsm.plan.share_files[0]))
    error = DuplicateCredential("the same share twice")
    activation.record_refusal(quorum, error, "collect")
    (event,) = activation.events
    assert (event.kind, event.outcome, event.purpose) == (
        "hsm.activate", "refused: the same share twice", "collect",
    )  # fmt: skip
    assert event.refused and [p.index for p in event.presented] == [1]


def test_a_source_refused_again_is_named_once_with_its_latest_reason_after_the_others(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    quorum = Activation(hsm.loaded).quorum()
    first, missing = hsm.plan.share_files[0], tmp_path / "not-here.txt"
    copy = tmp_path / "copy.txt"
    copy.write_bytes(first.read_bytes())
    quorum.add(ShareFile(first))
    for source in (missing, copy, missing):
        with pytest.raises((OperationalError, DuplicateCredential)):
            quorum.add(ShareFile(source))
    missing.write_bytes(hsm.plan.share_files[0].read_bytes())  # now there: another refusal
    with pytest.raises(DuplicateCredential) as again:
        quorum.add(ShareFile(missing))
    assert [name for name, _ in quorum.refused] == [
        str(p) for p in (missing, copy, missing, missing)
    ]
    assert quorum.still_refused() == [
        (
            str(copy),
            f"{copy}, share 1 is the same share as {first}, share 1",
        ),
        (str(missing), str(again.value)),
    ]
