"""A card's signing key (ECDSA P-256, DER SPKI public key, DER signature over SHA-256, as
the cards work produces) plugs into custody through the ``Signer`` protocol."""

from __future__ import annotations

from pathlib import Path

import pytest
from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS

from tcr_kit.audit.signing import ECDSA_P256, Signer
from tcr_kit.audit.transcript import build_transcript, verify_transcript, write_transcript
from tcr_kit.custody import remote
from tcr_kit.custody.ledger import Actor
from tcr_kit.custody.models import Credential, CredentialKind, Person, Role
from tcr_kit.errors import IntegrityError

from .conftest import FACILITY, World


class CardLikeSigner:
    """Stands in for a card: same algorithm and encodings as tcr_kit.cards.signing."""

    def __init__(self) -> None:
        self._key = ECC.generate(curve="P-256")

    @property
    def algorithm(self) -> str:
        return ECDSA_P256

    def public_key_bytes(self) -> bytes:
        return bytes(self._key.public_key().export_key(format="DER"))

    def sign(self, data: bytes) -> bytes:
        return bytes(DSS.new(self._key, "fips-186-3", encoding="der").sign(SHA256.new(data)))


def test_card_signer_registers_signs_events_and_remote_attestations(
    world: World, tmp_path: Path
) -> None:
    card = CardLikeSigner()
    assert isinstance(card, Signer)
    led = world.ledger
    led.add_person(
        world.sa,
        Person(
            id="rksh-1",
            name="RKSH 1",
            roles=(Role.RKSH,),
            public_key=card.public_key_bytes().hex(),
            key_algorithm=ECDSA_P256,
        ),
    )
    led.add_credential(
        world.ca,
        Credential(
            id="RKSH1-CARD", kind=CredentialKind.SMARTCARD, serial="0A1B2C", holder="rksh-1"
        ),
    )
    att = remote.seal(card, holder="rksh-1", bag_serial="TEB-7007", contents=["RKSH1-CARD"])
    assert att.attestation.algorithm == ECDSA_P256
    led.record_remote_seal(world.ca, att)
    led.ship_bag(world.ca, "TEB-7007", carrier="c", tracking="t", sender="rksh-1", recipient="e")
    led.receive_bag(
        world.ca, "TEB-7007", serial_read="TEB-7007", location=FACILITY, attestation=att
    )
    # The holder signs a change the policy lets them make: sealing their own credential.
    led.add_credential(
        world.ca,
        Credential(id="RKSH1-KEY", kind=CredentialKind.SAFE_DEPOSIT_KEY, serial="K1",
                   holder="rksh-1"),
    )  # fmt: skip
    led.seal_bag(
        Actor("rksh-1", card),
        "TEB-7008",
        ["RKSH1-KEY"],
        witness="iw-1",
        location=FACILITY,
        holder="rksh-1",
    )
    assert led.history("bag:TEB-7008")[-1]["actor"] == "rksh-1"
    led.checkpoint(Actor("rksh-1", card))
    led.verify()
    out = tmp_path / "t.json"
    write_transcript(build_transcript(led.audit), out)
    assert verify_transcript(out).report.checkpoints == 1


def test_card_attestation_with_a_flipped_signature_is_refused(world: World) -> None:
    card = CardLikeSigner()
    att = remote.seal(card, holder="tcr-3", bag_serial="TEB-7007", contents=["CO3-KEY"])
    flipped = att.signature[:-1] + bytes([att.signature[-1] ^ 1])
    bad = remote.SignedAttestation(att.attestation, flipped)
    with pytest.raises(IntegrityError):
        bad.verify()
