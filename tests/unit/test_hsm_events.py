"""Activation events are typed objects whose ledger payload is the audit format ledgers
already hold: payloads written before the events were typed read back and render the same."""

from __future__ import annotations

from typing import Any

import pytest

from tcr_kit.hsm.events import ActivationEvent, HsmRef, Presented, ShareSetRef
from tcr_kit.hsm.token import EpochRef, SignRecord

HSM = {"name": "HSM-E", "module": "/usr/lib/softhsm/libsofthsm2.so",
       "token_label": "KSK-HSM-E", "token_serial": "8d3f1a2b"}  # fmt: skip
SHARE_SET = {"id": "hsm-e-activation", "epoch": 1, "threshold": 3, "count": 5}
CARD = {"kind": "card", "source": "pkcs11 card 'TCR-4' serial 42", "set_id": "00112233aabbccdd",
        "index": 4, "share_digest": "ab" * 32, "card_serial": "42", "card_label": "TCR-4",
        "tcr_id": "tcr-4", "tcr_name": "Alice", "credential": "card-4",
        "holder": "alice"}  # fmt: skip
FILE = {"kind": "file", "source": "shares/s1.txt", "set_id": "00112233aabbccdd", "index": 1,
        "share_digest": "cd" * 32}  # fmt: skip

# Payloads as the dict-based code stored them (same keys, same order).
STORED: list[tuple[str, dict[str, Any]]] = [
    ("hsm.activate", {"hsm": HSM, "config_sha256": "ef" * 32, "share_set": SHARE_SET,
                      "presented": [CARD, FILE], "outcome": "activated",
                      "at": "2026-11-30T10:00:00Z", "purpose": "sign"}),
    ("hsm.activate", {"hsm": {"name": "HSM-E", "module": "/nonexistent.so"},
                      "config_sha256": "ef" * 32, "share_set": SHARE_SET, "presented": [],
                      "outcome": "refused: no such file", "at": "2026-11-30T10:00:01Z",
                      "purpose": "collect"}),
    ("hsm.deactivate", {"hsm": HSM, "config_sha256": "ef" * 32, "share_set": SHARE_SET,
                        "presented": [CARD, FILE], "outcome": "deactivated",
                        "at": "2026-11-30T10:00:02Z",
                        "operations": [{"key_label": "ksk-demo", "input_sha256": "01" * 32,
                                        "signature_sha256": "02" * 32}]}),
    ("hsm.rekey", {"hsm": HSM, "config_sha256": "ef" * 32, "share_set": SHARE_SET,
                   "presented": [], "outcome": "rekeyed to epoch 2", "at": "2026-11-30T11:00:00Z",
                   "old": {"set_id": "00112233aabbccdd", "epoch": 1},
                   "new": {"set_id": "ffeeddccbbaa9988", "epoch": 2},
                   "new_share_set": "hsm-e-activation-2", "new_share_digests": ["aa" * 32]}),
]  # fmt: skip


def test_stored_payloads_read_back_and_render_key_for_key_the_same() -> None:
    for kind, payload in STORED:
        event = ActivationEvent.from_payload(kind, payload)
        assert event.kind == kind
        assert event.payload() == payload
        assert list(event.payload()) == list(payload)


def test_an_event_names_its_ledger_subjects_and_whether_it_was_refused() -> None:
    event = ActivationEvent.from_payload(*STORED[0])
    assert event.subjects == ["hsm:HSM-E", "share-set:hsm-e-activation", "credential:card-4"]
    assert not event.refused
    assert ActivationEvent.from_payload(*STORED[1]).refused


def test_typed_fields_give_the_documented_payload() -> None:
    event = ActivationEvent(
        kind="hsm.deactivate",
        hsm=HsmRef("HSM-E", "/m.so", token_label="L", token_serial="S"),
        config_sha256="00" * 32,
        share_set=ShareSetRef("set", 2, 2, 3),
        presented=(Presented("file", "s.txt", "aa" * 8, 2, "bb" * 32),),
        outcome="deactivated",
        at="2026-12-01T00:00:00Z",
        operations=(SignRecord("ksk", "01" * 32, "02" * 32),),
    )
    payload = event.payload()
    assert payload["hsm"] == {"name": "HSM-E", "module": "/m.so", "token_label": "L",
                              "token_serial": "S"}  # fmt: skip
    assert payload["share_set"] == {"id": "set", "epoch": 2, "threshold": 2, "count": 3}
    assert payload["presented"] == [{"kind": "file", "source": "s.txt", "set_id": "aa" * 8,
                                     "index": 2, "share_digest": "bb" * 32}]  # fmt: skip
    assert payload["operations"][0]["key_label"] == "ksk"
    assert "purpose" not in payload and "old" not in payload
    assert ActivationEvent.from_payload(*STORED[3]).new == EpochRef("ffeeddccbbaa9988", 2)


def test_a_rekey_records_the_new_sets_threshold_and_count_and_older_ones_read_without() -> None:
    kind, old = STORED[3]
    assert ActivationEvent.from_payload(kind, old).new_threshold is None  # recorded before
    now = {**old, "new_threshold": 1, "new_count": 1}
    event = ActivationEvent.from_payload(kind, now)
    assert (event.new_threshold, event.new_count) == (1, 1)
    assert event.payload() == now and list(event.payload())[-2:] == ["new_threshold", "new_count"]


@pytest.mark.parametrize("bad", ["2", 0, True, 2.0])
def test_a_rekey_threshold_that_is_not_a_positive_integer_is_not_read_back(bad: object) -> None:
    kind, old = STORED[3]
    with pytest.raises(ValueError, match="new_threshold: not a positive integer"):
        ActivationEvent.from_payload(kind, {**old, "new_threshold": bad})
