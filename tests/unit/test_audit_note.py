"""C2SP signed notes and tlog checkpoints: format, key ids, verification, tampering."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tcr_kit.audit.note import (
    Checkpoint,
    NoteInvalid,
    NoteSigner,
    NoteVerifier,
    add_signature,
    key_hash,
    open_checkpoint,
    open_note,
    parse,
    sign,
)
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.errors import ExitCode, InputError

KEY = SoftwareEd25519Signer.generate()
OTHER = SoftwareEd25519Signer.generate()
NAME = "tcr-kit/east/0123456789abcdef"
ROOT = hashlib.sha256(b"root").digest()


def _note(size: int = 7) -> tuple[str, NoteSigner]:
    signer = NoteSigner(NAME, KEY)
    return sign(Checkpoint(NAME, size, ROOT).to_text(), [signer]), signer


def test_checkpoint_note_has_the_c2sp_layout() -> None:
    text, signer = _note()
    lines = text.split("\n")
    assert lines[:4] == [NAME, "7", base64.b64encode(ROOT).decode(), ""]
    assert lines[4].startswith(f"\u2014 {NAME} ")
    blob = base64.b64decode(lines[4].split(" ")[2])
    pub = KEY.public_key_bytes()
    expected_id = hashlib.sha256(NAME.encode() + b"\n\x01" + pub).digest()[:4]
    assert blob[:4] == expected_id and len(blob) == 68
    assert text.endswith("\n") and lines[5] == ""
    vkey = signer.verifier.verifier_key()
    encoded = base64.b64encode(b"\x01" + pub).decode()
    assert vkey == f"{NAME}+{expected_id.hex()}+{encoded}"


def test_note_opens_with_its_verifier_key_and_parses_as_checkpoint() -> None:
    text, signer = _note()
    cp, _, names = open_checkpoint(text, [NoteVerifier.parse(signer.verifier.verifier_key())])
    assert (cp.origin, cp.size, cp.root, names) == (NAME, 7, ROOT, [NAME])


def test_changed_tree_size_breaks_the_signature() -> None:
    text, signer = _note(7)
    forged = text.replace("\n7\n", "\n8\n", 1)
    with pytest.raises(NoteInvalid, match="does not verify") as info:
        open_note(forged, [signer.verifier])
    assert info.value.exit_code == ExitCode.INTEGRITY


def test_forged_signature_is_refused() -> None:
    text, signer = _note()
    line = text.split("\n")[4]
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[10] ^= 1
    forged = text.replace(line, f"\u2014 {NAME} {base64.b64encode(bytes(blob)).decode()}")
    with pytest.raises(NoteInvalid, match="does not verify"):
        open_note(forged, [signer.verifier])


def test_signature_under_a_wrong_key_name_or_key_is_not_accepted() -> None:
    text, _ = _note()
    wrong_name = NoteSigner("tcr-kit/west/0123456789abcdef", KEY).verifier
    with pytest.raises(NoteInvalid, match="not signed by a known key"):
        open_note(text, [wrong_name])
    with pytest.raises(NoteInvalid, match="not signed by a known key"):
        open_note(text, [NoteSigner(NAME, OTHER).verifier])
    # The same name on a signature line but another key's signature bytes: the key id
    # matches the known key, so the signature is checked and fails.
    relabelled = sign(Checkpoint(NAME, 7, ROOT).to_text(), [NoteSigner(NAME, OTHER)])
    kid = NoteSigner(NAME, KEY).verifier.key_id.to_bytes(4, "big")
    line = relabelled.split("\n")[4]
    blob = kid + base64.b64decode(line.split(" ")[2])[4:]
    forged = relabelled.replace(line, f"\u2014 {NAME} {base64.b64encode(blob).decode()}")
    with pytest.raises(NoteInvalid, match="does not verify"):
        open_note(forged, [NoteSigner(NAME, KEY).verifier])


def test_cosignature_is_added_and_both_verify() -> None:
    text, signer = _note()
    witness = NoteSigner("witness.example/w1", OTHER)
    both = add_signature(text, witness)
    assert add_signature(both, witness) == both  # a re-sign replaces, never duplicates
    _, names = open_note(both, [signer.verifier, witness.verifier])
    assert names == [NAME, "witness.example/w1"]
    _, names = open_note(both, [signer.verifier])
    assert names == [NAME]


def test_malformed_notes_are_refused_as_integrity_errors() -> None:
    text, signer = _note()
    for bad in (
        text.replace("\u2014", "-"),
        text.rstrip("\n"),
        text.replace(f"{NAME}\n7", f"{NAME}\r\n7"),
        text.split("\n\n")[0] + "\n",
        text.replace("\n\n", "\n\nnot a signature\n"),
    ):
        with pytest.raises(NoteInvalid):
            open_note(bad, [signer.verifier])


def test_malformed_checkpoint_bodies_are_refused() -> None:
    for body in (
        "o\n07\nAAAA\n",
        "o\n-1\n" + base64.b64encode(ROOT).decode() + "\n",
        "o\n1\n",
        "o\n1\nAAAA\n",
        "\n1\n" + base64.b64encode(ROOT).decode() + "\n",
    ):
        with pytest.raises(NoteInvalid):
            Checkpoint.parse(body)


def test_verifier_keys_are_checked() -> None:
    good = NoteSigner(NAME, KEY).verifier.verifier_key()
    name, kid, blob = good.split("+", 2)
    for bad in (
        f"{name}+{kid}",
        f"{name}+00000000+{blob}",
        f"{name}+{kid}+AQ==",
        f"x y+{kid}+{blob}",
        f"{name}+{kid}+{blob}!",
    ):
        with pytest.raises(InputError):
            NoteVerifier.parse(bad)
    assert key_hash(name, KEY.public_key_bytes()) == int(kid, 16)


def test_note_text_rules_are_enforced_when_signing() -> None:
    with pytest.raises(InputError):
        sign("no newline", [NoteSigner(NAME, KEY)])
    with pytest.raises(InputError):
        sign("a\n\nb\n", [NoteSigner(NAME, KEY)])
    with pytest.raises(InputError, match="key name"):
        NoteSigner("has space", KEY)
    assert parse(_note()[0]).text.endswith("\n")
