"""A TCR card's on-card signing key signs a share-set manifest (real SoftHSM2 token)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.cards.enrol import enrol
from tcr_kit.cards.pkcs11_backend import Pkcs11Card
from tcr_kit.cards.record import TcrRef
from tcr_kit.cards.signing import CardSigner
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Person, Role
from tcr_kit.custody.share_manifests import check_share_alone, sign_manifest, verify_manifest
from tcr_kit.errors import IntegrityError
from tcr_kit.secrets import SecretBuffer
from tcr_kit.sharing import native
from tcr_kit.sharing.manifest import parse_manifest
from tests.fixtures.stack import TRANSPORT_PIN
from tests.integration.conftest import MODULE

pytestmark = pytest.mark.integration
NewToken = Callable[..., tuple[str, str]]


def pin(value: str) -> SecretBuffer:
    return SecretBuffer(bytearray(value.encode()))


def test_a_manifest_signed_on_a_card_checks_against_the_roster(
    new_token: NewToken, tmp_path: Path
) -> None:
    label, _ = new_token()
    card = Pkcs11Card(MODULE, token_label=label)
    enrol(card, b"the splitter's own share", tcr=TcrRef(name="CA One", id="ca-1"),
          current_pin=pin(TRANSPORT_PIN), new_pin=pin("ca-pin-1"),
          record_path=tmp_path / "record.json")  # fmt: skip
    shares = native.split_bytes(b"activation pin 24680", 2, 3)
    h = shares[0].header
    record = native.SplitManifest(
        h.set_id, 2, 3, h.secret_length, h.label, [s.digest() for s in shares]
    ).record()
    with CardSigner(Pkcs11Card(MODULE, token_label=label), pin("ca-pin-1")) as signer:
        signed = sign_manifest(parse_manifest(native.canonical_json(record)), signer, "ca-1")
        card_key = signer.public_key_bytes()
        algorithm = signer.algorithm
    assert signed.signer is not None and signed.signer.public_key == card_key.hex()
    verify_manifest(parse_manifest(signed.to_bytes()), card_key)

    sa = SoftwareEd25519Signer.generate()
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger.initialise(
            Person(id="sa-1", name="SA", roles=(Role.SA,), public_key=sa.public_key_bytes().hex(),
                   key_algorithm="ed25519"),
            sa,
        )  # fmt: skip
        # Until the card's key is the one registered to ca-1, the ledger refuses the manifest.
        with pytest.raises(IntegrityError, match="ca-1 is not on the roster"):
            check_share_alone(shares[0], signed, ledger=ledger)
        ledger.add_person(
            Actor("sa-1", sa),
            Person(id="ca-1", name="CA", roles=(Role.CA,), public_key=card_key.hex(),
                   key_algorithm=algorithm),
        )  # fmt: skip
        event = ledger.register_manifest(Actor("sa-1", sa), "hsm-x", signed, purpose="HSM X")
        for share in shares:
            result = check_share_alone(share, signed, ledger=ledger)
            assert result.signer_checked and result.registered_at == event.seq


def test_tcr_shares_sign_signs_with_a_card_and_refuses_key_and_card_together(
    new_token: NewToken, tmp_path: Path
) -> None:
    from tests.integration.conftest import one_error_line, run_tcr

    label, _ = new_token()
    card = Pkcs11Card(MODULE, token_label=label)
    enrol(card, b"the splitter's own share", tcr=TcrRef(name="SA One", id="sa-1"),
          current_pin=pin(TRANSPORT_PIN), new_pin=pin("sa-pin-1"),
          record_path=tmp_path / "record.json")  # fmt: skip
    pin_file = tmp_path / "pin"
    pin_file.write_text("sa-pin-1\n")
    pin_file.chmod(0o600)
    secret = tmp_path / "pin.txt"
    secret.write_bytes(b"activation pin 13579")
    secret.chmod(0o600)
    run_tcr(["shares", "split", "-m", "2", "-n", "3", "-i", str(secret), "-o", str(tmp_path),
             "-q"])  # fmt: skip
    manifest = tmp_path / "pin.txt.manifest.json"
    card_args = ["--pkcs11-module", MODULE, "--token-label", label, "--pin-file", str(pin_file)]
    proc = run_tcr(["shares", "sign", str(manifest), "--as", "sa-1", *card_args, "--json"])
    assert proc.returncode == 0, proc.stderr
    signed = tmp_path / "pin.txt.manifest.signed.json"
    doc = parse_manifest(signed.read_bytes())
    with CardSigner(Pkcs11Card(MODULE, token_label=label), pin("sa-pin-1")) as signer:
        verify_manifest(doc, signer.public_key_bytes())
    key = tmp_path / "sa.pem"
    SoftwareEd25519Signer.generate().save(key)
    both = run_tcr(["shares", "sign", str(manifest), "--as", "sa-1", "--key", str(key),
                    *card_args, "--output", str(tmp_path / "x.json")])  # fmt: skip
    assert both.returncode == 2 and "either --key FILE or a card" in one_error_line(both)
    share = tmp_path / "pin.txt.share-003.txt"
    check = run_tcr(["shares", "check", str(share), "--manifest", str(signed),
                     "--signer-key", doc.signer.public_key if doc.signer else ""])  # fmt: skip
    assert check.returncode == 0, check.stderr
