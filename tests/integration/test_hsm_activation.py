"""HSM activation against real SoftHSM2 tokens: the library API, every fault, the ledger."""

from __future__ import annotations

import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS

from tcr_kit.cards.enrol import CardSelector, enrol
from tcr_kit.cards.errors import PinIncorrect, ReaderNotFound
from tcr_kit.cards.pkcs11_backend import Pkcs11Card
from tcr_kit.cards.record import TcrRef
from tcr_kit.custody.ledger import Ledger
from tcr_kit.errors import ExitCode, TcrError
from tcr_kit.hsm.activation import Activation, CardShare, InlineShare, ShareFile
from tcr_kit.hsm.config import load_config
from tcr_kit.hsm.errors import (
    DuplicateCredential,
    NotEnoughCredentials,
    SharesDoNotMatchHsm,
    WrongShareSet,
)
from tcr_kit.hsm.events import ActivationEvent
from tcr_kit.hsm.pin import derive_user_pin
from tcr_kit.hsm.provision import write_marker
from tcr_kit.hsm.readiness import readiness
from tcr_kit.hsm.token import EpochRef, HsmToken, Marker
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.native import combine_shares, open_share_file, split_bytes
from tcr_kit.sharing.native_header import MAGIC
from tests.fixtures.stack import TRANSPORT_PIN, SoftHsm
from tests.integration.conftest import MODULE
from tests.integration.hsm_helpers import (
    DemoHsm,
    custody_ledger,
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


def test_any_three_share_files_in_any_order_activate_and_sign(hsm: DemoHsm) -> None:
    files = hsm.plan.share_files
    for mode in (0o600,):
        assert all((p.stat().st_mode & 0o777) == mode for p in files)
    activation = Activation(hsm.loaded)
    data = b"the root zone KSK signs this"
    with activation.session([ShareFile(files[4]), ShareFile(files[0]), ShareFile(files[2])]) as s:
        signature = s.sign("ksk-demo", data)
        der = s.public_key_der("ksk-demo")
    DSS.new(ECC.import_key(der), "fips-186-3", encoding="der").verify(SHA256.new(data), signature)
    kinds = [e.kind for e in activation.events]
    assert kinds == ["hsm.activate", "hsm.deactivate"]
    first = activation.events[0]
    assert first.outcome == "activated" and not first.refused
    assert first.config_sha256 == hsm.loaded.sha256
    assert sorted(p.index for p in first.presented) == [1, 3, 5]
    operations = activation.events[1].operations
    assert operations is not None and operations[0].key_label == "ksk-demo"


def test_the_session_is_logged_out_after_the_block(hsm: DemoHsm) -> None:
    activation = Activation(hsm.loaded)
    with activation.session([ShareFile(p) for p in hsm.plan.share_files[:3]]) as s:
        raw = s.pkcs11_session
    import pkcs11.exceptions as px

    with pytest.raises(px.PKCS11Error):
        raw.generate_random(64)


def test_too_few_shares_is_exit_4_saying_how_many_more(hsm: DemoHsm) -> None:
    activation = Activation(hsm.loaded)
    with pytest.raises(NotEnoughCredentials) as caught:
        with activation.session([ShareFile(hsm.plan.share_files[1])]):
            pass
    assert caught.value.exit_code == ExitCode.QUORUM
    assert "1 of 3 shares presented" in str(caught.value)
    assert "2 more needed" in str(caught.value)
    refused = activation.events[-1]
    assert refused.refused and refused.outcome.startswith("refused: 1 of 3")
    assert [p.index for p in refused.presented] == [2]  # names what was presented


def test_duplicate_share_file_or_copy_is_exit_2(hsm: DemoHsm, tmp_path: Path) -> None:
    files = hsm.plan.share_files
    copy = tmp_path / "copy.txt"
    copy.write_bytes(files[0].read_bytes())
    for second in (files[0], copy):
        with pytest.raises(DuplicateCredential, match="same share as") as caught:
            with Activation(hsm.loaded).session([ShareFile(files[0]), ShareFile(second)]):
                pass
        assert caught.value.exit_code == ExitCode.USAGE


def test_share_of_another_set_is_exit_3_before_the_hsm_is_tried(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    other = split_bytes(b"x" * 32, 3, 5)[0]
    with pytest.raises(WrongShareSet, match="belongs to share set") as caught:
        with Activation(hsm.loaded).session(
            [ShareFile(hsm.plan.share_files[0]), InlineShare(SecretBuffer(other.encode_compact()))]
        ):
            pass
    assert caught.value.exit_code == ExitCode.INTEGRITY


def _reframed(share_file: Path, *, threshold: int, count: int) -> bytes:
    """The compact share of ``share_file`` with another threshold and count in its header
    and a CRC that matches again: a well-formed share of the same set id (its tag no longer
    verifies, which only a combine would find)."""
    body = bytearray(open_share_file(share_file).encode_compact()[4:])
    body[10], body[11] = threshold, count
    body[-4:] = struct.pack(">I", zlib.crc32(body[:-4]))
    return MAGIC + bytes(body)


def test_a_share_of_the_set_with_another_threshold_or_count_is_refused_when_added(
    hsm: DemoHsm,
) -> None:
    quorum = Activation(hsm.loaded).quorum()
    quorum.add(ShareFile(hsm.plan.share_files[0]))
    cfg = hsm.loaded.share_set
    for threshold, count in ((2, 5), (3, 6)):
        forged = _reframed(hsm.plan.share_files[3], threshold=threshold, count=count)
        with pytest.raises(WrongShareSet) as caught:
            quorum.add(InlineShare(SecretBuffer(forged), "forged share"))
        assert str(caught.value) == (
            f"forged share, share 4 is a {threshold}-of-{count} share; the config says"
            f" share set {cfg.id} is 3-of-5"
        )
        assert caught.value.exit_code == ExitCode.INTEGRITY
        # Refused here, before it joins the quorum (not only later by the combine).
        assert [p.index for p in quorum.presented] == [1]
        assert quorum.still_needed() == 2


def test_share_of_a_retired_epoch_is_exit_3_naming_the_epoch(hsm: DemoHsm) -> None:
    old_files = hsm.plan.share_files
    token = HsmToken.open(hsm.loaded.hsm)
    with combine_shares([open_share_file(p) for p in old_files[:3]]).secret as secret:
        old_pin = derive_user_pin(secret, bytes.fromhex(hsm.plan.set_id), info=hsm.loaded.pin.info)
    new_set = "00112233445566ff"
    marker = Marker(EpochRef(new_set, 2), 3, 5, retired=(EpochRef(hsm.plan.set_id, 1),))
    with old_pin:
        write_marker(token, old_pin, marker)
    cfg = hsm.config_path.read_text().replace("epoch = 1", "epoch = 2")
    hsm.config_path.write_text(cfg)
    with pytest.raises(WrongShareSet, match="retired epoch 1") as caught:
        with Activation(load_config(hsm.config_path)).session([ShareFile(old_files[0])]):
            pass
    assert caught.value.exit_code == ExitCode.INTEGRITY
    # and the old config (epoch 1) is refused as stale
    stale = cfg.replace("epoch = 2", "epoch = 1")
    hsm.config_path.write_text(stale)
    with pytest.raises(WrongShareSet, match="is at epoch 2"):
        Activation(load_config(hsm.config_path)).quorum()


def test_rebuilt_secret_the_hsm_rejects_is_exit_3(
    softhsm: SoftHsm, new_token: NewToken, tmp_path: Path
) -> None:
    label, _ = new_token("HSM")  # a token with another PIN and no activation marker
    loaded = load_config(write_config(tmp_path, softhsm, label))
    shares = split_bytes(b"s" * 32, 3, 5)
    sources = [
        InlineShare(SecretBuffer(s.encode_compact()), f"share {s.index}") for s in shares[:3]
    ]
    activation = Activation(loaded)
    with pytest.raises(SharesDoNotMatchHsm, match="the shares do not match this HSM") as caught:
        with activation.session(sources):
            pass
    assert caught.value.exit_code == ExitCode.INTEGRITY
    assert activation.events[-1].outcome.startswith("refused: the shares do not match")


def test_missing_module_is_exit_1_one_line(softhsm: SoftHsm, tmp_path: Path) -> None:
    path = write_config(tmp_path, softhsm, "NOPE", module="/usr/lib/nonexistent/libpkcs11.so")
    with pytest.raises(TcrError) as caught:
        Activation(load_config(path)).token()
    assert caught.value.exit_code == ExitCode.FAILURE
    assert "no such file" in str(caught.value) and "\n" not in str(caught.value)


def _enrol_cards(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path, indexes: list[int]
) -> list[tuple[str, str, object]]:
    out = []
    for i in indexes:
        label, serial = new_token("TCR")
        share = open_share_file(hsm.plan.share_files[i - 1])
        result = enrol(
            Pkcs11Card(MODULE, token_label=label),
            share.encode_compact(),
            tcr=TcrRef(name=f"TCR {i}", id=f"tcr-{i}"),
            current_pin=pin(TRANSPORT_PIN),
            new_pin=pin(f"pin-{i}-tcr"),
            record_path=tmp_path / f"record-{label}.json",
        )
        out.append((label, serial, result.record))
    return out


def test_cards_and_files_mixed_with_ledger_events_that_never_hold_the_secret(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path
) -> None:
    cards = _enrol_cards(hsm, new_token, tmp_path, [2, 4])
    cfg = hsm.loaded.share_set
    ledger, actor = custody_ledger(tmp_path / "ledger.sqlite", cfg.id)
    holders = register_shares(ledger, actor, cfg.id, 5, serials={2: cards[0][1], 4: cards[1][1]})
    activation = Activation(hsm.loaded, ledger=ledger, actor=actor, in_person=holders)
    sources = [
        CardShare(CardSelector(pkcs11_module=MODULE, token_label=cards[1][0]), pin("pin-4-tcr"),
                  cards[1][2]),  # type: ignore[arg-type]
        ShareFile(hsm.plan.share_files[0]),
        CardShare(CardSelector(pkcs11_module=MODULE, token_label=cards[0][0]), pin("pin-2-tcr"),
                  cards[0][2]),  # type: ignore[arg-type]
    ]  # fmt: skip
    with activation.session(sources) as s:
        s.sign("ksk-demo", b"zone")
    presented = activation.events[0].presented
    assert [p.index for p in presented] == [4, 1, 2]
    assert presented[0].tcr_id == "tcr-4" and presented[0].credential == f"{cfg.id}-4"
    assert presented[0].card_serial == cards[1][1]
    ledger.verify()
    events = ledger.history("hsm:" + hsm.loaded.hsm.name)
    assert [e["kind"] for e in events] == ["hsm.activate", "hsm.deactivate"]
    assert f"credential:{cfg.id}-4" in events[0]["subjects"]
    # The ledger stores exactly the typed event's payload (beside its own "records": [] and
    # the tag of the ceremony open), and reads back as the same event.
    stored = dict(events[0]["payload"])
    assert stored.pop("records") == []
    assert stored.pop("ceremony") == 1
    assert stored == activation.events[0].payload()
    assert (
        ActivationEvent.from_payload(events[1]["kind"], events[1]["payload"])
        == (activation.events[1])
    )
    # Neither the secret nor the derived PIN appears anywhere in the ledger file.
    with combine_shares([open_share_file(p) for p in hsm.plan.share_files[:3]]).secret as secret:
        raw_secret = bytes(secret.view())
        with derive_user_pin(
            secret, bytes.fromhex(hsm.plan.set_id), info="tcr-kit hsm user pin v1"
        ) as p:
            raw_pin = bytes(p.view())
    ledger.close()
    blob = b"".join(f.read_bytes() for f in tmp_path.glob("ledger.sqlite*"))
    assert raw_secret not in blob and raw_pin not in blob
    assert raw_secret.hex().encode() not in blob
    view = readiness(hsm.loaded, Ledger.open(tmp_path / "ledger.sqlite"))
    assert view.verdict == "ready" and view.available == 5
    assert view.credentials[3].last_verified_by == "hsm.activate"


def test_same_card_twice_is_exit_2_and_wrong_card_pin_says_so(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path
) -> None:
    ((label, _serial, record),) = _enrol_cards(hsm, new_token, tmp_path, [3])
    sel = CardSelector(pkcs11_module=MODULE, token_label=label)
    quorum = Activation(hsm.loaded).quorum()
    quorum.add(CardShare(sel, pin("pin-3-tcr"), record))  # type: ignore[arg-type]
    with pytest.raises(DuplicateCredential, match="already presented") as caught:
        quorum.add(CardShare(sel, pin("pin-3-tcr"), record))  # type: ignore[arg-type]
    assert caught.value.exit_code == ExitCode.USAGE
    with pytest.raises(PinIncorrect, match=f"wrong PIN for pkcs11 card '{label}'") as bad:
        Activation(hsm.loaded).quorum().add(CardShare(sel, pin("wrong-pin"), record))  # type: ignore[arg-type]
    assert bad.value.exit_code == ExitCode.FAILURE


def test_card_removed_mid_collection_is_exit_1(
    hsm: DemoHsm, new_token: NewToken, softhsm: SoftHsm, tmp_path: Path
) -> None:
    ((label, _serial, record),) = _enrol_cards(hsm, new_token, tmp_path, [5])
    quorum = Activation(hsm.loaded).quorum()
    quorum.add(ShareFile(hsm.plan.share_files[0]))
    subprocess.run(
        ["softhsm2-util", "--delete-token", "--token", label],
        check=True, env=softhsm.env(), capture_output=True,
    )  # fmt: skip
    sel = CardSelector(pkcs11_module=MODULE, token_label=label)
    with pytest.raises(TcrError) as caught:
        quorum.add(CardShare(sel, pin("pin-5-tcr"), record))  # type: ignore[arg-type]
    assert isinstance(caught.value, ReaderNotFound) or caught.value.exit_code == ExitCode.FAILURE
    assert caught.value.exit_code == ExitCode.FAILURE
    assert quorum.still_needed() == 2  # the first share is kept; collection can go on
