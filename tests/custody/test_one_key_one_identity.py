"""One P-256 key, one identity: a key is the same key whatever encoding of its point was
registered. New registrations must use the uncompressed form; an old log that registered
one key twice (once compressed, once not) fails verification naming both key ids, and an
old log with a compressed key registered once verifies as before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tcr_kit.audit import chain
from tcr_kit.audit.chain import AuditIntegrityError, AuditLog
from tcr_kit.audit.signing import ECDSA_P256, check_public_key, key_id
from tcr_kit.audit.transcript import build_transcript, verify_transcript, write_transcript
from tcr_kit.custody.ledger import Actor, Ledger
from tcr_kit.custody.models import Person, Role
from tcr_kit.errors import InputError

from ..cli_runner import run_tcr
from .conftest import KEYS, World


class P256Signer:
    """A software P-256 key presenting its public key in a chosen encoding of the point."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, *, compressed: bool = False) -> None:
        self._key = key
        # pyca/cryptography writes the uncompressed point; the compressed SPKI is built here.
        der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        self._public = _compressed_spki(key) if compressed else der

    @property
    def algorithm(self) -> str:
        return ECDSA_P256

    def public_key_bytes(self) -> bytes:
        return self._public

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))


def _compressed_spki(key: ec.EllipticCurvePrivateKey) -> bytes:
    """DER SubjectPublicKeyInfo of a P-256 key with its 33-byte compressed point."""
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    algorithm = bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107")
    bit_string = b"\x03" + bytes([len(point) + 1]) + b"\x00" + point
    body = algorithm + bit_string
    return b"\x30" + bytes([len(body)]) + body


KEY = ec.generate_private_key(ec.SECP256R1())
COMPRESSED = P256Signer(KEY, compressed=True)
UNCOMPRESSED = P256Signer(KEY)


@pytest.fixture
def old_writer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The registration of the version before this check: any well-formed encoding, and
    a duplicate found by ``key_id`` only."""
    monkeypatch.setattr(chain, "check_new_public_key", check_public_key)
    monkeypatch.setattr(AuditLog, "same_key", lambda self, _alg, pub: self.key_of(key_id(pub)))
    yield
    monkeypatch.undo()


def _p256_person(pid: str, signer: P256Signer) -> Person:
    return Person(
        id=pid,
        name=pid.upper(),
        roles=(Role.CA,),
        public_key=signer.public_key_bytes().hex(),
        key_algorithm=ECDSA_P256,
    )


def _transcript(ledger: Ledger, tmp_path: Path) -> Path:
    path = tmp_path / "transcript.json"
    write_transcript(build_transcript(ledger.audit), path)
    return path


def test_the_compressed_form_is_a_well_formed_key_with_another_key_id() -> None:
    # What made the duplicate possible: both encodings load, and key_id hashes the bytes.
    check_public_key(ECDSA_P256, COMPRESSED.public_key_bytes())
    assert len(COMPRESSED.public_key_bytes()) == 59
    assert key_id(COMPRESSED.public_key_bytes()) != key_id(UNCOMPRESSED.public_key_bytes())


def test_a_new_registration_of_a_compressed_p256_key_is_refused(world: World) -> None:
    with pytest.raises(InputError, match="this one is compressed") as caught:
        world.ledger.add_person(world.sa, _p256_person("ca-2", COMPRESSED))
    assert "\n" not in str(caught.value)
    assert world.ledger.verify().events == world.ledger.audit.count()


def test_the_cli_refuses_a_compressed_p256_key_with_one_line(world: World, tmp_path: Path) -> None:
    KEYS["sa"].save(tmp_path / "sa.pem")
    proc = run_tcr(
        "roster", "add", "--ledger", world.path, "--as", "sa-1", "--key", tmp_path / "sa.pem",
        "--id", "ca-2", "--name", "CA 2", "--role", "CA", "--key-algorithm", ECDSA_P256,
        "--public-key", COMPRESSED.public_key_bytes().hex(), in_process=True, expect=2,
    )  # fmt: skip
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "compressed" in lines[0], proc.stderr


def test_an_old_log_with_a_compressed_key_registered_once_still_verifies(
    world: World, tmp_path: Path, old_writer: None
) -> None:
    world.ledger.add_person(world.sa, _p256_person("ca-2", COMPRESSED))
    ca2 = Actor("ca-2", COMPRESSED)
    world.ledger.record_event(ca2, "test.note", ["person:ca-2"], {"note": "signed compressed"})
    report = world.ledger.verify()
    assert key_id(COMPRESSED.public_key_bytes()) in report.keys
    assert verify_transcript(_transcript(world.ledger, tmp_path)).report.events == report.events


def test_the_same_key_uncompressed_is_refused_where_it_was_registered_compressed(
    world: World, old_writer: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.ledger.add_person(world.sa, _p256_person("ca-2", COMPRESSED))
    monkeypatch.undo()  # today's writer from here on
    with pytest.raises(InputError, match="already registered"):
        world.ledger.add_person(world.sa, _p256_person("ca-3", UNCOMPRESSED))
    with pytest.raises(InputError) as caught:
        world.ledger.audit.register_key(
            KEYS["sa"], "sa-1", UNCOMPRESSED.public_key_bytes(), "ca-3", ECDSA_P256
        )
    old, new = key_id(COMPRESSED.public_key_bytes()), key_id(UNCOMPRESSED.public_key_bytes())
    assert f"key {new} is key {old}, already registered (to ca-2)" in str(caught.value)


def test_an_old_log_holding_one_p256_key_under_two_key_ids_fails_naming_both(
    world: World, tmp_path: Path, old_writer: None
) -> None:
    world.ledger.add_person(world.sa, _p256_person("ca-2", COMPRESSED))
    world.ledger.add_person(world.sa, _p256_person("ca-3", UNCOMPRESSED))
    seq = world.ledger.audit.count()
    old, new = key_id(COMPRESSED.public_key_bytes()), key_id(UNCOMPRESSED.public_key_bytes())
    twin = world.ledger.audit.key_of(new)
    assert twin is not None
    with pytest.raises(AuditIntegrityError) as caught:
        world.ledger.verify()
    assert caught.value.seq == twin.added_seq
    assert f"key {new} is key {old}" in caught.value.reason
    with pytest.raises(AuditIntegrityError) as caught:
        verify_transcript(_transcript(world.ledger, tmp_path))
    assert caught.value.seq == twin.added_seq <= seq
    assert f"key {new} is key {old}" in caught.value.reason
    proc = run_tcr("audit", "verify", "--ledger", world.path, in_process=True, expect=3)
    assert old in proc.stderr and new in proc.stderr and "Traceback" not in proc.stderr
