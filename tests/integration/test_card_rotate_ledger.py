"""``tcr card rotate --replace OLD --new-id NEW``: the rotation is recorded in the ledger (new
card registered, old credential retired, one change); a person the policy does not allow is
refused (exit 5) before any card is touched."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tcr_kit.cards.enrol import enrol
from tcr_kit.cards.pkcs11_backend import Pkcs11Card
from tcr_kit.cards.record import TcrRef
from tcr_kit.custody.ledger import Ledger
from tcr_kit.secrets import SecretBuffer
from tests.fixtures.stack import TRANSPORT_PIN, SoftHsm
from tests.integration.conftest import MODULE, one_error_line, run_tcr

pytestmark = pytest.mark.integration
NewToken = Callable[..., tuple[str, str]]


def _ledger_with_card(tmp: Path, env: dict[str, str], serial: str) -> None:
    def t(*args: str) -> str:
        proc = run_tcr(list(args), env=env, cwd=tmp)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    keys = {}
    for name in ("sa", "ca", "tcr1"):
        keys[name] = json.loads(t("key", "generate", "--output", f"{name}.pem", "--json"))[
            "public_key"
        ]
    t("roster", "init", "--id", "sa-1", "--name", "SA", "--role", "SA", "--key", "sa.pem")
    sa = ("--as", "sa-1", "--key", "sa.pem")
    t("roster", "add", *sa, "--id", "ca-1", "--name", "CA", "--role", "CA",
      "--public-key", keys["ca"])  # fmt: skip
    t("roster", "add", *sa, "--id", "tcr-1", "--name", "TCR 1", "--role", "CO", "--facility",
      "east", "--public-key", keys["tcr1"])  # fmt: skip
    t("credential", "add", "--as", "ca-1", "--key", "ca.pem", "--id", "card-1", "--kind",
      "smartcard", "--serial", serial, "--holder", "tcr-1", "--record",
      "record-1.json")  # fmt: skip


def test_cli_rotate_records_the_new_card_and_retires_the_old_one(
    new_token: NewToken, softhsm: SoftHsm, tmp_path: Path
) -> None:
    old_label, old_serial = new_token()
    new_label, _ = new_token()
    enrol(
        Pkcs11Card(MODULE, token_label=old_label),
        b"rotating share",
        tcr=TcrRef(name="TCR 1", id="tcr-1"),
        current_pin=SecretBuffer(bytearray(TRANSPORT_PIN.encode())),
        new_pin=SecretBuffer(bytearray(b"tcr-pin-1")),
        record_path=tmp_path / "record-1.json",
    )
    env = {"SOFTHSM2_CONF": str(softhsm.conf), "TCR_LEDGER": str(tmp_path / "ledger.sqlite")}
    _ledger_with_card(tmp_path, env, old_serial)
    rotate = ["card", "rotate", "--pkcs11-module", MODULE, "--old-token-label", old_label,
              "--new-token-label", new_label, "--record", "record-1.json", "--new-record",
              "new.json", "--yes", "--replace", "card-1", "--new-id", "card-1b"]  # fmt: skip
    stdin = f"tcr-pin-1\n{TRANSPORT_PIN}\nnext-pin-1\nnext-pin-1\n"
    refused = run_tcr([*rotate, "--as", "tcr-1", "--key", "tcr1.pem"], stdin, env, tmp_path)
    assert refused.returncode == 5
    assert "policy rule action-role" in one_error_line(refused)
    assert Pkcs11Card(MODULE, token_label=old_label).status().state != "blank"
    proc = run_tcr([*rotate, "--as", "ca-1", "--key", "ca.pem", "--json"], stdin, env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    with Ledger.open(tmp_path / "ledger.sqlite") as led:
        assert led.credential("card-1").state.value == "retired"
        new = led.credential("card-1b")
        assert new.serial == out["new_card_serial"] and new.holder == "tcr-1"
        assert new.enrolment_record == (tmp_path / "new.json").read_text()
        led.verify()
