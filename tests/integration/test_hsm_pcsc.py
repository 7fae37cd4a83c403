"""HSM activation with a PC/SC card (our virtual ISO 7816 card under pcscd): a wrong PIN
says how many tries are left, and a card pulled during the collection is exit 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tcr_kit.cards.enrol import CardSelector
from tcr_kit.cards.errors import PinIncorrect
from tcr_kit.cards.record import TcrRef
from tcr_kit.errors import ExitCode, TcrError
from tcr_kit.hsm.activation import Activation, CardShare, ShareFile
from tcr_kit.secrets import SecretBuffer
from tests.fixtures.stack import SoftHsm, VirtualCard
from tests.integration.conftest import insert
from tests.integration.hsm_helpers import enrol_pcsc_share, make_hsm

pytestmark = pytest.mark.integration


def pin(value: str) -> SecretBuffer:
    return SecretBuffer(bytearray(value.encode()))


def test_pcsc_card_wrong_pin_tries_left_then_activates_then_pulled_card_is_exit_1(
    softhsm: SoftHsm,
    vcards: Callable[[str], VirtualCard],
    readers: list[str],
    tmp_path: Path,
) -> None:
    hsm = make_hsm(tmp_path, softhsm)
    vc = vcards("00000000000000C5")
    reader = insert(vc, readers)
    record = enrol_pcsc_share(
        reader,
        hsm.plan.share_files[4],
        TcrRef(name="Cleo", id="tcr-5"),
        "cleo-pin-5",
        tmp_path / "cleo.json",
    )
    selector = CardSelector(reader=reader)
    quorum = Activation(hsm.loaded).quorum()
    quorum.add(ShareFile(hsm.plan.share_files[0]))
    with pytest.raises(PinIncorrect, match=r"wrong PIN for pcsc card .*: 2 tries left") as bad:
        quorum.add(CardShare(selector, pin("not-cleos"), record))
    assert bad.value.exit_code == ExitCode.FAILURE
    got = quorum.add(CardShare(selector, pin("cleo-pin-5"), record))
    assert got.index == 5 and got.tcr_id == "tcr-5" and vc.pin_tries() == 3
    quorum.add(ShareFile(hsm.plan.share_files[1]))
    with Activation(hsm.loaded).session(quorum) as session:
        session.sign("ksk-demo", b"with a PC/SC card")
    vc.remove()  # the card is pulled; presenting it again is an operational failure
    again = Activation(hsm.loaded).quorum()
    with pytest.raises(TcrError) as pulled:
        again.add(CardShare(selector, pin("cleo-pin-5"), record))
    assert pulled.value.exit_code == ExitCode.FAILURE
    assert "\n" not in str(pulled.value)
