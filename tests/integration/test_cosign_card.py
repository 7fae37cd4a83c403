"""A witness co-signs with their card's signing key (a real SoftHSM2 token): in the library,
in the same command (``--witness-card``) and from another machine (``tcr witness sign
--card``); the stored co-signature verifies under the card's enrolled signing key."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tcr_kit.audit.cosign import WitnessSigner
from tcr_kit.cards.enrol import enrol
from tcr_kit.cards.pkcs11_backend import Pkcs11Card
from tcr_kit.cards.record import EnrolmentRecord, TcrRef
from tcr_kit.cards.signing import CardSigner, verify_signature
from tcr_kit.custody.ledger import Ledger
from tcr_kit.custody.models import Person, Role
from tcr_kit.secrets import SecretBuffer
from tests.custody.conftest import KEYS, SAFE, make_world
from tests.fixtures.stack import TRANSPORT_PIN
from tests.integration.conftest import MODULE, run_tcr

pytestmark = pytest.mark.integration

CARD_PIN = "iw-9-card-pin"


def _pin(value: str) -> SecretBuffer:
    return SecretBuffer(bytearray(value.encode()))


def _witness_card(
    new_token: Callable[..., tuple[str, str]], tmp: Path
) -> tuple[str, EnrolmentRecord]:
    label, _serial = new_token("IW")
    result = enrol(
        Pkcs11Card(MODULE, token_label=label),
        b"the witness card's own share",
        tcr=TcrRef(name="Witness Nine", id="iw-9"),
        current_pin=_pin(TRANSPORT_PIN),
        new_pin=_pin(CARD_PIN),
        record_path=tmp / "iw-9.json",
    )
    return label, result.record


def _ledger_with_card_witness(tmp: Path, label: str) -> Path:
    """The custody world plus iw-9, whose roster key is their card's signing key."""
    world = make_world(tmp / "ledger.sqlite")
    with CardSigner(Pkcs11Card(MODULE, token_label=label), _pin(CARD_PIN)) as card:
        public = card.public_key_bytes()
        assert card.algorithm == "ed25519"
    world.ledger.add_person(
        world.sa,
        Person(id="iw-9", name="IW 9", roles=(Role.IW,), public_key=public.hex(),
               key_algorithm="ed25519"),
    )  # fmt: skip
    world.ledger.close()
    return world.path


def _last_cosignature(path: Path) -> tuple[bytes, str, bytes]:
    conn = sqlite3.connect(path)
    seq, body = conn.execute(
        "SELECT seq, body FROM audit_event ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    person, sig = conn.execute(
        "SELECT person, signature FROM audit_cosignature WHERE seq = ?", (seq,)
    ).fetchone()
    conn.close()
    return (
        hashlib.sha256(b"tcr-kit/audit/event/v1\n" + bytes(body)).digest(),
        person,
        bytes.fromhex(sig),
    )


def test_a_witness_card_co_signs_an_event_in_the_library(
    new_token: Callable[..., tuple[str, str]], tmp_path: Path
) -> None:
    label, record = _witness_card(new_token, tmp_path)
    path = _ledger_with_card_witness(tmp_path, label)
    with (
        Ledger.open(path) as led,
        CardSigner(Pkcs11Card(MODULE, token_label=label), _pin(CARD_PIN)) as card,
    ):
        led.use_cosigners([WitnessSigner("iw-9", card)])
        from tcr_kit.custody.ledger import Actor

        led.seal_bag(Actor("ca-1", KEYS["ca"]), "TEB-1", ["CO3-KEY"], witness="iw-9",
                     location=SAFE)  # fmt: skip
        led.verify()
    digest, person, signature = _last_cosignature(path)
    assert person == "iw-9"
    assert record.keys is not None
    verify_signature(record.keys.signing, digest, signature)  # the card's enrolled key


def _files(tmp: Path, label: str) -> tuple[dict[str, str], str]:
    KEYS["ca"].save(tmp / "ca.pem")
    pin_file = tmp / "iw-9.pin"
    pin_file.write_text(CARD_PIN + "\n")
    os.chmod(pin_file, 0o600)
    env = {"TCR_LEDGER": str(tmp / "ledger.sqlite"), "SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"]}
    return env, f"module={MODULE},token-label={label},pin-file={pin_file}"


def test_cli_witness_card_in_the_command_and_witness_sign_with_the_card(
    new_token: Callable[..., tuple[str, str]], tmp_path: Path
) -> None:
    label, record = _witness_card(new_token, tmp_path)
    _ledger_with_card_witness(tmp_path, label)
    env, spec = _files(tmp_path, label)
    ca = ["--as", "ca-1", "--key", str(tmp_path / "ca.pem")]
    seal = ["bag", "seal", "TEB-1", *ca, "--contents", "CO3-KEY", "--witness", "iw-9",
            "--facility", "east"]  # fmt: skip
    proc = run_tcr([*seal, "--witness-card", spec], env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    digest, person, signature = _last_cosignature(tmp_path / "ledger.sqlite")
    assert record.keys is not None and person == "iw-9"
    verify_signature(record.keys.signing, digest, signature)

    inspect = ["bag", "inspect", "TEB-1", *ca, "--serial-read", "TEB-1", "--check", "seal=ok",
               "--witness", "iw-9"]  # fmt: skip
    proc = run_tcr([*inspect, "--dry-run", "--signing-request", "req.json"], env=env, cwd=tmp_path)
    assert proc.returncode == 0 and "signing request for iw-9" in proc.stdout, proc.stderr
    proc = run_tcr(["witness", "sign", "req.json", "--as", "iw-9", "--card", spec,
                    "--output", "sig.json"], env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0 and "co-signed as iw-9" in proc.stdout, proc.stderr
    proc = run_tcr([*inspect, "--witness-signature", "sig.json"], env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    digest, person, signature = _last_cosignature(tmp_path / "ledger.sqlite")
    verify_signature(record.keys.signing, digest, signature)
    assert run_tcr(["audit", "verify"], env=env, cwd=tmp_path).returncode == 0
