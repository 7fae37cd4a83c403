"""The flows the ``tcr hsm`` commands are made of, at library level against SoftHSM2: the
PIN hand-off to a child process, collecting a quorum through prompt callables, card specs,
signing a file, registering the share set."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS

from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.cards.enrol import enrol
from tcr_kit.cards.pkcs11_backend import Pkcs11Card
from tcr_kit.cards.record import TcrRef
from tcr_kit.custody.ledger import Actor, Ledger, NotFound
from tcr_kit.custody.models import Person, Role, build
from tcr_kit.errors import ExitCode, FileExistsRefused, OperationalError, QuorumNotMet
from tcr_kit.hsm.activation import Activation, ShareFile
from tcr_kit.hsm.collect import CardSpecError, Prompts, collect, parse_card_spec
from tcr_kit.hsm.errors import DuplicateCredential
from tcr_kit.hsm.handoff import run_with_pin
from tcr_kit.hsm.register import register_share_set
from tcr_kit.hsm.signing import SignRequest
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.native import open_share_file
from tests.fixtures.stack import TRANSPORT_PIN, SoftHsm
from tests.integration.conftest import MODULE, ROOT
from tests.integration.hsm_helpers import DemoHsm, make_hsm

pytestmark = pytest.mark.integration
NewToken = Callable[..., tuple[str, str]]

CHILD = """
import os, sys, pkcs11
from tcr_kit.hsm.handoff import receive_pin
with receive_pin() as pin:
    text = bytes(pin.view()).decode()
    assert text not in " ".join(sys.argv) and all(text not in v for v in os.environ.values())
    token = pkcs11.lib(os.environ["TCR_HSM_MODULE"]).get_token(
        token_label=os.environ["TCR_HSM_TOKEN_LABEL"])
    with token.open(user_pin=text) as session:
        session.get_key(label="ksk-demo", object_class=pkcs11.ObjectClass.PRIVATE_KEY)
print("child logged in")
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture
def hsm(softhsm: SoftHsm, tmp_path: Path) -> DemoHsm:
    return make_hsm(tmp_path, softhsm)


class Operator:
    """Scripted answers and PINs; records every line shown and every PIN buffer handed out."""

    def __init__(self, answers: Sequence[str] = (), pins: Sequence[str] = ()) -> None:
        self.answers, self.pins = list(answers), list(pins)
        self.shown: list[str] = []
        self.asked_pins: list[str] = []
        self.buffers: list[SecretBuffer] = []

    def read_pin(self, what: str, pin_file: Path | None) -> SecretBuffer:
        self.asked_pins.append(what)
        buf = SecretBuffer(bytearray(self.pins.pop(0).encode()))
        self.buffers.append(buf)
        return buf

    def prompts(self) -> Prompts:
        return Prompts(read_pin=self.read_pin, progress=self.shown.append,
                       warn=lambda line: self.shown.append(f"warning: {line}"),
                       ask=lambda q: self.answers.pop(0) if self.answers else "",
                       say=self.shown.append)  # fmt: skip


def _card(hsm: DemoHsm, new_token: NewToken, tmp_path: Path, index: int, pin: str) -> Path:
    label, _ = new_token("TCR")
    record = tmp_path / f"tcr-{index}.json"
    enrol(
        Pkcs11Card(MODULE, token_label=label),
        open_share_file(hsm.plan.share_files[index - 1]).encode_compact(),
        tcr=TcrRef(name=f"TCR {index}", id=f"tcr-{index}"),
        current_pin=SecretBuffer(bytearray(TRANSPORT_PIN.encode())),
        new_pin=SecretBuffer(bytearray(pin.encode())),
        record_path=record,
    )
    return record


def test_pin_handoff_runs_a_child_that_logs_in_with_the_pin_from_the_pipe(
    hsm: DemoHsm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    activation = Activation(hsm.loaded)
    files = hsm.plan.share_files
    rc = run_with_pin(
        activation, [ShareFile(p) for p in files[:3]], [sys.executable, str(script), "0"]
    )
    assert rc == 0
    assert [(e.kind, e.outcome, e.purpose) for e in activation.events] == [
        ("hsm.activate", "pin handed off", "pin-handoff")
    ]
    again = run_with_pin(Activation(hsm.loaded), [ShareFile(p) for p in files[2:]],
                         [sys.executable, str(script), "3"])  # fmt: skip
    assert again == 3  # the child's own status, for the caller to judge
    with pytest.raises(OperationalError, match="cannot run"):
        run_with_pin(Activation(hsm.loaded), [ShareFile(p) for p in files[:3]],
                     [str(tmp_path / "no-such-program")])  # fmt: skip


def test_collect_reads_files_then_cards_through_the_callables_and_wipes_each_pin(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path
) -> None:
    record = _card(hsm, new_token, tmp_path, 4, "pin-of-4")
    operator = Operator(pins=["pin-of-4"])
    card = parse_card_spec(f"record={record}", MODULE)
    extra = parse_card_spec(f"record={record}", MODULE)
    activation = Activation(hsm.loaded)
    files = hsm.plan.share_files[:2]
    quorum = collect(activation, files, [card, extra], operator.prompts())
    assert quorum.complete() and [p.index for p in quorum.presented] == [1, 2, 4]
    assert operator.asked_pins == ["PIN for the card of TCR tcr-4 (TCR 4), serial " +
                                   card.record.card.serial]  # type: ignore[union-attr]  # fmt: skip
    assert all(buf.wiped for buf in operator.buffers)
    assert operator.shown[0].startswith("share 1 from") and "(2 more needed)" in operator.shown[0]
    assert operator.shown[-1].startswith("warning: quorum already complete")
    with activation.session(quorum) as session:
        session.sign("ksk-demo", b"data")


def test_prompted_cards_go_on_after_a_refusal_and_an_empty_answer_stops(
    hsm: DemoHsm, new_token: NewToken, tmp_path: Path
) -> None:
    r2 = _card(hsm, new_token, tmp_path, 2, "pin-of-2")
    r3 = _card(hsm, new_token, tmp_path, 3, "pin-of-3")
    operator = Operator(answers=[str(r2), str(r2), str(tmp_path / "missing.json"), str(r3)],
                        pins=["wrong-pin", "pin-of-2", "pin-of-3"])  # fmt: skip
    quorum = collect(Activation(hsm.loaded), hsm.plan.share_files[:1], [], operator.prompts(),
                     interactive=True, pkcs11_module=MODULE)  # fmt: skip
    assert quorum.complete() and [p.index for p in quorum.presented] == [1, 2, 3]
    shown = "\n".join(operator.shown)
    assert "2 more card(s) needed" in shown and "insert the card of TCR tcr-2 (TCR 2)" in shown
    assert "refused: wrong PIN for pkcs11 card" in shown
    # an unreadable enrolment record is refused too, and the collection goes on
    assert any(x.startswith("refused: ") and "missing.json" in x for x in operator.shown)
    assert all(buf.wiped for buf in operator.buffers)
    stopped = Operator(answers=[])
    short = collect(Activation(hsm.loaded), hsm.plan.share_files[:1], [], stopped.prompts(),
                    interactive=True, pkcs11_module=MODULE)  # fmt: skip
    assert short.still_needed() == 2
    with pytest.raises(QuorumNotMet) as caught:
        Activation(hsm.loaded).user_pin(short)
    assert (caught.value.have, caught.value.need) == (1, 3)


def test_a_refused_collection_is_audited_only_when_asked_naming_what_came_before(
    hsm: DemoHsm,
) -> None:
    files = hsm.plan.share_files
    activation = Activation(hsm.loaded)
    with pytest.raises(DuplicateCredential, match="same share"):
        collect(activation, [files[0], files[0]], [], Operator().prompts(),
                refusal_purpose="collect")  # fmt: skip
    (event,) = activation.events
    assert event.refused and event.purpose == "collect"
    assert [p.index for p in event.presented] == [1]
    unaudited = Activation(hsm.loaded)
    with pytest.raises(DuplicateCredential):
        collect(unaudited, [files[0], files[0]], [], Operator().prompts())
    assert unaudited.events == []


def test_card_specs_name_a_card_or_say_what_is_missing(tmp_path: Path) -> None:
    spec = parse_card_spec("label=TCR-1,pin-file=/p", MODULE)
    assert spec.selector.token_label == "TCR-1" and spec.pin_file == Path("/p")
    assert spec.record is None and spec.describe() == spec.selector.describe()
    assert parse_card_spec("reader=Virtual PCD 00 00", None).selector.pkcs11_module is None
    for bad, message in [
        ("colour=blue", "expected record=FILE"),
        ("pin-file=/p", "name the card"),
        ("label=TCR-1", "needs --pkcs11-module"),
    ]:
        with pytest.raises(CardSpecError, match=message) as caught:
            parse_card_spec(bad, None)
        assert caught.value.exit_code == ExitCode.USAGE


def test_sign_request_refuses_before_any_share_then_signs_and_writes(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    data = tmp_path / "zone.txt"
    data.write_bytes(b"example. IN DNSKEY 257 3 13 ...\n")
    taken = tmp_path / "taken.sig"
    taken.write_bytes(b"x")
    with pytest.raises(FileExistsRefused):
        SignRequest.prepare("ksk-demo", data, taken)
    with pytest.raises(OperationalError, match="cannot read"):
        SignRequest.prepare("ksk-demo", tmp_path / "missing", tmp_path / "out.sig")
    request = SignRequest.prepare("ksk-demo", data, tmp_path / "zone.sig")
    assert "example." not in repr(request)
    activation = Activation(hsm.loaded)
    signed = request.sign(activation, [ShareFile(p) for p in hsm.plan.share_files[1:4]])
    signature = (tmp_path / "zone.sig").read_bytes()
    DSS.new(ECC.import_key(bytes.fromhex(hsm.plan.public_key_der)), "fips-186-3",
            encoding="der").verify(SHA256.new(data.read_bytes()), signature)  # fmt: skip
    assert signed.public_key_sha256 == hsm.plan.public_key_sha256
    assert signed.facts()["signature"] == str(tmp_path / "zone.sig")
    assert [e.kind for e in activation.events] == ["hsm.activate", "hsm.deactivate"]
    assert activation.events[0].purpose == "sign"


def test_register_share_set_records_the_config_set_and_dry_run_records_nothing(
    hsm: DemoHsm, tmp_path: Path
) -> None:
    key = SoftwareEd25519Signer.generate()
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger.initialise(
            build(Person, id="ca", name="CA", roles=(Role.CA,),
                  public_key=key.public_key_bytes().hex(), key_algorithm="ed25519"),
            key,
        )  # fmt: skip
        actor = Actor("ca", key)
        cfg = hsm.loaded.share_set
        register_share_set(hsm.loaded, ledger, actor, dry_run=True)
        with pytest.raises(NotFound):
            ledger.share_set(cfg.id)
        made = register_share_set(hsm.loaded, ledger, actor)
        stored = ledger.share_set(cfg.id)
        assert (stored.m, stored.n, stored.epoch) == (cfg.threshold, cfg.count, cfg.epoch)
        assert made.purpose == stored.purpose == f"activation of HSM {hsm.loaded.hsm.name}"
    assert hsm.plan.facts()["config_sha256"] == hsm.loaded.sha256
