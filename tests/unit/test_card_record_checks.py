"""The enrolment record and the card's copy of it: every field checked, the bytes stable.

The expected bytes below were written by the pydantic models these records replaced
(issue 14), so records and cards enrolled before read and compare exactly as they did.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tcr_kit.cards.record import (
    CardIdentity,
    CardKeys,
    CardMeta,
    EnrolmentRecord,
    KeyRef,
    ShareRef,
    TcrRef,
    load_record,
)
from tcr_kit.errors import ExitCode, InputError

KEY = KeyRef(
    algorithm="ed25519",
    public_key_der="302a300506032b6570032100" + "11" * 32,
    fingerprint="cd" * 32,
)
META = CardMeta(
    enrolment_id="0f" * 16,
    tcr=TcrRef(name="Zoë Ölund", id="tcr-7"),
    share=ShareRef(
        format="tcr-native",
        set_id="e01b661abb9b565f",
        index=2,
        threshold=2,
        count=3,
        digest="2f" * 32,
        length=71,
    ),
    enrolled_at=datetime(2026, 12, 2, 5, 22, 32, 319820, tzinfo=UTC),
    keys=CardKeys(share_encryption=KEY, signing=KEY),
)
KEY_JSON = (
    '{"algorithm":"ed25519","public_key_der":"302a300506032b6570032100' + "11" * 32 + '",'
    '"fingerprint":"' + "cd" * 32 + '"}'
)
META_BYTES = (
    '{"version":1,"enrolment_id":"' + "0f" * 16 + '","tcr":{"name":"Zoë Ölund","id":"tcr-7"},'
    '"share":{"format":"tcr-native","set_id":"e01b661abb9b565f","index":2,"threshold":2,'
    '"count":3,"digest":"' + "2f" * 32 + '","length":71},'
    '"enrolled_at":"2026-12-02T05:22:32.319820Z",'
    '"keys":{"share_encryption":' + KEY_JSON + ',"signing":' + KEY_JSON + "}}"
).encode()
RECORD = EnrolmentRecord.from_card(
    CardIdentity(backend="pcsc", serial="0A1B2C", atr="3B 95 13"),
    CardMeta(
        enrolment_id=META.enrolment_id, tcr=META.tcr, share=META.share, enrolled_at=META.enrolled_at
    ),
)


def test_the_cards_copy_is_written_byte_for_byte_as_before_and_reads_back() -> None:
    assert META.to_bytes() == META_BYTES
    assert CardMeta.from_bytes(META_BYTES) == META


def test_the_record_file_is_written_as_before_and_reads_back(tmp_path: Path) -> None:
    text = RECORD.to_json()
    assert text.startswith('{\n  "format": "tcr-kit.card-enrolment",\n  "version": 1,\n')
    assert '"name": "Zo\\u00eb \\u00d6lund"' in text and '"keys"' not in text
    assert text.endswith('"enrolled_at": "2026-12-02T05:22:32.319820Z"\n}\n')
    path = tmp_path / "rec.json"
    path.write_text(text)
    assert load_record(path) == RECORD


def _with(doc: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """``doc`` with the field at the dotted ``path`` set (or removed, for ``...``)."""
    out = json.loads(json.dumps(doc))
    *parents, last = path.split(".")
    node = out
    for name in parents:
        node = node[name]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return out


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        ("enrolment_id", "0F" * 16, "enrolment_id: must match"),
        ("enrolment_id", ..., "enrolment_id: field required"),
        ("profile", "tcr-pkcs11-v1", "a PC/SC enrolment uses profile tcr-iso7816-v1"),
        ("version", 2, "version: must be one of 1"),
        ("version", True, "version: must be one of 1"),
        ("version", 1.0, "version: must be one of 1"),
        ("format", "other", "format: must be one of"),
        ("card.serial", "", "card.serial: must have at least 1"),
        ("card.serial", 1234, "card.serial: must be a string"),
        ("card.atr", ..., "the card's ATR"),
        ("card.backend", "usb", "card.backend: must be one of"),
        ("card.colour", "red", "card.colour: extra field not permitted"),
        # Found by the atheris run: a field name with a newline, shown escaped (one line).
        ("card.back\nd", "x", "card.'back\\nd': extra field not permitted"),
        ("tcr.id", "tcr 7", "tcr.id: must match"),
        ("tcr.id", "tcr-7\n", "tcr.id: must match"),
        ("tcr.name", "x" * 65, "tcr.name: must have at most 64"),
        ("share.index", 0, "share.index: must be from 1 to 255"),
        ("share.count", 256, "share.count: must be from 1 to 255"),
        ("share.threshold", True, "share.threshold: must be an integer"),
        ("share.length", "71", "share.length: must be an integer"),
        ("share.length", 8193, "share.length: must be from 1 to 8192"),
        ("share.digest", "2F" * 32, "share.digest: must match"),
        ("share.set_id", ..., "a native share names its set id and index"),
        ("enrolled_at", "2026-12-02T05:22:32", "enrolled_at: time must be timezone-aware UTC"),
        ("enrolled_at", "2026-12-02T07:22:32+02:00", "timezone-aware UTC"),
        ("enrolled_at", "yesterday", "enrolled_at: must be an ISO 8601 time"),
        ("enrolled_at", 1764652952, "enrolled_at: must be an ISO 8601 time"),
        ("keys", {"share_encryption": {}, "signing": {}}, "keys.share_encryption.algorithm"),
    ],
)
def test_a_record_breaking_a_rule_is_refused_naming_the_field(
    tmp_path: Path, path: str, value: object, complaint: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_with(RECORD.to_dict(), path, value)))
    with pytest.raises(InputError, match="not a valid enrolment record") as info:
        load_record(bad)
    assert complaint in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("data", [b"", b"[]", b"{", b"\xff", b'"x"', b"null", b"1e999"])
def test_anything_that_is_not_a_json_record_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        CardMeta.from_bytes(data)
    with pytest.raises(ValueError):
        EnrolmentRecord.from_json(data)


def test_records_made_in_code_are_checked_like_records_read() -> None:
    with pytest.raises(ValueError, match="id: must match"):
        TcrRef(name="Ann", id="not/ok")
    with pytest.raises(ValueError, match="share_encryption: must be a KeyRef"):
        CardKeys(share_encryption="key", signing=KEY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fingerprint: must match"):
        KeyRef(algorithm="ec-p256", public_key_der="00", fingerprint="short")
    with pytest.raises(ValueError, match="backend: must be one of"):
        CardIdentity(backend="nfc", serial="1")  # type: ignore[arg-type]
