"""Our virtual ISO 7816 card in a vpcd reader under pcscd: the tcr-iso7816-v1 profile."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tcr_kit.cards.enrol import check_card, enrol
from tcr_kit.cards.errors import (
    CardOutcomeUnknown,
    CardRemoved,
    LastTryRefused,
    NotEnrolled,
    PinBlocked,
    PinIncorrect,
    WrongCard,
)
from tcr_kit.cards.pcsc_backend import PcscCard
from tcr_kit.cards.record import TcrRef, load_record
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing.native import split_bytes
from tests.cli_runner import CHILD
from tests.fixtures.stack import PUK, TRANSPORT_PIN, VirtualCard
from tests.integration.conftest import VPCD_PORTS, insert, one_error_line, run_tcr

pytestmark = pytest.mark.integration

Cards = Callable[[str], VirtualCard]


def pin(value: str) -> SecretBuffer:
    return SecretBuffer(bytearray(value.encode()))


def _enrol_lib(reader: str, share: bytes, tmp: Path, name: str = "rec.json") -> Path:
    card = PcscCard(reader)
    try:
        enrol(
            card,
            share,
            tcr=TcrRef(name="Bea Example", id="tcr-5"),
            current_pin=pin(TRANSPORT_PIN),
            new_pin=pin("bea-pin-5"),
            puk=pin(PUK),
            record_path=tmp / name,
        )
    finally:
        card.close()
    return tmp / name


def test_empty_verify_reads_tries_without_spending_one(vcards: Cards, readers: list[str]) -> None:
    vc = vcards("0000000000000001")
    reader = insert(vc, readers)
    card = PcscCard(reader)
    try:
        for _ in range(5):
            assert card.pin_status().tries_left == 3
        with pytest.raises(PinIncorrect) as info:
            card.verify_pin(pin("999999"))
        assert info.value.attempts_left == 2
        assert card.pin_status().tries_left == 2 and vc.pin_tries() == 2
        card.verify_pin(pin(TRANSPORT_PIN))
        assert vc.pin_tries() == 3
    finally:
        card.close()


def test_cli_enrol_remove_reinsert_check(vcards: Cards, readers: list[str], tmp_path: Path) -> None:
    vc = vcards("0A1B2C3D4E5F6071")
    reader = insert(vc, readers)
    share = split_bytes(b"p" * 32, 2, 3, label="pcsc")[1]
    share_file = tmp_path / "share-2"
    share_file.write_text(share.encode_text())
    record = tmp_path / "rec.json"
    proc = run_tcr(
        ["card", "enrol", "--reader", reader, "--share", str(share_file), "--tcr-name", "Bea",
         "--tcr-id", "tcr-2", "--record", str(record), "--json"],
        stdin=f"{TRANSPORT_PIN}\nbea-pin-2\nbea-pin-2\n{PUK}\n",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rec = load_record(record)
    assert rec.card.serial == "0A1B2C3D4E5F6071" and rec.card.atr
    assert rec.share.index == 2 and rec.profile == "tcr-iso7816-v1"
    # The card's memory (all of its EFs) never holds the share in the clear.
    state = vc.state.read_text()
    assert share.encode_compact()[4:36].hex() not in state
    assert share.encode_compact()[-32:].hex() not in state

    vc.remove()
    proc = run_tcr(["card", "check", "--reader", reader, "--record", str(record)])
    assert proc.returncode == 1 and "no card" in one_error_line(proc)
    insert(vc, readers)
    proc = run_tcr(
        ["card", "check", "--reader", reader, "--record", str(record), "--with-pin", "--json"],
        stdin="bea-pin-2\n",
    )
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["share_intact"] is True and facts["pin_tries_left"] == 3
    assert facts["set_id"] == share.set_id_hex and facts["index"] == 2


def test_last_try_is_refused_then_blocked_then_unblocked_with_puk(
    vcards: Cards, readers: list[str], tmp_path: Path
) -> None:
    vc = vcards("00000000000000AA")
    reader = insert(vc, readers)
    record = _enrol_lib(reader, b"last try share", tmp_path)
    base = ["card", "check", "--reader", reader, "--record", str(record), "--with-pin"]
    for left in (2, 1):
        proc = run_tcr(base, stdin="wrong-pin\n")
        assert proc.returncode == 1
        assert f"{left} tries left" in one_error_line(proc)
    proc = run_tcr(base, stdin="bea-pin-5\n")
    assert proc.returncode == 1 and "only one PIN try is left" in one_error_line(proc)
    assert vc.pin_tries() == 1  # the refusal spent nothing
    proc = run_tcr([*base, "--force"], stdin="wrong-pin\n")
    assert proc.returncode == 1 and "blocked" in one_error_line(proc)
    assert vc.pin_tries() == 0
    card = PcscCard(reader)
    try:
        with pytest.raises(PinBlocked):
            card.read_credential(pin("bea-pin-5"))
    finally:
        card.close()
    proc = run_tcr(
        ["card", "unblock", "--reader", reader], stdin=f"{PUK}\nnew-pin-55\nnew-pin-55\n"
    )
    assert proc.returncode == 0, proc.stderr
    proc = run_tcr(base, stdin="new-pin-55\n")
    assert proc.returncode == 0, proc.stderr  # the PUK slot kept the share readable


def test_library_refuses_last_try(vcards: Cards, readers: list[str], tmp_path: Path) -> None:
    vc = vcards("00000000000000AB")
    reader = insert(vc, readers)
    _enrol_lib(reader, b"x", tmp_path)
    card = PcscCard(reader)
    try:
        for _ in range(2):
            with pytest.raises(PinIncorrect):
                card.verify_pin(pin("wrong-pin"))
        with pytest.raises(LastTryRefused):
            card.read_credential(pin("bea-pin-5"))
        assert vc.pin_tries() == 1
        card.allow_last_try = True
        assert len(card.read_credential(pin("bea-pin-5"))) == 1
    finally:
        card.close()


def test_change_pin_keeps_the_share(vcards: Cards, readers: list[str], tmp_path: Path) -> None:
    vc = vcards("00000000000000AC")
    reader = insert(vc, readers)
    record = _enrol_lib(reader, b"change my pin", tmp_path)
    proc = run_tcr(
        ["card", "change-pin", "--reader", reader], stdin="bea-pin-5\nnext-pin-5\nnext-pin-5\n"
    )
    assert proc.returncode == 0, proc.stderr
    card = PcscCard(reader)
    try:
        rec = load_record(record)
        assert check_card(card, record=rec, pin=pin("next-pin-5")).share_intact
    finally:
        card.close()
    card = PcscCard(reader)
    try:
        with pytest.raises(PinIncorrect):
            card.verify_pin(pin("bea-pin-5"))
    finally:
        card.close()


def test_wrong_card_inserted_exit_3(vcards: Cards, readers: list[str], tmp_path: Path) -> None:
    mine, other = vcards("1111111111111111"), vcards("2222222222222222")
    reader = insert(mine, readers)
    record = _enrol_lib(reader, b"mine", tmp_path)
    mine.remove()
    insert(other, readers)
    proc = run_tcr(["card", "check", "--reader", reader, "--record", str(record)])
    assert proc.returncode == 3
    line = one_error_line(proc)
    assert "wrong card" in line and "1111111111111111" in line and "2222222222222222" in line
    card = PcscCard(reader)
    try:
        with pytest.raises(WrongCard):
            check_card(card, record=load_record(record))
    finally:
        card.close()


def test_card_removed_mid_enrolment_leaves_it_pending_and_a_rerun_completes(
    vcards: Cards, readers: list[str], tmp_path: Path
) -> None:
    vc = vcards("3333333333333333")
    reader = insert(vc, readers)
    card = PcscCard(reader)
    card.begin_enrolment(pin(TRANSPORT_PIN), pin(PUK), "ab" * 16)
    vc.remove()
    # The enrolment had begun changing the card: not "nothing was committed", but unknown.
    with pytest.raises(CardOutcomeUnknown, match=r"was removed.*run the same enrolment again"):
        card.status()
    card.close()
    insert(vc, readers)
    card = PcscCard(reader)
    try:
        assert card.status().state == "pending"
        with pytest.raises(NotEnrolled, match="pending"):
            check_card(card)
    finally:
        card.close()
    record = _enrol_lib(reader, b"after the interruption", tmp_path)
    card = PcscCard(reader)
    try:
        assert check_card(card, record=load_record(record), pin=pin("bea-pin-5")).share_intact
    finally:
        card.close()


def test_cli_removed_card_exit_1(vcards: Cards, readers: list[str], tmp_path: Path) -> None:
    vc = vcards("4444444444444444")
    reader = insert(vc, readers)
    card = PcscCard(reader)
    vc.remove()
    with pytest.raises(CardRemoved, match="removed"):
        card.pin_status()
    card.close()
    proc = run_tcr(["card", "wipe", "--reader", reader, "--yes"], stdin="x\n")
    assert proc.returncode == 1 and "no card" in one_error_line(proc)


def test_cli_reader_missing_and_pcscd_unreachable_exit_1(readers: list[str]) -> None:
    proc = run_tcr(["card", "check", "--reader", "No Such Reader 99"])
    assert proc.returncode == 1 and "no such reader" in one_error_line(proc)
    # pcsc-lite clients find the daemon through this socket path: point it nowhere.
    proc = run_tcr(["card", "list"], env={"PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"})
    assert proc.returncode == 1 and "pcscd is not running" in one_error_line(proc)


def test_cli_wipe_and_list(vcards: Cards, readers: list[str], tmp_path: Path) -> None:
    vc = vcards("5555555555555555")
    reader = insert(vc, readers)
    record = _enrol_lib(reader, b"to be wiped", tmp_path)
    proc = run_tcr(["card", "list", "--record", str(record), "--json"])
    assert proc.returncode == 0, proc.stderr
    (row,) = [r for r in json.loads(proc.stdout)["cards"] if r["location"] == reader]
    assert row["state"] == "enrolled" and row["tcr"] == "tcr-5 (Bea Example)"
    proc = run_tcr(
        ["card", "wipe", "--reader", reader, "--record", str(record), "--yes"],
        stdin="bea-pin-5\n",
    )
    assert proc.returncode == 0, proc.stderr
    state = json.loads(vc.state.read_text())
    assert set(state["files"]["0103"]) == {"0"} and set(state["files"]["0104"]) == {"0"}
    card = PcscCard(reader)
    try:
        assert card.status().state == "blank"
    finally:
        card.close()


def test_cli_rotate_from_a_pcsc_card_to_a_pkcs11_token(
    vcards: Cards, readers: list[str], new_token: Callable[..., tuple[str, str]], tmp_path: Path
) -> None:
    from tests.integration.conftest import MODULE

    vc = vcards("6666666666666666")
    reader = insert(vc, readers)
    share = split_bytes(b"z" * 32, 2, 3)[0]
    record = _enrol_lib(reader, share.encode_compact(), tmp_path)
    label, serial = new_token()
    proc = run_tcr(
        ["card", "rotate", "--old-reader", reader, "--pkcs11-module", MODULE,
         "--new-token-label", label, "--record", str(record),
         "--new-record", str(tmp_path / "new.json"), "--yes"],
        stdin=f"bea-pin-5\n{TRANSPORT_PIN}\ntoken-pin-5\ntoken-pin-5\n",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    new = load_record(tmp_path / "new.json")
    assert new.card.serial == serial and new.share == load_record(record).share
    assert new.tcr.id == "tcr-5"
    card = PcscCard(reader)
    try:
        assert card.status().state == "blank"
    finally:
        card.close()


def test_unblock_of_a_card_enrolled_without_puk_slot_says_the_share_is_lost(
    vcards: Cards, readers: list[str], tmp_path: Path
) -> None:
    from tcr_kit.cards.errors import CredentialCorrupt

    vc = vcards("7777777777777777")
    reader = insert(vc, readers)
    card = PcscCard(reader)
    try:
        enrol(
            card,
            b"no puk slot",
            tcr=TcrRef(name="C", id="tcr-7"),
            current_pin=pin(TRANSPORT_PIN),
            new_pin=pin("cee-pin-7"),
            record_path=tmp_path / "r.json",
        )
    finally:
        card.close()
    card = PcscCard(reader)
    try:
        with pytest.raises(CredentialCorrupt, match="without a PUK slot"):
            card.unblock(pin(PUK), pin("new-pin-77"))
        assert card.pin_status().tries_left is None  # verified with the new PIN
    finally:
        card.close()
    assert vc.pin_tries() == 3


def test_cli_rotate_with_one_reader_waits_for_each_card_swap(
    vcards: Cards, readers: list[str], tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    from tests.integration.conftest import ROOT

    old_vc, new_vc = vcards("8888888888888888"), vcards("9999999999999999")
    reader = insert(old_vc, readers)
    record = _enrol_lib(reader, b"one reader rotation", tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcr_cli.main", "card", "rotate", "--old-reader", reader,
         "--new-reader", reader, "--record", str(record), "--new-record",
         str(tmp_path / "new.json"), "--yes", "--swap-timeout", "20"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT, **CHILD,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(f"bea-pin-5\n{TRANSPORT_PIN}\nnew-bea-55\nnew-bea-55\n{PUK}\n")
    proc.stdin.close()
    steps = {
        "remove the old card": old_vc.remove,
        "insert the new card": lambda: insert(new_vc, readers),
        "remove the new card": new_vc.remove,
        "insert the old card": lambda: insert(old_vc, readers),
    }
    seen = []
    try:
        for line in proc.stderr:
            for prompt, action in steps.items():
                if line.startswith(prompt):
                    seen.append(prompt)
                    action()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert seen == list(steps)
    new_rec = load_record(tmp_path / "new.json")
    assert new_rec.card.serial == "9999999999999999"
    card = PcscCard(reader)  # the old card is back in the reader, now blank
    try:
        assert card.identity().serial == "8888888888888888"
        assert card.status().state == "blank"
    finally:
        card.close()


def test_cli_check_waits_for_the_named_card_to_be_inserted(
    vcards: Cards, readers: list[str], tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    from tests.integration.conftest import ROOT

    vc = vcards("ABABABABABABABAB")
    reader = insert(vc, readers)
    record = _enrol_lib(reader, b"wait for me", tmp_path)
    vc.remove()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcr_cli.main", "card", "check", "--reader", reader,
         "--record", str(record), "--wait", "20"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT, **CHILD,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        line = proc.stderr.readline()
        assert line.startswith("insert the card of TCR tcr-5 (Bea Example), serial ABAB")
        insert(vc, readers)
        out, _err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "record_matches" in out and "ABABABABABABABAB" in out


@pytest.mark.parametrize(
    ("pull", "expected"),
    [
        pytest.param("0x24:1", "the PIN may have changed: try the new PIN first", id="unanswered"),
        pytest.param("0xD6:2", "the PIN has changed: use the new PIN", id="after-the-change"),
    ],
)
def test_a_card_pulled_during_change_pin_never_reports_a_plain_failure(
    vcards: Cards, readers: list[str], tmp_path: Path, pull: str, expected: str
) -> None:
    """Pulled right after CHANGE REFERENCE DATA (0x24) was executed but before it answered,
    or at the UPDATE BINARY (0xD6) after it (the first one writes the pending slot): the new
    PIN took effect both times, and tcr says so instead of "nothing was committed" (which
    made a TCR retry the old PIN and burn tries)."""
    vc = vcards("00000000000000AD")
    reader = insert(vc, readers)
    record = _enrol_lib(reader, b"pull me", tmp_path)
    vc.remove()
    vc.insert(reader, VPCD_PORTS[0], pull_after=pull)
    proc = run_tcr(
        ["card", "change-pin", "--reader", reader], stdin="bea-pin-5\nnext-pin-5\nnext-pin-5\n"
    )
    assert proc.returncode == 1, proc.stderr
    assert expected in one_error_line(proc)
    vc.remove()
    vc.insert(reader, VPCD_PORTS[0])
    card = PcscCard(reader)
    try:
        assert check_card(card, record=load_record(record), pin=pin("next-pin-5")).share_intact
    finally:
        card.close()


def test_card_check_of_a_pcsc_card_imports_no_pkcs11_pydantic_or_cipher_library(
    vcards: Cards, readers: list[str], tmp_path: Path
) -> None:
    reader = insert(vcards("0000000000000014"), readers)
    record = _enrol_lib(reader, b"start-up share", tmp_path)
    probe = (
        "import sys\nfrom tcr_cli.main import main\n"
        f"sys.argv = ['tcr', 'card', 'check', '--reader', {reader!r},"
        f" '--record', {str(record)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    loaded = set(ast.literal_eval(proc.stdout.splitlines()[-1]))
    assert "smartcard" in loaded  # the PC/SC middleware the check used
    assert not loaded & {"pkcs11", "pydantic", "numpy", "Crypto", "cryptography", "nacl"}
