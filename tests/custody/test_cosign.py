"""Witnesses co-sign the events they witness: by key, by a signature made elsewhere from a
signing request, refused when wrong or missing; verification (ledger and transcript)
detects a stripped, altered or added co-signature; the documented bytes check out with an
independent implementation (pycryptodome)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from Crypto.Signature import eddsa

from tcr_kit.audit.canonical import parse_canonical
from tcr_kit.audit.cosign import (
    CosignatureRefused,
    SigningRequest,
    WitnessSignature,
    WitnessSigner,
)
from tcr_kit.audit.signing import SoftwareEd25519Signer
from tcr_kit.audit.timeline import read_timeline
from tcr_kit.audit.transcript import build_transcript, verify_transcript, write_transcript
from tcr_kit.custody.ledger import Ledger
from tcr_kit.custody.policy import default_policy_text
from tcr_kit.errors import IntegrityError, NotPermitted

from .conftest import KEYS, SAFE, World

OTHER_KEY = SoftwareEd25519Signer.generate()


def _seal(led: Ledger, world: World, serial: str = "TEB-1", *, dry_run: bool = False) -> None:
    led.seal_bag(world.ca, serial, ["CO3-KEY"], witness="iw-1", location=SAFE, dry_run=dry_run)


def _last(led: Ledger) -> tuple[int, dict[str, object]]:
    event = list(led.audit.events())[-1]
    return event.seq, parse_canonical(event.body)


def test_a_witnessed_event_declares_and_carries_the_witness_co_signature(world: World) -> None:
    _seal(world.ledger, world)
    seq, body = _last(world.ledger)
    payload = body["payload"]
    assert isinstance(payload, dict)
    kid = hashlib.sha256(KEYS["iw"].public_key_bytes()).digest()[:16].hex()
    assert payload["cosigners"] == [{"key_id": kid, "person": "iw-1"}]
    stored = world.ledger.audit.cosignatures()[seq]
    assert [(c.person, c.key_id) for c in stored] == [("iw-1", kid)]
    world.ledger.verify()


def test_the_documented_bytes_verify_independently_with_pycryptodome(world: World) -> None:
    """docs/audit-format.md, "Co-signatures": Ed25519 by the witness's registered key over
    the 32 raw bytes of SHA-256("tcr-kit/audit/event/v1" || 0x0A || body)."""
    _seal(world.ledger, world)
    conn = sqlite3.connect(world.path)
    seq, body_bytes = conn.execute(
        "SELECT seq, body FROM audit_event ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    person, kid, sig_hex = conn.execute(
        "SELECT person, key_id, signature FROM audit_cosignature WHERE seq = ?", (seq,)
    ).fetchone()
    registrations = [
        json.loads(b)["payload"]
        for (b,) in conn.execute("SELECT body FROM audit_event ORDER BY seq")
        if json.loads(b)["kind"] == "audit.key.add"
    ]
    conn.close()
    body = json.loads(body_bytes)
    assert {"key_id": kid, "person": person} in body["payload"]["cosigners"]
    key = next(r for r in registrations if r["key_id"] == kid)
    assert key["owner"] == person == "iw-1" and key["algorithm"] == "ed25519"
    public = bytes.fromhex(key["public_key"])
    assert hashlib.sha256(public).digest()[:16].hex() == kid
    digest = hashlib.sha256(b"tcr-kit/audit/event/v1\n" + bytes(body_bytes)).digest()
    verifier = eddsa.new(eddsa.import_public_key(public), "rfc8032")
    verifier.verify(digest, bytes.fromhex(sig_hex))  # raises if it does not verify
    with pytest.raises(ValueError):
        verifier.verify(digest[::-1], bytes.fromhex(sig_hex))


def test_a_missing_co_signature_is_refused_by_the_default_policy(world: World) -> None:
    with Ledger.open(world.path) as led:  # no witness key given to this session
        before = led.audit.count()
        with pytest.raises(NotPermitted) as refused:
            _seal(led, world)
        assert refused.value.rule == "witness-cosign" and refused.value.exit_code == 5
        with pytest.raises(NotPermitted):
            _seal(led, world, dry_run=True)
        assert led.audit.count() == before
        assert led.bags() == []


def test_a_policy_can_make_co_signatures_optional_and_such_events_still_verify(
    world: World, tmp_path: Path
) -> None:
    text = default_policy_text().replace("witness_cosign = true", "witness_cosign = false")
    world.ledger.set_policy(world.sa, text)
    with Ledger.open(world.path) as led:
        _seal(led, world)
        _, body = _last(led)
        payload = body["payload"]
        assert isinstance(payload, dict) and "cosigners" not in payload
        led.verify()
        out = tmp_path / "t.json"
        write_transcript(build_transcript(led.audit), out)
    timeline, _ = read_timeline(out)
    assert timeline.entries[-1].witness_lines() == ["iw-1 (named only)"]


def test_a_witness_key_that_is_not_the_roster_s_is_refused(world: World) -> None:
    with Ledger.open(world.path) as led:
        led.use_cosigners([WitnessSigner("iw-1", OTHER_KEY)])
        with pytest.raises(CosignatureRefused) as refused:
            _seal(led, world)
        assert refused.value.exit_code == 3
        assert led.bags() == []
    with Ledger.open(world.path) as led:  # someone else's registered key, too
        led.use_cosigners([WitnessSigner("iw-1", KEYS["sa"])])
        with pytest.raises(CosignatureRefused, match="not the key the roster knows"):
            _seal(led, world)


def _request(world: World, serial: str = "TEB-1") -> SigningRequest:
    with Ledger.open(world.path) as led:
        led.prepare_signing_requests()
        _seal(led, world, serial, dry_run=True)
        (request,) = led.signing_requests()
        assert led.bags() == []
    return request


def test_a_signature_made_elsewhere_from_the_signing_request_is_recorded(world: World) -> None:
    request = _request(world)
    assert request.person == "iw-1"
    # The witness, on another machine: the request travels as JSON, so does the signature.
    received = SigningRequest.from_json(json.loads(json.dumps(request.to_json())))
    signature = received.sign(KEYS["iw"])
    back = WitnessSignature.from_json(json.loads(json.dumps(signature.to_json())))
    with Ledger.open(world.path) as led:
        led.use_cosigners([back])
        _seal(led, world)
        seq, _ = _last(led)
        event = list(led.audit.events())[-1]
        assert event.body == request.body  # the very event the witness signed
        assert [c.signature for c in led.audit.cosignatures()[seq]] == [back.signature.hex()]
        led.verify()


def test_a_signature_over_another_event_is_refused(world: World) -> None:
    other = _request(world, "TEB-2").sign(KEYS["iw"])
    with Ledger.open(world.path) as led:
        led.use_cosigners([other])
        with pytest.raises(CosignatureRefused, match="over another event"):
            _seal(led, world, "TEB-1")
        assert led.bags() == []


def test_a_signature_made_before_the_log_moved_on_is_refused(world: World) -> None:
    signature = _request(world).sign(KEYS["iw"])
    world.ledger.checkpoint(world.ca)  # another event is appended meanwhile
    with Ledger.open(world.path) as led:
        led.use_cosigners([signature])
        with pytest.raises(CosignatureRefused, match="moved on"):
            _seal(led, world)


def test_a_forged_remote_signature_is_refused(world: World) -> None:
    request = _request(world)
    forged = WitnessSignature(
        request.person, request.key_id, request.body, OTHER_KEY.sign(request.hash)
    )
    with Ledger.open(world.path) as led:
        led.use_cosigners([forged])
        with pytest.raises(CosignatureRefused, match="does not verify"):
            _seal(led, world)
    with pytest.raises(CosignatureRefused):
        request.sign(OTHER_KEY)  # the witness tool refuses a key that is not the requested one


def _tamper(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("DELETE FROM audit_cosignature", "missing"),
        (
            "UPDATE audit_cosignature SET signature = "
            "substr(signature, 1, 10) || (CASE substr(signature, 11, 1) WHEN '0' THEN '1' "
            "ELSE '0' END) || substr(signature, 12)",
            "does not verify",
        ),
        (
            "INSERT INTO audit_cosignature SELECT seq, 'ca-1', key_id, signature "
            "FROM audit_cosignature",
            "not declared",
        ),
    ],
)
def test_ledger_verify_names_the_event_of_a_bad_co_signature(
    world: World, sql: str, why: str
) -> None:
    _seal(world.ledger, world)
    seq, _ = _last(world.ledger)
    world.ledger.verify()
    _tamper(world.path, sql)
    with Ledger.open(world.path, read_only=True) as led, pytest.raises(IntegrityError) as bad:
        led.verify()
    assert f"event {seq}" in str(bad.value) and why in str(bad.value)
    assert bad.value.exit_code == 3


def test_transcript_carries_co_signatures_and_verify_detects_them_stripped_or_altered(
    world: World, tmp_path: Path
) -> None:
    _seal(world.ledger, world)
    seq, _ = _last(world.ledger)
    good = build_transcript(world.ledger.audit)
    entry = good["events"][seq - 1]
    assert [c["person"] for c in entry["cosignatures"]] == ["iw-1"]
    assert "cosignatures" not in good["events"][0]
    path = tmp_path / "good.json"
    write_transcript(good, path)
    verify_transcript(path)
    timeline, _ = read_timeline(path)
    assert timeline.entries[seq - 1].witness_lines() == ["iw-1 (co-signed)"]

    stripped = json.loads(path.read_text())
    del stripped["events"][seq - 1]["cosignatures"]
    altered = json.loads(path.read_text())
    sig = altered["events"][seq - 1]["cosignatures"][0]["signature"]
    altered["events"][seq - 1]["cosignatures"][0]["signature"] = sig[:-1] + (
        "0" if sig[-1] != "0" else "1"
    )
    for name, doc, why in (
        ("stripped", stripped, "missing"),
        ("altered", altered, "does not verify"),
    ):
        bad = tmp_path / f"{name}.json"
        bad.write_text(json.dumps(doc))
        with pytest.raises(IntegrityError) as refused:
            verify_transcript(bad)
        assert f"event {seq}" in str(refused.value) and why in str(refused.value)


def test_an_override_is_co_signed_by_the_overrider_too(world: World) -> None:
    from tcr_kit.custody.errors import DiscrepancyOpened
    from tcr_kit.custody.models import Person, Role

    led = world.ledger
    led.add_person(
        world.sa,
        Person(id="iw-2", name="IW 2", roles=(Role.IW,),
               public_key=OTHER_KEY.public_key_bytes().hex(), key_algorithm="ed25519"),
    )  # fmt: skip
    _seal(led, world)
    with pytest.raises(DiscrepancyOpened):
        led.inspect_bag(world.ca, "TEB-1", serial_read="TEB-1", checklist={"seal": False},
                        witness="iw-1")  # fmt: skip
    with pytest.raises(NotPermitted, match=r"iw-2 \(override by\) must co-sign"):
        led.open_bag(world.ca, "TEB-1", serial_read="TEB-1", witness="iw-1", override_by="iw-2")
    led.use_cosigners([WitnessSigner("iw-2", OTHER_KEY)])
    led.open_bag(world.ca, "TEB-1", serial_read="TEB-1", witness="iw-1", override_by="iw-2")
    seq, body = _last(led)
    payload = body["payload"]
    assert isinstance(payload, dict)
    assert [c["person"] for c in payload["cosigners"]] == ["iw-1", "iw-2"]
    assert {c.person for c in led.audit.cosignatures()[seq]} == {"iw-1", "iw-2"}
    assert led.verify().cosignatures == 4  # seal, inspection, and two on the opening


def test_a_policy_written_before_the_rule_requires_co_signatures_and_a_bad_value_is_refused() -> (
    None
):
    from tcr_kit.custody.policy import PolicyInvalid, parse_policy

    older = default_policy_text().replace("witness_cosign = true\n", "")
    assert "witness_cosign" not in older
    assert parse_policy(older).witness_cosign is True
    assert (
        parse_policy(older.replace("[rules]", "[rules]\nwitness_cosign = false")).witness_cosign
        is False
    )
    with pytest.raises(PolicyInvalid, match="witness_cosign"):
        parse_policy(
            default_policy_text().replace("witness_cosign = true", 'witness_cosign = "no"')
        )
