"""A card whose signing key is ECDSA P-256 (a real SoftHSM2 token enrolled with
``--signing-key ec-p256``) works in the audit log like an Ed25519 one: its key is registered
as DER SubjectPublicKeyInfo, its signatures (``r || s`` from the token) reach the log as DER,
events it signs or co-signs verify in the ledger and in a transcript, and a P-256 signature
by another card's key is refused."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
)

from tcr_kit.audit.signing import ECDSA_P256, check_public_key, key_id, signature_ok
from tcr_kit.cards.enrol import enrol
from tcr_kit.cards.errors import NotEnrolled
from tcr_kit.cards.pcsc_backend import PcscCard
from tcr_kit.cards.pkcs11_backend import Pkcs11Card, load_module
from tcr_kit.cards.record import EnrolmentRecord, SigningAlgorithm, TcrRef, load_record
from tcr_kit.cards.signing import CardSigner, audit_public_key, verify_signature
from tcr_kit.custody.ledger import Actor
from tcr_kit.custody.models import Person, Role
from tcr_kit.errors import InputError
from tcr_kit.secrets import SecretBuffer
from tests.custody.conftest import KEYS, SAFE, make_world
from tests.fixtures.stack import TRANSPORT_PIN, VirtualCard
from tests.integration.conftest import MODULE, insert, one_error_line, run_tcr

pytestmark = pytest.mark.integration

CARD_PIN = "p256-card-pin"
EVENT_DOMAIN = b"tcr-kit/audit/event/v1\n"


def _pin(value: str) -> SecretBuffer:
    return SecretBuffer(bytearray(value.encode()))


def _p256_card(
    new_token: Callable[..., tuple[str, str]], tmp: Path, who: str
) -> tuple[str, EnrolmentRecord]:
    label, _serial = new_token("P256")
    record = enrol(
        Pkcs11Card(MODULE, token_label=label),
        f"{who}'s card share".encode(),
        tcr=TcrRef(name=who, id=who),
        current_pin=_pin(TRANSPORT_PIN),
        new_pin=_pin(CARD_PIN),
        record_path=tmp / f"{who}.json",
        signing_algorithm="ec-p256",
    ).record
    return label, record


def _signer(label: str) -> CardSigner:
    return CardSigner(Pkcs11Card(MODULE, token_label=label), _pin(CARD_PIN))


def test_a_p256_card_key_is_der_spki_and_its_signatures_are_der(
    new_token: Callable[..., tuple[str, str]], tmp_path: Path
) -> None:
    label, record = _p256_card(new_token, tmp_path, "iw-9")
    assert record.keys is not None and record.keys.signing.algorithm == "ec-p256"
    with _signer(label) as card:
        public = card.public_key_bytes()
        assert card.algorithm == ECDSA_P256
        signature = card.sign(b"what the card vouches for")
    # The key: DER SPKI of a P-256 point, uncompressed, the record's own encoding, and
    # accepted by the audit log's registration check; its key_id is the record's
    # fingerprint (both hash the same DER bytes).
    loaded = load_der_public_key(public)
    assert isinstance(loaded, ec.EllipticCurvePublicKey)
    assert isinstance(loaded.curve, ec.SECP256R1)
    assert loaded.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) == public
    assert public == bytes.fromhex(record.keys.signing.public_key_der)
    assert audit_public_key(record.keys.signing) == public
    check_public_key(ECDSA_P256, public)
    assert key_id(public) == record.keys.signing.fingerprint[:32]
    # The raw point is not the registered form: refused with a message saying so.
    point = loaded.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    with pytest.raises(ValueError, match="DER SubjectPublicKeyInfo, not as the 65-byte raw"):
        check_public_key(ECDSA_P256, point)
    # The signature: DER (the token gave r || s), which the verifiers accept ...
    r, s = decode_dss_signature(signature)
    assert signature[0] == 0x30 and 0 < r and 0 < s
    verify_signature(record.keys.signing, b"what the card vouches for", signature)
    assert signature_ok(ECDSA_P256, public, b"what the card vouches for", signature)
    assert not signature_ok(ECDSA_P256, public, b"something else", signature)
    # ... and r || s itself is not a signature the log takes: one encoding, DER.
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert not signature_ok(ECDSA_P256, public, b"what the card vouches for", raw)


def test_a_ledger_actor_signs_events_with_a_p256_card(
    new_token: Callable[..., tuple[str, str]], tmp_path: Path
) -> None:
    """A second SA, whose roster key is their P-256 card's, changes the roster with it."""
    label, _record = _p256_card(new_token, tmp_path, "sa-2")
    world = make_world(tmp_path / "ledger.sqlite")
    with _signer(label) as card:
        public = card.public_key_bytes()
        world.ledger.add_person(
            world.sa,
            Person(id="sa-2", name="SA 2", roles=(Role.SA,), public_key=public.hex(),
                   key_algorithm=ECDSA_P256),
        )  # fmt: skip
        world.ledger.add_person(
            Actor("sa-2", card), Person(id="ssc-4", name="SSC 4", roles=(Role.SSC,))
        )
    world.ledger.verify()
    stored = list(world.ledger.audit.events())[-1]
    last = json.loads(stored.body)
    assert last["actor"] == "sa-2" and last["kind"] == "person.add"
    assert last["key_id"] == key_id(public)
    sig = bytes.fromhex(stored.signature)
    assert sig[0] == 0x30 and signature_ok(ECDSA_P256, public, bytes.fromhex(stored.hash), sig)
    world.ledger.close()
    env = {"SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"]}
    ledger = str(tmp_path / "ledger.sqlite")
    assert run_tcr(["audit", "verify", "--ledger", ledger], env=env).returncode == 0
    out = tmp_path / "transcript.json"
    proc = run_tcr(["audit", "export", "--ledger", ledger, "--output", str(out)], env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run_tcr(["audit", "verify", "--transcript", str(out)], env=env)
    assert proc.returncode == 0, proc.stderr


def _files(tmp: Path, label: str, who: str) -> str:
    pin_file = tmp / f"{who}.pin"
    pin_file.write_text(CARD_PIN + "\n")
    os.chmod(pin_file, 0o600)
    return f"module={MODULE},token-label={label},pin-file={pin_file}"


def _last_event(path: Path) -> tuple[int, bytes]:
    conn = sqlite3.connect(path)
    seq, body = conn.execute(
        "SELECT seq, body FROM audit_event ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    conn.close()
    return int(seq), hashlib.sha256(EVENT_DOMAIN + bytes(body)).digest()


def test_cli_a_p256_witness_card_is_enrolled_registered_and_co_signs_verifiably(
    new_token: Callable[..., tuple[str, str]], tmp_path: Path
) -> None:
    """The whole path through the commands: enrol with --signing-key ec-p256, register the
    key it prints, co-sign with --witness-card and with 'tcr witness sign --card', verify
    the ledger and a transcript; then a co-signature by another P-256 card is refused."""
    label, _serial = new_token("P256")
    env = {"TCR_LEDGER": str(tmp_path / "ledger.sqlite"),
           "SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"]}  # fmt: skip
    (tmp_path / "share.bin").write_bytes(b"the witness card's own share")
    for name, value in (("transport.pin", TRANSPORT_PIN), ("new.pin", CARD_PIN)):
        (tmp_path / name).write_text(value + "\n")
        os.chmod(tmp_path / name, 0o600)
    proc = run_tcr(
        ["card", "enrol", "--pkcs11-module", MODULE, "--token-label", label,
         "--share", "share.bin", "--tcr-name", "Witness Nine", "--tcr-id", "iw-9",
         "--record", "iw-9.json", "--pin-file", "transport.pin", "--new-pin-file", "new.pin",
         "--signing-key", "ec-p256", "--json"],
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    enrolled = json.loads(proc.stdout)
    assert enrolled["signing_key_algorithm"] == ECDSA_P256
    public = bytes.fromhex(enrolled["signing_public_key"])
    assert (
        load_der_public_key(public).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        == public
    )

    world = make_world(tmp_path / "ledger.sqlite")
    world.ledger.close()
    KEYS["sa"].save(tmp_path / "sa.pem")
    KEYS["ca"].save(tmp_path / "ca.pem")
    proc = run_tcr(
        ["roster", "add", "--as", "sa-1", "--key", "sa.pem", "--id", "iw-9", "--name", "IW 9",
         "--role", "IW", "--public-key", enrolled["signing_public_key"],
         "--key-algorithm", enrolled["signing_key_algorithm"]],
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    spec = _files(tmp_path, label, "iw-9")
    ca = ["--as", "ca-1", "--key", "ca.pem"]
    seal = ["bag", "seal", "TEB-1", *ca, "--contents", "CO3-KEY", "--witness", "iw-9",
            "--facility", "east"]  # fmt: skip
    proc = run_tcr([*seal, "--witness-card", spec], env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    inspect = ["bag", "inspect", "TEB-1", *ca, "--serial-read", "TEB-1", "--check", "seal=ok",
               "--witness", "iw-9"]  # fmt: skip
    proc = run_tcr([*inspect, "--dry-run", "--signing-request", "req.json"], env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_tcr(["witness", "sign", "req.json", "--as", "iw-9", "--card", spec,
                    "--output", "sig.json"], env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = run_tcr([*inspect, "--witness-signature", "sig.json"], env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert run_tcr(["audit", "verify"], env=env, cwd=tmp_path).returncode == 0
    proc = run_tcr(["audit", "export", "--output", "good.json"], env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_tcr(["audit", "verify", "--transcript", "good.json"], env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr

    # Another P-256 card signs the same event hash: a valid ECDSA signature, by the wrong key.
    other_label, _record = _p256_card(new_token, tmp_path, "other")
    seq, digest = _last_event(tmp_path / "ledger.sqlite")
    with _signer(other_label) as other:
        forged = other.sign(digest)
    transcript = json.loads((tmp_path / "good.json").read_text())
    for entry in transcript["events"]:
        if entry.get("cosignatures") and entry["seq"] == seq:
            entry["cosignatures"][0]["signature"] = forged.hex()
    (tmp_path / "forged.json").write_text(json.dumps(transcript))
    conn = sqlite3.connect(tmp_path / "ledger.sqlite")
    with conn:
        conn.execute("UPDATE audit_cosignature SET signature = ? WHERE seq = ?",
                     (forged.hex(), seq))  # fmt: skip
    conn.close()
    proc = run_tcr(["audit", "verify"], env=env, cwd=tmp_path)
    assert proc.returncode == 3 and "does not verify" in proc.stderr, proc.stderr
    proc = run_tcr(["audit", "verify", "--transcript", "forged.json"], env=env, cwd=tmp_path)
    assert proc.returncode == 3 and "does not verify" in proc.stderr, proc.stderr


def test_enrolment_refuses_a_signing_key_choice_for_a_card_without_one(tmp_path: Path) -> None:
    """A PC/SC card holds no signing key: asking for one is bad input, before any PIN."""
    (tmp_path / "s").write_bytes(b"a share")
    proc = run_tcr(
        ["card", "enrol", "--reader", "no such reader", "--share", "s", "--tcr-name", "A",
         "--tcr-id", "a", "--record", "r.json", "--signing-key", "ec-p256"],
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "a PC/SC card holds no signing key" in one_error_line(proc)


def test_the_library_refuses_a_signing_key_choice_for_a_pcsc_card(
    vcards: Callable[[str], VirtualCard], readers: list[str], tmp_path: Path
) -> None:
    """The PC/SC profile is files only (no key generation or signing on the card): asking
    for a P-256 signing key is refused before the card is touched, and it stays blank."""
    reader = insert(vcards("5656565656565656"), readers)
    card = PcscCard(reader)
    try:
        before = card.pin_status()
        with pytest.raises(InputError, match="PKCS#11 tokens only"):
            enrol(card, b"share", tcr=TcrRef(name="A", id="a"),
                  current_pin=_pin(TRANSPORT_PIN), new_pin=_pin(CARD_PIN),
                  record_path=tmp_path / "r.json", signing_algorithm="ec-p256")  # fmt: skip
        assert card.status().state == "blank"
        assert card.pin_status() == before
        with pytest.raises(NotEnrolled, match="only PKCS#11 cards hold a signing key"):
            CardSigner(card, _pin(TRANSPORT_PIN))
    finally:
        card.close()


@pytest.mark.parametrize("algorithm", ["ed25519", "ec-p256"])
def test_cli_a_second_staff_member_co_signs_a_critical_resolution_with_their_card(
    new_token: Callable[..., tuple[str, str]], tmp_path: Path, algorithm: SigningAlgorithm
) -> None:
    """``discrepancy resolve --second ID --second-card SPEC``: the second staff member's
    card (Ed25519 or P-256) co-signs; without it the resolution is refused."""
    label, _serial = new_token("SECOND")
    enrol(Pkcs11Card(MODULE, token_label=label), b"iw-9's staff card", tcr=TcrRef(name="IW 9",
          id="iw-9"), current_pin=_pin(TRANSPORT_PIN), new_pin=_pin(CARD_PIN),
          record_path=tmp_path / "iw-9.json", signing_algorithm=algorithm)  # fmt: skip
    world = make_world(tmp_path / "ledger.sqlite")
    with _signer(label) as card:
        world.ledger.add_person(
            world.sa,
            Person(id="iw-9", name="IW 9", roles=(Role.IW,),
                   public_key=card.public_key_bytes().hex(), key_algorithm=card.algorithm),
        )  # fmt: skip
        public, algo = card.public_key_bytes(), card.algorithm
    world.ledger.seal_bag(world.ca, "TEB-1", ["CO3-KEY"], witness="iw-1", location=SAFE)
    world.ledger.close()
    env = {"TCR_LEDGER": str(tmp_path / "ledger.sqlite"),
           "SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"]}  # fmt: skip
    KEYS["ca"].save(tmp_path / "ca.pem")
    KEYS["iw"].save(tmp_path / "iw.pem")
    ca = ["--as", "ca-1", "--key", "ca.pem"]
    proc = run_tcr(["bag", "inspect", "TEB-1", *ca, "--serial-read", "TEB-1", "--check",
                    "seal=fail", "--witness", "iw-1", "--witness-key", "iw.pem"],
                   env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 3, proc.stderr  # a critical discrepancy, D-0001
    resolve = ["discrepancy", "resolve", "D-0001", *ca, "--resolution", "seal re-examined",
               "--second", "iw-9"]  # fmt: skip
    alone = run_tcr(resolve, env=env, cwd=tmp_path)
    assert alone.returncode == 5, alone.stderr  # named, but not signing: witness-cosign
    proc = run_tcr([*resolve, "--second-card", _files(tmp_path, label, "iw-9")],
                   env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    seq, digest = _last_event(tmp_path / "ledger.sqlite")
    conn = sqlite3.connect(tmp_path / "ledger.sqlite")
    person, signature = conn.execute(
        "SELECT person, signature FROM audit_cosignature WHERE seq = ?", (seq,)
    ).fetchone()
    conn.close()
    assert person == "iw-9"
    assert signature_ok(algo, public, digest, bytes.fromhex(signature))
    assert run_tcr(["audit", "verify"], env=env, cwd=tmp_path).returncode == 0


def test_cli_rotate_onto_a_p256_signing_key_prints_the_key_to_register(
    new_token: Callable[..., tuple[str, str]], tmp_path: Path
) -> None:
    """``tcr card rotate --signing-key ec-p256``: the new card's signing key is P-256 (the
    old one's is Ed25519) and the command prints it in the roster's form for a rekey."""
    old_label, _ = new_token("OLD")
    new_label, _ = new_token("NEW")
    enrol(Pkcs11Card(MODULE, token_label=old_label), b"rotating share",
          tcr=TcrRef(name="TCR 3", id="tcr-3"), current_pin=_pin(TRANSPORT_PIN),
          new_pin=_pin(CARD_PIN), record_path=tmp_path / "old.json")  # fmt: skip
    env = {"SOFTHSM2_CONF": os.environ["SOFTHSM2_CONF"]}
    proc = run_tcr(
        ["card", "rotate", "--pkcs11-module", MODULE, "--old-token-label", old_label,
         "--new-token-label", new_label, "--record", "old.json", "--new-record", "new.json",
         "--signing-key", "ec-p256", "--yes", "--json"],
        stdin=f"{CARD_PIN}\n{TRANSPORT_PIN}\nnext-pin-3\nnext-pin-3\n", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    new = load_record(tmp_path / "new.json")
    old = load_record(tmp_path / "old.json")
    assert old.keys is not None and old.keys.signing.algorithm == "ed25519"
    assert new.keys is not None and new.keys.signing.algorithm == "ec-p256"
    assert out["signing_key_algorithm"] == ECDSA_P256
    assert out["signing_public_key"] == new.keys.signing.public_key_der
    # The PIN was changed by another process: this one's SoftHSM2 re-reads the token.
    load_module(MODULE).reinitialize()
    with CardSigner(Pkcs11Card(MODULE, token_label=new_label), _pin("next-pin-3")) as card:
        assert card.public_key_bytes().hex() == out["signing_public_key"]
        verify_signature(new.keys.signing, b"rotated", card.sign(b"rotated"))
